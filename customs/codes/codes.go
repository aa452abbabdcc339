// Package codes holds the customs parameter tables (JGS-20 code sets and the
// JGS/T 18 customs office codes) that Clearway needs, as embedded CSV data,
// and maps ISO codes to customs codes. The tables are data, not Go literals,
// so an operator can check them against the official code sets line by line.
package codes

import (
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

//go:embed *.csv
var files embed.FS

// Table is one code set: customs code -> name, and ISO aliases -> customs code.
type Table struct {
	names   map[string]string
	aliases map[string]string
}

var (
	Country  = mustLoad("country.csv")
	Currency = mustLoad("currency.csv")
	Unit     = mustLoad("unit.csv")
	// TransportMode is 运输方式 (CEB603 trafMode).
	TransportMode = mustLoad("transport_mode.csv")
	// CustomsOffice is 关区代码 (CEB603 customsCode, portCode): a subset.
	CustomsOffice = mustLoad("customs_office.csv")
	// WrapType is 包装种类 (CEB603 wrapType).
	WrapType = mustLoad("wrap_type.csv")
)

// mustLoad parses an embedded table; a broken table is a build defect, so it
// stops the program at start-up rather than mis-normalising codes later.
func mustLoad(name string) *Table {
	f, err := files.Open(name)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	t, err := parse(f)
	if err != nil {
		panic(fmt.Sprintf("codes: %s: %v", name, err))
	}
	return t
}

// parse reads a "code,name,aliases" header and rows, aliases separated by
// spaces; lines starting with # are comments. A code or alias given twice,
// or an alias that is also a code, is an error: Normalize would otherwise
// answer by row order.
func parse(r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if strings.Join(header, ",") != "code,name,aliases" {
		return nil, fmt.Errorf("header is %q, want code,name,aliases", strings.Join(header, ","))
	}
	t := &Table{names: map[string]string{}, aliases: map[string]string{}}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		code, name := strings.TrimSpace(row[0]), strings.TrimSpace(row[1])
		if code == "" || name == "" {
			return nil, fmt.Errorf("line %d: code and name are required", line)
		}
		if _, dup := t.names[code]; dup {
			return nil, fmt.Errorf("line %d: code %s given twice", line, code)
		}
		t.names[code] = name
		for _, alias := range strings.Fields(row[2]) {
			alias = strings.ToUpper(alias)
			if prev, dup := t.aliases[alias]; dup {
				return nil, fmt.Errorf("line %d: alias %s given twice (also for %s)", line, alias, prev)
			}
			t.aliases[alias] = code
		}
	}
	for alias := range t.aliases {
		if _, ok := t.names[alias]; ok {
			return nil, fmt.Errorf("alias %s is also a code", alias)
		}
	}
	return t, nil
}

// Normalize returns the customs code for a customs code or an ISO alias
// (US, USA, USD), and whether it is known.
func (t *Table) Normalize(v string) (string, bool) {
	if _, ok := t.names[v]; ok {
		return v, true
	}
	code, ok := t.aliases[strings.ToUpper(v)]
	return code, ok
}

// Known reports whether code is a customs code of the table (not an alias).
func (t *Table) Known(code string) bool {
	_, ok := t.names[code]
	return ok
}

// Name is the Chinese name of a customs code.
func (t *Table) Name(code string) string { return t.names[code] }

// Len is the number of codes in the table.
func (t *Table) Len() int { return len(t.names) }
