package customs

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"
)

// Decimal is an exact decimal as customs wants it: at most 19 digits, at most
// 5 after the point (the XSD's totalDigits=19 fractionDigits=5). It keeps the
// text it was given, so money and weights are never rounded through a float.
// Couriers may send a JSON number or a string; a malformed value decodes
// without error and is reported by validation with its JSON path.
type Decimal struct{ text string }

// MustDecimal is for literals in code and tests.
func MustDecimal(s string) Decimal {
	d := Decimal{text: s}
	if !d.Valid() {
		panic("customs: bad decimal literal " + s)
	}
	return d
}

func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		d.text = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		d.text = strings.TrimSpace(s)
		if d.text == "" {
			d.text = " " // present but empty: invalid, not absent
		}
		return nil
	}
	d.text = string(b)
	return nil
}

func (d Decimal) MarshalJSON() ([]byte, error) {
	if d.text == "" {
		return []byte("null"), nil
	}
	return json.Marshal(d.text)
}

// String is the value as it goes into CEB XML.
func (d Decimal) String() string { return d.text }

// Set reports whether a value was given.
func (d Decimal) Set() bool { return d.text != "" }

// Valid reports whether the value is a non-negative plain decimal within the
// customs limits. Exponents, signs and hex are refused: customs XML wants
// plain digits.
func (d Decimal) Valid() bool {
	s := d.text
	if s == "" {
		return false
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || (hasPoint && frac == "") || len(frac) > 5 {
		return false
	}
	for _, part := range [2]string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return len(strings.TrimLeft(intPart, "0"))+len(frac) <= 19
}

// IsInteger reports whether the value has no fractional part.
func (d Decimal) IsInteger() bool {
	_, frac, _ := strings.Cut(d.text, ".")
	return strings.Trim(frac, "0") == ""
}

// Rat is the exact value; call only on a Valid decimal.
func (d Decimal) Rat() *big.Rat {
	r, ok := new(big.Rat).SetString(d.text)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// DecimalFromRat renders r with at most 5 fractional digits.
func DecimalFromRat(r *big.Rat) Decimal {
	s := strings.TrimRight(r.FloatString(5), "0")
	return Decimal{text: strings.TrimSuffix(s, ".")}
}

// DecimalText is a decimal as written in a spreadsheet cell; like a JSON
// value, a malformed one is kept and reported by validation. An empty cell
// is absent.
func DecimalText(s string) Decimal { return Decimal{text: strings.TrimSpace(s)} }
