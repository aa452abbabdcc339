package customs

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/clearway/clearway/customs/errs"
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
		{"tradeMode one of 9610 1210 9710 9810", func(p *Parcel) { p.TradeMode = "0110" }, "parcels[0].tradeMode", CodeTradeMode},
		{"tradeMode required", func(p *Parcel) { p.TradeMode = "" }, "parcels[0].tradeMode", CodeRequired},
		{"wrapType required", func(p *Parcel) { p.WrapType = "" }, "parcels[0].wrapType", CodeRequired},
		{"wrapType one character", func(p *Parcel) { p.WrapType = "22" }, "parcels[0].wrapType", CodeLength},
		{"wrapType a known wrap type", func(p *Parcel) { p.WrapType = "9" }, "parcels[0].wrapType", CodeUnknownCode},
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

// declareWith declares parcel i of the example manifest after change.
func declareWith(t *testing.T, i int, change func(m *Manifest, p *Parcel)) (Declaration, []errs.FieldError) {
	t.Helper()
	m := loadExample(t)
	change(&m, &m.Parcels[i])
	return Declare(&m, i, "t", "20261128", Rules{})
}

func hasError(fe []errs.FieldError, path, code string) bool {
	for _, e := range fe {
		if e.Path == path && e.Code == code && e.Message != "" {
			return true
		}
	}
	return false
}

// asB2B turns the example's retail parcel into a B2B one of mode (9710, 9810).
func asB2B(mode string) func(m *Manifest, p *Parcel) {
	return func(m *Manifest, p *Parcel) { p.TradeMode, p.StatisticsFlag = mode, "B" }
}

func TestEachTradeModeDeclaresAValidParcel(t *testing.T) {
	cases := []struct {
		mode   string
		parcel int
		change func(m *Manifest, p *Parcel)
	}{
		{"9610", 0, func(m *Manifest, p *Parcel) {}},
		{"1210", 1, func(m *Manifest, p *Parcel) {}},
		{"9710", 0, asB2B("9710")},
		{"9810", 0, func(m *Manifest, p *Parcel) {
			asB2B("9810")(m, p)
			// 9810: ebpName/orderNo carry the overseas warehouse and its booking (订仓单) number.
			p.EbpName, p.OrderNo = "洛杉矶海外仓", "OW-LAX-20261128-01"
		}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			d, fe := declareWith(t, c.parcel, c.change)
			if fe != nil {
				t.Fatalf("valid %s parcel rejected: %v", c.mode, fe)
			}
			if d.Head.TradeMode != c.mode {
				t.Fatalf("tradeMode %q, want %s", d.Head.TradeMode, c.mode)
			}
		})
	}
}

func TestTradeModeRules(t *testing.T) {
	cases := []struct {
		name   string
		parcel int
		change func(m *Manifest, p *Parcel)
		path   string
		code   string
	}{
		{"9610 takes flag A and a 4-digit heading", 0, func(m *Manifest, p *Parcel) { p.Items[0].Gcode = "6404" }, "", ""},
		{"9610 needs 10 digits with flag B", 0, func(m *Manifest, p *Parcel) { p.StatisticsFlag = "B"; p.Items[0].Gcode = "6404" },
			"parcels[0].items[0].gcode", CodeLength},
		{"1210 needs iacCode", 1, func(m *Manifest, p *Parcel) { p.IacCode = "" }, "parcels[1].iacCode", CodeRequired},
		{"1210 needs iacName", 1, func(m *Manifest, p *Parcel) { p.IacName = "" }, "parcels[1].iacName", CodeRequired},
		{"1210 needs emsNo", 1, func(m *Manifest, p *Parcel) { p.EmsNo = "" }, "parcels[1].emsNo", CodeRequired},
		{"1210 needs itemRecordNo", 1, func(m *Manifest, p *Parcel) { p.Items[0].ItemRecordNo = "" }, "parcels[1].items[0].itemRecordNo", CodeRequired},
		{"1210 keeps iacCode's format", 1, func(m *Manifest, p *Parcel) { p.IacCode = "BOND" }, "parcels[1].iacCode", CodeFormat},
		{"9710 takes no flag A", 0, func(m *Manifest, p *Parcel) { p.TradeMode = "9710" }, "parcels[0].statisticsFlag", CodeFormat},
		{"9810 takes no flag A", 0, func(m *Manifest, p *Parcel) { p.TradeMode = "9810" }, "parcels[0].statisticsFlag", CodeFormat},
		{"9710 gets no 4-digit heading even with flag A", 0, func(m *Manifest, p *Parcel) { p.TradeMode = "9710"; p.Items[0].Gcode = "6404" },
			"parcels[0].items[0].gcode", CodeLength},
		{"9810 needs a 10-digit gcode", 0, func(m *Manifest, p *Parcel) { asB2B("9810")(m, p); p.Items[0].Gcode = "6404" },
			"parcels[0].items[0].gcode", CodeLength},
		{"9710 still checks statisticsFlag", 0, func(m *Manifest, p *Parcel) { asB2B("9710")(m, p); p.StatisticsFlag = "C" },
			"parcels[0].statisticsFlag", CodeFormat},
		{"9710 needs no iacCode, emsNo or itemRecordNo", 0, asB2B("9710"), "", ""},
		{"9810 checks emsNo's length when given", 0, func(m *Manifest, p *Parcel) { asB2B("9810")(m, p); p.EmsNo = strings.Repeat("T", 31) },
			"parcels[0].emsNo", CodeTooLong},
		{"9810 checks iacCode's format when given", 0, func(m *Manifest, p *Parcel) { asB2B("9810")(m, p); p.IacCode = "BOND" },
			"parcels[0].iacCode", CodeFormat},
		{"9810 orderNo (订仓单) ≤ 60", 0, func(m *Manifest, p *Parcel) { asB2B("9810")(m, p); p.OrderNo = strings.Repeat("o", 61) },
			"parcels[0].orderNo", CodeTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, fe := declareWith(t, c.parcel, c.change)
			if c.path == "" {
				if fe != nil {
					t.Fatalf("want no errors, got %v", fe)
				}
				return
			}
			if !hasError(fe, c.path, c.code) {
				t.Fatalf("want %s %s, got %v", c.path, c.code, fe)
			}
		})
	}
}

func TestTransportModeAndWrapTypeComeFromTheCodeTables(t *testing.T) {
	cases := []struct {
		name   string
		change func(m *Manifest, p *Parcel)
		path   string
		code   string
	}{
		{"air", func(m *Manifest, p *Parcel) { m.Transport.TrafMode = "5" }, "", ""},
		{"road", func(m *Manifest, p *Parcel) { m.Transport.TrafMode = "4" }, "", ""},
		{"a letter code", func(m *Manifest, p *Parcel) { m.Transport.TrafMode = "H" }, "", ""},
		{"no transport: air by default", func(m *Manifest, p *Parcel) { m.Transport = nil }, "", ""},
		{"unknown transport mode", func(m *Manifest, p *Parcel) { m.Transport.TrafMode = "A" }, "parcels[0].transport.trafMode", CodeUnknownCode},
		{"transport mode one character", func(m *Manifest, p *Parcel) { m.Transport.TrafMode = "55" }, "parcels[0].transport.trafMode", CodeLength},
		{"wrap type wooden case", func(m *Manifest, p *Parcel) { p.WrapType = "1" }, "", ""},
		{"unknown wrap type", func(m *Manifest, p *Parcel) { p.WrapType = "X" }, "parcels[0].wrapType", CodeUnknownCode},
		// The customs office table is a subset: any 4 digits stay accepted.
		{"office not in the table", func(m *Manifest, p *Parcel) { p.CustomsCode, p.PortCode = "3799", "9998" }, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, fe := declareWith(t, 0, c.change)
			if c.path == "" {
				if fe != nil {
					t.Fatalf("want no errors, got %v", fe)
				}
				return
			}
			if !hasError(fe, c.path, c.code) {
				t.Fatalf("want %s %s, got %v", c.path, c.code, fe)
			}
		})
	}
}

func TestManifestTransportModeMustBeKnown(t *testing.T) {
	for mode, want := range map[string]string{"5": "", "Y": "", "A": CodeUnknownCode, "55": CodeLength} {
		m := loadExample(t)
		m.Transport.TrafMode = mode
		fe := CheckManifest(&m)
		switch {
		case want == "" && fe != nil:
			t.Errorf("trafMode %q: %v", mode, fe)
		case want != "" && !hasError(fe, "transport.trafMode", want):
			t.Errorf("trafMode %q: want %s, got %v", mode, want, fe)
		}
	}
}
