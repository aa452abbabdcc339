package codes

import (
	"io/fs"
	"strings"
	"testing"
)

func TestEveryEmbeddedTableParsesWithoutDuplicates(t *testing.T) {
	names, err := fs.Glob(files, "*.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 6 {
		t.Fatalf("only %d tables embedded: %v", len(names), names)
	}
	for _, name := range names {
		f, err := files.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := parse(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tab.Len() == 0 {
			t.Errorf("%s has no rows", name)
		}
	}
	for name, tab := range map[string]*Table{"Country": Country, "Currency": Currency, "Unit": Unit,
		"TransportMode": TransportMode, "CustomsOffice": CustomsOffice, "WrapType": WrapType} {
		if tab == nil || tab.Len() == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

func TestParseRejectsDuplicatesAndBadRows(t *testing.T) {
	cases := map[string]string{
		"duplicate code":     "code,name,aliases\n142,中国,CN\n142,中国,CHN\n",
		"duplicate alias":    "code,name,aliases\n142,中国,CN\n143,中国台湾,cn\n",
		"alias that is code": "code,name,aliases\n142,中国,143\n143,中国台湾,TW\n",
		"missing name":       "code,name,aliases\n142,,CN\n",
		"wrong header":       "code,aliases,name\n142,CN,中国\n",
		"short row":          "code,name,aliases\n142,中国\n",
	}
	for what, text := range cases {
		if _, err := parse(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed without error", what)
		}
	}
	tab, err := parse(strings.NewReader("# comment\ncode,name,aliases\n# unverified\n142,中国,CN CHN\n"))
	if err != nil {
		t.Fatalf("comment rows: %v", err)
	}
	if tab.Len() != 1 {
		t.Fatalf("comment rows counted as codes: %d codes", tab.Len())
	}
}

func TestISOAliasesMapToCustomsCodes(t *testing.T) {
	cases := []struct {
		table *Table
		in    string
		want  string
	}{
		{Country, "US", "502"}, {Country, "USA", "502"}, {Country, "us", "502"},
		{Country, "CN", "142"}, {Country, "CHN", "142"}, {Country, "GB", "303"},
		{Country, "JP", "116"}, {Country, "KR", "133"}, {Country, "HK", "110"},
		{Country, "TW", "143"}, {Country, "SG", "132"}, {Country, "DE", "304"},
		{Country, "FR", "305"}, {Country, "RU", "344"}, {Country, "CA", "501"}, {Country, "AU", "601"},
		{Country, "502", "502"}, {Country, "701", "701"},
		{Currency, "USD", "502"}, {Currency, "EUR", "300"}, {Currency, "CNY", "142"},
		{Currency, "GBP", "303"}, {Currency, "HKD", "110"}, {Currency, "JPY", "116"}, {Currency, "AUD", "601"},
		{Unit, "KG", "035"},
	}
	for _, c := range cases {
		if got, ok := c.table.Normalize(c.in); !ok || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestUnknownCodesAndAliasesAreNotFound(t *testing.T) {
	for _, v := range []string{"XX", "ZZZ", "", "999", "Atlantis"} {
		if code, ok := Country.Normalize(v); ok {
			t.Errorf("Country.Normalize(%q) = %q, found", v, code)
		}
	}
	if _, ok := Currency.Normalize("XBT"); ok {
		t.Error("XBT is not a currency alias")
	}
	// Known takes customs codes only, never an ISO alias.
	if Country.Known("US") || !Country.Known("502") {
		t.Error("Country.Known must accept 502 and not US")
	}
}

func TestNewTablesHoldTheCodesValidationReliesOn(t *testing.T) {
	for _, c := range []struct {
		table      *Table
		code, name string
	}{
		{TransportMode, "5", "航空运输"}, {TransportMode, "2", "水路运输"}, {TransportMode, "4", "公路运输"},
		{TransportMode, "H", "边境特殊海关作业区"}, {TransportMode, "T", "综合实验区"},
		{WrapType, "2", "纸箱"}, {WrapType, "1", "木箱"},
		{CustomsOffice, "3700", "厦门关区"}, {CustomsOffice, "5300", "深圳海关"},
	} {
		if !c.table.Known(c.code) || c.table.Name(c.code) != c.name {
			t.Errorf("%s: known %v, name %q; want %q", c.code, c.table.Known(c.code), c.table.Name(c.code), c.name)
		}
	}
	// wrapType is one character in the 202205 XSD: no two-digit codes.
	for _, tab := range []*Table{TransportMode, WrapType} {
		for code := range tab.names {
			if len(code) != 1 {
				t.Errorf("code %q is not one character", code)
			}
		}
	}
	for code := range CustomsOffice.names {
		if len(code) != 4 || strings.Trim(code, "0123456789") != "" {
			t.Errorf("customs office %q is not 4 digits", code)
		}
	}
	if TransportMode.Known("A") {
		t.Error("A (全部运输方式) is a query value, not a declaration's transport mode")
	}
}
