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

// begin writes the XML declaration and opens a CEB message's root.
func (w *writer) begin(root, guid string) {
	w.buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.buf.WriteString(`<ceb:` + root + ` guid="`)
	xml.EscapeText(&w.buf, []byte(guid))
	w.buf.WriteString(`" version="1.0" xmlns:ceb="` + NamespaceCEB + `">` + "\n")
}

// end closes the root and hands back the message.
func (w *writer) end(root string) []byte {
	w.buf.WriteString("</ceb:" + root + ">\n")
	return w.buf.Bytes()
}

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

// fields writes the children of a flat element in the XSD's order: a
// required element always, empty if need be (the XSD wants it present), an
// optional one only when it has a value.
func (w *writer) fields(seq []field, value func(name string) string) {
	for _, f := range seq {
		if f.optional {
			w.opt(f.tag, value(f.name))
		} else {
			w.el(f.tag, value(f.name))
		}
	}
}

// group writes <ceb:name>, its fields, and </ceb:name>.
func (w *writer) group(name string, seq []field, value func(name string) string) {
	w.open("ceb:" + name)
	w.fields(seq, value)
	w.close("ceb:" + name)
}
