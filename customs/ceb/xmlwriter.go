// Package ceb renders and parses the customs cross-border e-commerce
// messages of the 202205 standard (namespace http://www.chinaport.gov.cn/ceb)
// and the DXP terminal envelope they travel in.
package ceb

import (
	"bytes"
	"encoding/xml"
)

const (
	NamespaceCEB = "http://www.chinaport.gov.cn/ceb"
	NamespaceDXP = "http://www.chinaport.gov.cn/dxp"
)

// writer emits XML in the exact element order the XSD wants. It is written
// by hand rather than with encoding/xml struct tags because the order and
// the optional elements are the contract, and this keeps both in one place.
type writer struct{ buf bytes.Buffer }

// One element a line: customs ignores the whitespace, and people reading
// a message or a golden file diff do not.
func (w *writer) open(name string)  { w.buf.WriteString("<" + name + ">\n") }
func (w *writer) close(name string) { w.buf.WriteString("</" + name + ">\n") }

// el writes <name>value</name>.
func (w *writer) el(name, value string) {
	w.buf.WriteString("<" + name + ">")
	xml.EscapeText(&w.buf, []byte(value))
	w.buf.WriteString("</" + name + ">\n")
}

// opt writes the element only when it has a value (minOccurs=0).
func (w *writer) opt(name, value string) {
	if value != "" {
		w.el(name, value)
	}
}
