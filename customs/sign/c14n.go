package sign

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file holds the XML a signature is computed over: a parser that
// refuses what a signed customs message must not contain, and Canonical
// XML 1.0 (inclusive, without comments), the one canonicalization the CEB
// spec allows (§6.2.1.1).
//
// It is written here rather than taken from goxmldsig because goxmldsig's
// inclusive canonicalizer orders prefixed attributes by local name instead
// of by namespace URI, and lets an ancestor's namespace declaration overwrite
// the element's own; either breaks verification of messages Clearway did not
// write. The tests compare the output with libxml2's (xmllint --c14n).

const (
	// MaxMessageBytes is the largest message Sign and Verify accept, the
	// limit on every CEB message Clearway reads.
	MaxMessageBytes = 16 << 20
	// maxDepth bounds nesting (a CEB message nests 5 deep) so that hostile
	// input cannot make canonicalization recurse without end.
	maxDepth = 256

	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// element is one element of a parsed message, its names as written and
// their namespaces resolved.
type element struct {
	prefix, local string
	space         string // namespace URI
	attrs         []attr // as written, namespace declarations included
	children      []any  // *element, charData or procInst
	parent        *element
}

type attr struct {
	prefix, local, value string
	space                string // namespace URI: "" unprefixed, nsXMLNS for a declaration
}

func (a attr) isDecl() bool { return a.space == nsXMLNS }

// declared is the prefix a declaration binds, "" for the default namespace.
func (a attr) declared() string {
	if a.prefix == "" {
		return ""
	}
	return a.local
}

type charData string

type procInst struct{ target, inst string }

// document is a parsed message. Comments are dropped when parsing: the
// canonical form leaves them out.
type document struct {
	before, after []procInst // processing instructions around the root
	root          *element
	// rootEnd is the offset of the root's end tag, where Sign inserts the
	// signature.
	rootEnd int
}

// scope maps prefixes to namespaces ("" is the default namespace) and can
// undo what an element declared, so that resolving names costs the same
// whatever the nesting or the number of declarations.
type scope struct {
	ns   map[string]string
	undo []undo
}

type undo struct {
	prefix, was string
	had         bool
}

func newScope() *scope { return &scope{ns: map[string]string{"xml": nsXML}} }

// declare binds prefix and returns the previous binding.
func (s *scope) declare(prefix, uri string) (was string, had bool) {
	was, had = s.ns[prefix]
	s.undo = append(s.undo, undo{prefix, was, had})
	s.ns[prefix] = uri
	return was, had
}

// restore undoes the declarations made since mark = len(s.undo).
func (s *scope) restore(mark int) {
	for i := len(s.undo) - 1; i >= mark; i-- {
		u := s.undo[i]
		if u.had {
			s.ns[u.prefix] = u.was
		} else {
			delete(s.ns, u.prefix)
		}
	}
	s.undo = s.undo[:mark]
}

// parse reads a complete message. It refuses documents over MaxMessageBytes,
// any DTD (so no entity can be declared, let alone expanded), encodings
// other than UTF-8, and anything that is not namespace-well-formed XML with
// one root element.
func parse(b []byte) (*document, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("sign: message of %d bytes exceeds %d", len(b), MaxMessageBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q: CEB messages are UTF-8", charset)
	}
	doc := &document{}
	sc := newScope()
	var cur *element
	var marks []int // scope mark of each open element
	for {
		start := int(d.InputOffset())
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sign: malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if cur == nil && doc.root != nil {
				return nil, errors.New("sign: malformed XML: more than one root element")
			}
			if len(marks) == maxDepth {
				return nil, fmt.Errorf("sign: elements nest deeper than %d", maxDepth)
			}
			xattrs, err := normalizeAttrs(t.Attr, b[start:d.InputOffset()])
			if err != nil {
				return nil, err
			}
			marks = append(marks, len(sc.undo))
			e, err := newElement(t.Name, xattrs, sc)
			if err != nil {
				return nil, err
			}
			e.parent = cur
			if cur == nil {
				doc.root = e
			} else {
				cur.children = append(cur.children, e)
			}
			cur = e
		case xml.EndElement:
			if cur == nil || t.Name.Space != cur.prefix || t.Name.Local != cur.local {
				return nil, fmt.Errorf("sign: malformed XML: unexpected end tag </%s>", qname(t.Name.Space, t.Name.Local))
			}
			if cur.parent == nil {
				doc.rootEnd = start
			}
			sc.restore(marks[len(marks)-1])
			marks = marks[:len(marks)-1]
			cur = cur.parent
		case xml.CharData:
			switch {
			case cur != nil:
				cur.children = append(cur.children, charData(t))
			case len(bytes.Trim(t, " \t\r\n")) > 0:
				return nil, errors.New("sign: malformed XML: text outside the root element")
			}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				if start != 0 || t.Target != "xml" {
					return nil, errors.New("sign: malformed XML: misplaced XML declaration")
				}
				continue
			}
			pi := procInst{t.Target, normalizeNewlines(string(t.Inst))}
			switch {
			case cur != nil:
				cur.children = append(cur.children, pi)
			case doc.root == nil:
				doc.before = append(doc.before, pi)
			default:
				doc.after = append(doc.after, pi)
			}
		case xml.Directive:
			return nil, errors.New("sign: a DTD or other <!…> declaration is not allowed in a signed message")
		}
	}
	if doc.root == nil {
		return nil, errors.New("sign: malformed XML: no root element")
	}
	if cur != nil {
		return nil, fmt.Errorf("sign: malformed XML: <%s> is not closed", qname(cur.prefix, cur.local))
	}
	return doc, nil
}

// newElement applies the element's namespace declarations to sc and
// resolves its names, enforcing what encoding/xml does not: prefixes are
// declared, declarations are legal, no attribute appears twice.
func newElement(name xml.Name, xattrs []xml.Attr, sc *scope) (*element, error) {
	e := &element{prefix: name.Space, local: name.Local, attrs: make([]attr, 0, len(xattrs))}
	tag := qname(name.Space, name.Local)
	for _, x := range xattrs {
		a := attr{prefix: x.Name.Space, local: x.Name.Local, value: x.Value}
		switch {
		case a.prefix == "xmlns":
			if a.local == "xmlns" || a.value == nsXMLNS || (a.local == "xml") != (a.value == nsXML) || a.value == "" {
				return nil, fmt.Errorf("sign: malformed XML: <%s> has an illegal declaration xmlns:%s=%q", tag, a.local, a.value)
			}
			a.space = nsXMLNS
		case a.prefix == "" && a.local == "xmlns":
			if a.value == nsXML || a.value == nsXMLNS {
				return nil, fmt.Errorf("sign: malformed XML: <%s> has an illegal default namespace %q", tag, a.value)
			}
			a.space = nsXMLNS
		}
		e.attrs = append(e.attrs, a)
	}
	for _, a := range e.attrs {
		if a.isDecl() {
			sc.declare(a.declared(), a.value)
		}
	}
	var ok bool
	if e.space, ok = sc.ns[e.prefix]; !ok && e.prefix != "" {
		return nil, fmt.Errorf("sign: malformed XML: <%s> uses an undeclared prefix", tag)
	}
	type expanded struct{ space, local string }
	seen := make(map[expanded]bool, len(e.attrs))
	for i := range e.attrs {
		a := &e.attrs[i]
		k := expanded{a.space, a.local}
		switch {
		case a.isDecl():
			k.local = a.declared()
		case a.prefix != "":
			if a.space, ok = sc.ns[a.prefix]; !ok {
				return nil, fmt.Errorf("sign: malformed XML: attribute %s of <%s> uses an undeclared prefix", qname(a.prefix, a.local), tag)
			}
			k.space = a.space
		}
		if seen[k] {
			return nil, fmt.Errorf("sign: malformed XML: <%s> repeats attribute %s", tag, qname(a.prefix, a.local))
		}
		seen[k] = true
	}
	return e, nil
}

// normalizeAttrs applies XML attribute-value normalization, which
// encoding/xml leaves out: a literal tab, newline or carriage return in a
// value reads as a space, while one written as a character reference stays.
// raw is the start tag as written; only when a quoted value in it holds such
// a character is the tag normalized and decoded again.
func normalizeAttrs(attrs []xml.Attr, raw []byte) ([]xml.Attr, error) {
	var quote byte
	var fixed []byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0 && (c == '\t' || c == '\n' || c == '\r'):
			if fixed == nil {
				fixed = slices.Clone(raw[:i])
			}
			if c == '\r' && i+1 < len(raw) && raw[i+1] == '\n' {
				i++ // CR LF is one line end, so one space
			}
			fixed = append(fixed, ' ')
			continue
		}
		if fixed != nil {
			fixed = append(fixed, c)
		}
	}
	if fixed == nil {
		return attrs, nil
	}
	tok, err := xml.NewDecoder(bytes.NewReader(fixed)).RawToken()
	se, ok := tok.(xml.StartElement)
	if err != nil || !ok || len(se.Attr) != len(attrs) {
		return nil, fmt.Errorf("sign: malformed XML: start tag %.40q", raw)
	}
	return se.Attr, nil
}

// normalizeNewlines applies XML line-end handling to a processing
// instruction, whose content encoding/xml hands over as written.
func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func qname(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// canonicalDocument is the canonical form of the whole document less the
// element skip: what a Reference URI="" with the enveloped-signature
// transform digests.
func canonicalDocument(doc *document, skip *element) []byte {
	c := canonicalizer{skip: skip, scope: newScope()}
	for _, pi := range doc.before {
		c.procInst(pi)
		c.buf.WriteByte('\n')
	}
	c.element(doc.root, false, nil)
	for _, pi := range doc.after {
		c.buf.WriteByte('\n')
		c.procInst(pi)
	}
	return c.buf.Bytes()
}

// canonicalSubtree is the canonical form of e and its descendants as a
// document subset, as SignedInfo is canonicalized: e carries every
// namespace in scope and the xml:* attributes it inherits.
func canonicalSubtree(e *element) []byte {
	c := canonicalizer{scope: newScope()}
	var inherited []attr
	var ancestors []*element
	for p := e.parent; p != nil; p = p.parent {
		ancestors = append(ancestors, p)
	}
	for i := len(ancestors) - 1; i >= 0; i-- { // outermost first, so nearer ones win
		for _, a := range ancestors[i].attrs {
			switch {
			case a.isDecl():
				c.scope.declare(a.declared(), a.value)
			case a.space == nsXML:
				inherited = slices.DeleteFunc(inherited, func(b attr) bool { return b.local == a.local })
				inherited = append(inherited, a)
			}
		}
	}
	inherited = slices.DeleteFunc(inherited, func(a attr) bool {
		return slices.ContainsFunc(e.attrs, func(b attr) bool { return b.space == nsXML && b.local == a.local })
	})
	c.element(e, true, inherited)
	return c.buf.Bytes()
}

type canonicalizer struct {
	buf   bytes.Buffer
	scope *scope
	skip  *element
}

// element writes e. The apex of a subset renders every namespace in scope;
// any other element only those whose binding differs from its parent's.
func (c *canonicalizer) element(e *element, apex bool, inherited []attr) {
	mark := len(c.scope.undo)
	var decls, attrs []attr
	for _, a := range e.attrs {
		if !a.isDecl() {
			attrs = append(attrs, a)
			continue
		}
		prefix := a.declared()
		was, had := c.scope.declare(prefix, a.value)
		unchanged := had && was == a.value || !had && prefix == "" && a.value == ""
		if !apex && !unchanged && prefix != "xml" {
			decls = append(decls, a)
		}
	}
	if apex {
		for prefix, uri := range c.scope.ns {
			if prefix == "xml" || prefix == "" && uri == "" {
				continue
			}
			a := attr{prefix: "xmlns", local: prefix, value: uri, space: nsXMLNS}
			if prefix == "" {
				a.prefix, a.local = "", "xmlns"
			}
			decls = append(decls, a)
		}
	}
	// Declarations first, the default one leading, then by prefix;
	// attributes after them by namespace URI, then local name.
	slices.SortFunc(decls, func(a, b attr) int { return strings.Compare(a.declared(), b.declared()) })
	attrs = append(attrs, inherited...)
	slices.SortFunc(attrs, func(a, b attr) int {
		if n := strings.Compare(a.space, b.space); n != 0 {
			return n
		}
		return strings.Compare(a.local, b.local)
	})

	name := qname(e.prefix, e.local)
	c.buf.WriteByte('<')
	c.buf.WriteString(name)
	for _, a := range append(decls, attrs...) {
		c.buf.WriteByte(' ')
		c.buf.WriteString(qname(a.prefix, a.local))
		c.buf.WriteString(`="`)
		escapeAttr(&c.buf, a.value)
		c.buf.WriteByte('"')
	}
	c.buf.WriteByte('>')
	for _, ch := range e.children {
		switch ch := ch.(type) {
		case *element:
			if ch != c.skip {
				c.element(ch, false, nil)
			}
		case charData:
			escapeText(&c.buf, string(ch))
		case procInst:
			c.procInst(ch)
		}
	}
	c.buf.WriteString("</")
	c.buf.WriteString(name)
	c.buf.WriteByte('>')
	c.scope.restore(mark)
}

func (c *canonicalizer) procInst(pi procInst) {
	c.buf.WriteString("<?")
	c.buf.WriteString(pi.target)
	if pi.inst != "" {
		c.buf.WriteByte(' ')
		c.buf.WriteString(pi.inst)
	}
	c.buf.WriteString("?>")
}

func escapeText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}

func escapeAttr(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}
