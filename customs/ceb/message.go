package ceb

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// field is one child element in an XSD sequence.
type field struct {
	name     string // the CEB name, e.g. logisticsNo
	tag      string // as written: ceb:logisticsNo
	optional bool   // minOccurs=0: omitted when empty
}

// sequence reads an XSD sequence written as its element names in order,
// an optional one (minOccurs=0) marked with a trailing "?". Keeping each
// message's order as one line of data lets a reader hold it against the
// XSD, and lets one piece of code render and parse every message.
func sequence(names string) []field {
	var seq []field
	for _, n := range strings.Fields(names) {
		name, optional := strings.CutSuffix(n, "?")
		seq = append(seq, field{name: name, tag: "ceb:" + name, optional: optional})
	}
	return seq
}

func has(seq []field, name string) bool {
	for _, f := range seq {
		if f.name == name {
			return true
		}
	}
	return false
}

// textFields indexes the string fields of struct type t by the CEB name in
// their key tag ("xml", or "json" for the domain types, whose JSON names
// are the CEB names), the last step of a path such as
// SummaryResultHead>sumNo. Reading and writing a field by its CEB name is
// what lets a sequence drive both directions.
func textFields(t reflect.Type, key string) map[string]int {
	idx := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type != reflect.TypeFor[string]() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get(key), ",")
		name = name[strings.LastIndex(name, ">")+1:]
		if name != "" && name != "-" {
			idx[name] = i
		}
	}
	return idx
}

// text is the string field named name of the struct v points to; nil when
// it has none.
func text(v any, idx map[string]int, name string) *string {
	i, ok := idx[name]
	if !ok {
		return nil
	}
	return reflect.ValueOf(v).Elem().Field(i).Addr().Interface().(*string)
}

// get reads the field named name of the struct v points to; a name it has
// no field for reads as empty.
func get(v any, idx map[string]int, name string) string {
	if p := text(v, idx, name); p != nil {
		return *p
	}
	return ""
}

// valueOf reads the fields of the struct v points to by CEB name.
func valueOf(v any, idx map[string]int) func(string) string {
	return func(name string) string { return get(v, idx, name) }
}

// node is an element as read, before its children are matched to fields
// by name.
type node struct {
	XMLName xml.Name
	Text    string
	Kids    []node
}

// maxDepth bounds how deep readNode goes below a message's repeated
// element; CEB nests two levels (a head and its fields), and a hostile
// file must not recurse without end.
const maxDepth = 8

// readNode reads the element se opens, whole. A token loop: DecodeElement
// into a generic node costs three times as much, and the adapter reads
// every receipt customs sends.
func readNode(d *xml.Decoder, se xml.StartElement, depth int) (node, error) {
	if depth > maxDepth {
		return node{}, fmt.Errorf("elements nested more than %d deep", maxDepth)
	}
	n := node{XMLName: se.Name}
	var text []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return n, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			kid, err := readNode(d, t, depth+1)
			if err != nil {
				return n, err
			}
			n.Kids = append(n.Kids, kid)
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			n.Text = string(text)
			return n, nil
		}
	}
}

func (n *node) child(name string) *node {
	for i := range n.Kids {
		if n.Kids[i].XMLName.Local == name {
			return &n.Kids[i]
		}
	}
	return nil
}

// fill sets the string fields of v from n's children that seq names;
// anything else under n is not the message's and is left out.
func (n *node) fill(v any, idx map[string]int, seq []field) {
	for i := range n.Kids {
		k := &n.Kids[i]
		if !has(seq, k.XMLName.Local) {
			continue
		}
		if p := text(v, idx, k.XMLName.Local); p != nil {
			*p = strings.TrimSpace(k.Text)
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var utf8BOM = []byte("\xef\xbb\xbf")

// elements says, for the root of a message, which element the message
// repeats (Logistics, ArrivalReturn...) and the XSD's maxOccurs of it.
type elements func(root string) (elem string, max int, err error)

// only is the rule of a parser that reads one message.
func only(root, elem string, max int) elements {
	return func(got string) (string, int, error) {
		if got != root {
			return "", 0, fmt.Errorf("expected %s, got %s", root, got)
		}
		return elem, max, nil
	}
}

// read streams a CEB message from outside and hands each repeated element
// to fn as read, with its bytes as received; the rest
// (BaseTransfer, a signature) is skipped. A message without one is an
// error, as the XSD wants at least one.
//
// It refuses what no CEB message holds: a DTD (so no entity is ever
// defined, let alone expanded), a charset other than UTF-8, text or a
// second element outside the root, more than MaxMessageBytes. A leading
// UTF-8 byte-order mark is accepted: the official samples have one.
func read(b []byte, rule elements, fn func(el *node, raw []byte) error) (root, guid string, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("ceb: %s: %w", cmp.Or(root, "message"), err)
		}
	}()
	if len(b) > MaxMessageBytes {
		return "", "", fmt.Errorf("%d bytes exceed the %d a message may have", len(b), MaxMessageBytes)
	}
	b = bytes.TrimPrefix(b, utf8BOM)
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = refuseCharset
	var (
		elem   string
		max, n int
		ended  bool
	)
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			switch {
			case !ended:
				return root, guid, errors.New("no root element")
			case n == 0:
				return root, guid, fmt.Errorf("no %s", elem)
			}
			return root, guid, nil
		}
		if err != nil {
			return root, guid, err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return root, guid, errors.New("a DTD or other directive is not allowed in a CEB message")
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return root, guid, fmt.Errorf("stray text at byte %d", start)
			}
		case xml.EndElement:
			ended = true // each child was consumed whole: this ends the root
		case xml.StartElement:
			switch {
			case ended:
				return root, guid, fmt.Errorf("a second root element %s", t.Name.Local)
			case root == "":
				root, guid = t.Name.Local, attr(t, "guid")
				if elem, max, err = rule(root); err != nil {
					return root, guid, err
				}
			case t.Name.Local != elem:
				if err := d.Skip(); err != nil {
					return root, guid, err
				}
			default:
				if n++; n > max {
					return root, guid, fmt.Errorf("more than %d %s", max, elem)
				}
				el, err := readNode(d, t, 0)
				if err != nil {
					return root, guid, fmt.Errorf("%s %d: %w", elem, n, err)
				}
				if err := fn(&el, bytes.TrimSpace(b[start:d.InputOffset()])); err != nil {
					return root, guid, fmt.Errorf("%s %d: %w", elem, n, err)
				}
			}
		}
	}
}
