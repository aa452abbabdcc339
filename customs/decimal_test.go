package customs

import (
	"encoding/json"
	"testing"
)

func TestDecimalAcceptsOnlyPlainCustomsDecimals(t *testing.T) {
	cases := []struct {
		json  string
		valid bool
		text  string
	}{
		{`1`, true, "1"},
		{`"79.80"`, true, "79.80"},
		{`0.00001`, true, "0.00001"},
		{`"99999999999999.99999"`, true, "99999999999999.99999"}, // 19 digits
		{`"999999999999999.99999"`, false, ""},                   // 20 digits
		{`"1.123456"`, false, ""},                                // 6 after the point
		{`1e3`, false, ""},                                       // exponent
		{`-1`, false, ""},
		{`"1."`, false, ""},
		{`".5"`, false, ""},
		{`"  12.5 "`, true, "12.5"},
		{`""`, false, ""},
		{`"0x10"`, false, ""},
	}
	for _, c := range cases {
		var d Decimal
		if err := json.Unmarshal([]byte(c.json), &d); err != nil {
			t.Fatalf("%s: decode must not fail (validation reports it): %v", c.json, err)
		}
		if d.Valid() != c.valid {
			t.Errorf("%s: Valid() = %v, want %v", c.json, d.Valid(), c.valid)
		}
		if c.valid && d.String() != c.text {
			t.Errorf("%s: text %q, want %q", c.json, d.String(), c.text)
		}
	}
}

func TestDecimalIsExactWhereFloatsAreNot(t *testing.T) {
	// 0.1 + 0.2 style errors must not reach a customs total.
	a, b := MustDecimal("0.1"), MustDecimal("0.2")
	sum := DecimalFromRat(a.Rat().Add(a.Rat(), b.Rat()))
	if sum.String() != "0.3" {
		t.Fatalf("0.1 + 0.2 = %s", sum)
	}
	var absent Decimal
	if err := json.Unmarshal([]byte(`null`), &absent); err != nil || absent.Set() {
		t.Fatalf("null must decode as absent")
	}
}
