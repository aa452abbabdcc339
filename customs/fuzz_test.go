package customs

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"unicode/utf8"
)

// FuzzDeclare feeds arbitrary bodies through the manifest decoder (strict,
// as the gateway decodes) and the 202205 rules: nothing may panic, and
// whatever is declared must be within the customs limits.
func FuzzDeclare(f *testing.F) {
	example, err := os.ReadFile("../schemas/examples/manifest.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add(bytes.ReplaceAll(example, []byte(`"6404110000"`), []byte(`"6404"`)))
	f.Add(bytes.ReplaceAll(example, []byte(`"79.80"`), []byte(`1e2`)))
	f.Add([]byte(`{"manifestNo":"M","parcels":[{"items":[{"qty":"0.000001"}]}]}`))
	f.Add([]byte(`{"manifestNo":"M","parcels":[{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var m Manifest
		if dec.Decode(&m) != nil || len(CheckManifest(&m)) > 0 {
			return
		}
		for i := range min(len(m.Parcels), 20) {
			d, errs := Declare(&m, i, "T", "20261128", Rules{RealName: i%2 == 0})
			if errs != nil {
				for _, e := range errs {
					if e.Path == "" || e.Code == "" || e.Message == "" {
						t.Fatalf("incomplete field error %+v", e)
					}
				}
				continue
			}
			h := d.Head
			for _, v := range []Decimal{h.Freight, h.InsuredFee, h.GrossWeight, h.NetWeight} {
				if !v.Valid() {
					t.Fatalf("declared an invalid decimal %q", v)
				}
			}
			if utf8.RuneCountInString(h.CopNo) > 30 || len(h.Country) != 3 || len(h.CustomsCode) != 4 || d.ID != DeclarationID(h.AgentCode, h.CopNo) {
				t.Fatalf("declared head out of limits: %+v", h)
			}
			for j, l := range d.Items {
				if l.Gnum != j+1 || len(l.Gcode) != 10 || !l.TotalPrice.Valid() {
					t.Fatalf("declared line out of limits: %+v", l)
				}
			}
		}
	})
}
