// Package codes holds the customs parameter tables (JGS-20 code sets) that
// Clearway needs, as embedded CSV data, and maps ISO codes to customs codes.
// The tables are data, not Go literals, so an operator can check them
// against the official code sets line by line.
package codes

import (
	"embed"
	"encoding/csv"
	"fmt"
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
	Country  = load("country.csv")
	Currency = load("currency.csv")
	Unit     = load("unit.csv")
)

// load reads "code,name,aliases" rows, aliases separated by spaces.
func load(name string) *Table {
	f, err := files.Open(name)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		panic(fmt.Sprintf("codes: %s: %v", name, err))
	}
	t := &Table{names: map[string]string{}, aliases: map[string]string{}}
	for _, row := range rows[1:] {
		code := row[0]
		t.names[code] = row[1]
		for _, alias := range strings.Fields(row[2]) {
			t.aliases[strings.ToUpper(alias)] = code
		}
	}
	return t
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

// Name is the Chinese name of a customs code.
func (t *Table) Name(code string) string { return t.names[code] }
