package ceb

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	xsdDir     = "../../schemas/ceb"
	exportXSD  = xsdDir + "/ceb-export-202205.xsd"
	dxpXSD     = xsdDir + "/dxp-terminal-202205.xsd"
	goldenGUID = "8F3B1C2E-0A1B-4C5D-8E9F-0123456789AB"
)

var (
	fixedTime = time.Date(2026, 11, 28, 10, 30, 0, 0, ChinaTime)
	sender    = Sender{CopCode: "3502980XYZ", CopName: "泉州顺达报关有限公司", DxpID: "DXPENT0000012345"}
)

func exampleDeclarations(t *testing.T) []*customs.Declaration {
	t.Helper()
	b, err := os.ReadFile("../../schemas/examples/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m customs.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var ds []*customs.Declaration
	for i := range m.Parcels {
		d, errs := customs.Declare(&m, i, "3502680EMS", "20261128", customs.Rules{})
		if errs != nil {
			t.Fatal(errs)
		}
		ds = append(ds, &d)
	}
	return ds
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file; if the change is intended, run go test ./customs/ceb -update\ngot:\n%s", name, got)
	}
}

// xsdValid validates files with xmllint. CI installs it and sets CI=true
// and CLEARWAY_REQUIRE_REAL=1; a laptop without it skips the check.
func xsdValid(t *testing.T, xsd string, files ...string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("CLEARWAY_REQUIRE_REAL") == "1" || os.Getenv("CI") == "true" {
			t.Fatal("xmllint is required (apt-get install libxml2-utils)")
		}
		t.Skip("xmllint not installed")
	}
	args := append([]string{"--noout", "--schema", xsd}, files...)
	if out, err := exec.Command("xmllint", args...).CombinedOutput(); err != nil {
		t.Fatalf("not valid against %s: %v\n%s", filepath.Base(xsd), err, out)
	}
}

func TestCEB603MatchesGoldenAndTheOfficialXSD(t *testing.T) {
	xml := RenderCEB603(goldenGUID, exampleDeclarations(t), sender, fixedTime)
	golden(t, "CEB603Message.xml", xml)
	for _, want := range []string{
		"<ceb:guid>" + strings.ToUpper(customs.DeclarationID("3502980XYZ", "QZX100000000001")) + "</ceb:guid>",
		"<ceb:appTime>20261128103000</ceb:appTime>",
		"<ceb:emsNo>T3717W000123</ceb:emsNo>",                    // 1210 head
		"<ceb:itemRecordNo>T3717W000123-0007</ceb:itemRecordNo>", // 1210 list
		"<ceb:barCode>无</ceb:barCode>",                           // no bar code given
	} {
		if !bytes.Contains(xml, []byte(want)) {
			t.Errorf("CEB603 lacks %s", want)
		}
	}
	xsdValid(t, exportXSD, filepath.Join("testdata", "golden", "CEB603Message.xml"))
}

func TestEnvelopeMatchesGoldenTheXSDAndRoundTrips(t *testing.T) {
	data := RenderCEB603(goldenGUID, exampleDeclarations(t), sender, fixedTime)
	env := Envelope{CopMsgID: goldenGUID, SenderID: sender.DxpID, ReceiverID: DefaultReceiverID, CreatTime: fixedTime, MsgType: "CEB603Message", Data: data}
	encoded := env.Encode()
	golden(t, "DxpMsg-CEB603.xml", encoded)
	xsdValid(t, dxpXSD, filepath.Join("testdata", "golden", "DxpMsg-CEB603.xml"))

	back, err := DecodeEnvelope(encoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Data, data) || back.MsgType != "CEB603Message" || back.CopMsgID != goldenGUID || !back.CreatTime.Equal(fixedTime) {
		t.Fatalf("round trip lost something: %+v", back)
	}
	guid, invs, err := ParseCEB603(back.Data)
	if err != nil || guid != goldenGUID || len(invs) != 2 || invs[1].Head.TradeMode != "1210" || invs[0].Lists[0].Gcode != "6404110000" {
		t.Fatalf("customs side reads %s %+v %v", guid, invs, err)
	}
}

func TestOfficialSampleReceiptParses(t *testing.T) {
	b, err := os.ReadFile("testdata/samples/CEB604Message.xml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseCEB604(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 10 {
		t.Fatalf("%d receipts, want the sample's 10", len(rs))
	}
	r := rs[0]
	if r.CopNo != "Cop20180507001" || r.AgentCode != "1105910159" || r.InvtNo != "Invt20180507000001" || r.ReturnStatus != "2" ||
		!strings.HasPrefix(r.ReturnInfo, "新增申报成功") {
		t.Fatalf("first receipt: %+v", r)
	}
	if got := r.Time(); !got.Equal(time.Date(2018, 5, 7, 15, 30, 1, 1e6, ChinaTime)) {
		t.Errorf("returnTime parsed as %v", got)
	}
	if !bytes.HasPrefix(r.Raw, []byte("<ceb:InventoryReturn>")) || !bytes.HasSuffix(r.Raw, []byte("</ceb:InventoryReturn>")) {
		t.Errorf("raw receipt is not the element as received: %q", r.Raw)
	}
}

func TestRenderedReceiptParsesBack(t *testing.T) {
	in := []InventoryReturn{{GUID: goldenGUID, AgentCode: "3502980XYZ", CopNo: "C1", PreNo: "P20261128000000001", InvtNo: "37172026E000000001",
		EbcCode: "3502960ABC", EbpCode: "3502960ABC", OrderNo: "SO1", StatisticsFlag: "A", ReturnStatus: "100", ReturnTime: "20261128103000123", ReturnInfo: "退单 <原因> & more"}}
	out, err := ParseCEB604(RenderCEB604("G", in))
	if err != nil || len(out) != 1 {
		t.Fatal(err)
	}
	out[0].Raw = nil
	if !reflect.DeepEqual(out[0], in[0]) {
		t.Fatalf("got %+v, want %+v", out[0], in[0])
	}
}

func TestHostileXMLIsRefused(t *testing.T) {
	docs := map[string]string{
		"external entity (XXE)": `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` +
			`<ceb:CEB604Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:InventoryReturn><ceb:copNo>&x;</ceb:copNo><ceb:returnStatus>2</ceb:returnStatus></ceb:InventoryReturn></ceb:CEB604Message>`,
		"entity expansion": `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>` +
			`<ceb:CEB604Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:InventoryReturn><ceb:copNo>&b;</ceb:copNo><ceb:returnStatus>2</ceb:returnStatus></ceb:InventoryReturn></ceb:CEB604Message>`,
		"not UTF-8":     `<?xml version="1.0" encoding="GBK"?><ceb:CEB604Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"/>`,
		"wrong message": `<ceb:CEB603Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"/>`,
		"truncated":     `<ceb:CEB604Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:InventoryReturn>`,
	}
	for name, doc := range docs {
		if rs, err := ParseCEB604([]byte(doc)); err == nil {
			t.Errorf("%s: parsed %+v, want an error", name, rs)
		}
	}
	if _, err := DecodeEnvelope([]byte(`<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><dxp:DxpMsg xmlns:dxp="http://www.chinaport.gov.cn/dxp"><dxp:Data>&x;</dxp:Data></dxp:DxpMsg>`)); err == nil {
		t.Error("envelope with an external entity must not decode")
	}
}
