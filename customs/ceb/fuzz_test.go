package ceb

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func seeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzParseCEB604 feeds arbitrary documents to the receipt parser, which
// reads what customs (or anyone on the exchange) sends.
func FuzzParseCEB604(f *testing.F) {
	seeds(f, "testdata/samples/CEB604Message.xml")
	f.Add(RenderCEB604("G", []InventoryReturn{{CopNo: "C", ReturnStatus: "-621004", ReturnInfo: "<&>"}}))
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY a "x">]><CEB604Message><InventoryReturn><copNo>&a;</copNo></InventoryReturn></CEB604Message>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		rs, err := ParseCEB604(doc)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.CopNo == "" || r.ReturnStatus == "" || !bytes.Contains(doc, r.Raw) {
				t.Fatalf("parsed an incomplete receipt %+v", r)
			}
			r.Time() // must not panic on any returnTime
		}
	})
}

// FuzzDecodeEnvelope feeds arbitrary documents to the envelope decoder;
// what it decodes must encode and decode to the same payload.
func FuzzDecodeEnvelope(f *testing.F) {
	seeds(f, "testdata/golden/DxpMsg-*.xml")
	f.Add([]byte(`<DxpMsg><TransInfo><CopMsgId>1</CopMsgId></TransInfo><Data>!!!</Data></DxpMsg>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		e, err := DecodeEnvelope(doc)
		if err != nil {
			return
		}
		if e.CreatTime.IsZero() {
			e.CreatTime = time.Unix(0, 0)
		}
		back, err := DecodeEnvelope(e.Encode())
		if err != nil {
			t.Fatalf("an envelope we encode does not decode: %v", err)
		}
		if !bytes.Equal(back.Data, e.Data) || back.MsgType != e.MsgType {
			t.Fatalf("round trip changed the envelope")
		}
	})
}
