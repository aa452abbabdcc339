package customs

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func loadExample(t *testing.T) Manifest {
	t.Helper()
	b, err := os.ReadFile("../schemas/examples/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExampleManifestDeclaresWithDefaultsAndCodesMapped(t *testing.T) {
	m := loadExample(t)
	d, errs := Declare(&m, 0, "3502680EMS", "20261128", Rules{})
	if errs != nil {
		t.Fatalf("example parcel 0 invalid: %v", errs)
	}
	h := d.Head
	checks := map[string][2]string{
		"copNo defaults to logisticsNo": {h.CopNo, "QZX100000000001"},
		"country ISO US → 502":          {h.Country, "502"},
		"fCurrency CNY → 142":           {h.FCurrency, "142"},
		"iCurrency defaults to 142":     {h.ICurrency, "142"},
		"ieDate defaults to today":      {h.IeDate, "20261128"},
		"customsCode from manifest":     {h.CustomsCode, "3717"},
		"voyageNo from transport":       {h.VoyageNo, "CZ8471"},
		"item country USA → 502":        {d.Items[0].Country, "502"},
		"item currency USD → 502":       {d.Items[0].Currency, "502"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: got %q, want %q", what, c[0], c[1])
		}
	}
	if d.Items[0].Gnum != 1 {
		t.Errorf("gnum = %d, want 1", d.Items[0].Gnum)
	}
	if d.ID != DeclarationID("3502980XYZ", "QZX100000000001") || d.ManifestID != ManifestID("3502680EMS", "QZ-20261128-0001") {
		t.Errorf("ids not derived from agentCode/copNo and tenant/manifestNo")
	}
	if d2, _ := Declare(&m, 0, "3502680EMS", "20261128", Rules{}); d2.ID != d.ID {
		t.Error("the same parcel must get the same declaration id")
	}
}

func TestParcelRules(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *Parcel)
		path   string
		code   string
	}{
		{"logisticsNo required", func(p *Parcel) { p.LogisticsNo = "" }, "parcels[0].logisticsNo", CodeRequired},
		{"logisticsNo ≤ 32", func(p *Parcel) { p.LogisticsNo = strings.Repeat("9", 33) }, "parcels[0].logisticsNo", CodeTooLong},
		{"long logisticsNo needs a copNo", func(p *Parcel) { p.LogisticsNo = strings.Repeat("9", 31) }, "parcels[0].copNo", CodeRequired},
		{"orderNo ≤ 60", func(p *Parcel) { p.OrderNo = strings.Repeat("o", 61) }, "parcels[0].orderNo", CodeTooLong},
		{"tradeMode 9610 or 1210", func(p *Parcel) { p.TradeMode = "0110" }, "parcels[0].tradeMode", CodeTradeMode},
		{"statisticsFlag A or B", func(p *Parcel) { p.StatisticsFlag = "C" }, "parcels[0].statisticsFlag", CodeFormat},
		{"company code 10 or 18", func(p *Parcel) { p.EbcCode = "12345" }, "parcels[0].ebcCode", CodeFormat},
		{"agentName required", func(p *Parcel) { p.AgentName = "" }, "parcels[0].agentName", CodeRequired},
		{"names counted in characters", func(p *Parcel) { p.EbcName = strings.Repeat("晋", 101) }, "parcels[0].ebcName", CodeTooLong},
		{"unknown country", func(p *Parcel) { p.Country = "Atlantis" }, "parcels[0].country", CodeUnknownCode},
		{"pod 3-4", func(p *Parcel) { p.Pod = "12" }, "parcels[0].pod", CodeFormat},
		{"grossWeight decimal", func(p *Parcel) { p.GrossWeight = Decimal{text: "1,25"} }, "parcels[0].grossWeight", CodeDecimal},
		{"net ≤ gross", func(p *Parcel) { p.NetWeight = MustDecimal("9") }, "parcels[0].netWeight", CodeWeight},
		{"packNo whole", func(p *Parcel) { p.PackNo = MustDecimal("1.5") }, "parcels[0].packNo", CodeFormat},
		{"items required", func(p *Parcel) { p.Items = nil }, "parcels[0].items", CodeRequired},
		{"gcode 10 digits", func(p *Parcel) { p.Items[0].Gcode = "64041100" }, "parcels[0].items[0].gcode", CodeLength},
		{"gcode 4 digits only with flag A", func(p *Parcel) { p.StatisticsFlag = "B"; p.Items[0].Gcode = "6404" }, "parcels[0].items[0].gcode", CodeLength},
		{"totalPrice = qty × price", func(p *Parcel) { p.Items[0].TotalPrice = MustDecimal("79.82") }, "parcels[0].items[0].totalPrice", CodeTotalMismatch},
		{"qty > 0", func(p *Parcel) { p.Items[0].Qty = MustDecimal("0") }, "parcels[0].items[0].qty", CodeDecimal},
		{"unit2 with qty2", func(p *Parcel) { p.Items[0].Qty2 = MustDecimal("1") }, "parcels[0].items[0].unit2", CodeRequired},
		{"gname ≤ 250", func(p *Parcel) { p.Items[0].Gname = strings.Repeat("g", 251) }, "parcels[0].items[0].gname", CodeTooLong},
		{"1210 needs iacCode", func(p *Parcel) { p.TradeMode = "1210"; p.EmsNo = "T1"; p.IacName = "x"; p.Items[0].ItemRecordNo = "R" }, "parcels[0].iacCode", CodeRequired},
		{"1210 needs emsNo", func(p *Parcel) {
			p.TradeMode = "1210"
			p.IacCode = "350296BOND"
			p.IacName = "x"
			p.Items[0].ItemRecordNo = "R"
		}, "parcels[0].emsNo", CodeRequired},
		{"1210 needs itemRecordNo", func(p *Parcel) { p.TradeMode = "1210"; p.IacCode = "350296BOND"; p.IacName = "x"; p.EmsNo = "T1" }, "parcels[0].items[0].itemRecordNo", CodeRequired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := loadExample(t)
			c.change(&m.Parcels[0])
			_, errs := Declare(&m, 0, "t", "20261128", Rules{})
			for _, e := range errs {
				if e.Path == c.path && e.Code == c.code && e.Message != "" {
					return
				}
			}
			t.Fatalf("want %s %s, got %v", c.path, c.code, errs)
		})
	}
}

func TestTotalPriceToleratesOneFen(t *testing.T) {
	m := loadExample(t)
	m.Parcels[0].Items[0].TotalPrice = MustDecimal("79.81") // 2 × 39.90 = 79.80
	if _, errs := Declare(&m, 0, "t", "20261128", Rules{}); errs != nil {
		t.Fatalf("0.01 difference must pass: %v", errs)
	}
}

func TestFlagAPadsFourDigitHeading(t *testing.T) {
	m := loadExample(t)
	m.Parcels[0].Items[0].Gcode = "6404"
	d, errs := Declare(&m, 0, "t", "20261128", Rules{})
	if errs != nil || d.Items[0].Gcode != "6404000000" {
		t.Fatalf("gcode %q errs %v, want 6404000000", d.Items[0].Gcode, errs)
	}
}

func TestManifestFields(t *testing.T) {
	m := loadExample(t)
	m.ManifestNo, m.IeDate, m.CustomsCode = "", "2026-11-28", "37"
	paths := map[string]bool{}
	for _, e := range CheckManifest(&m) {
		paths[e.Path] = true
	}
	for _, p := range []string{"manifestNo", "ieDate", "customsCode"} {
		if !paths[p] {
			t.Errorf("no error for %s", p)
		}
	}
}
