package sign

import (
	"bytes"
	"testing"
)

// FuzzVerify feeds arbitrary documents to Verify, which reads messages from
// outside. It must never panic, must not accept what it did not check, and
// its canonical form must be a fixed point (canonicalizing it again changes
// nothing), as Canonical XML requires.
func FuzzVerify(f *testing.F) {
	msg := readFixture(f)
	for _, alg := range algorithms {
		signed := signFixture(f, newSigner(f, alg))
		f.Add(signed)
		f.Add(bytes.Replace(signed, []byte("79.80"), []byte("79.81"), 1))
	}
	f.Add(msg)
	for _, doc := range c14nCases {
		f.Add([]byte(doc))
	}
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY a "x">]><r>&a;</r>`))
	f.Add([]byte(`<r xmlns:a="urn:x" a:b="1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></r>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if _, err := Verify(doc); err == nil && !bytes.Contains(doc, []byte("Signature")) {
			t.Fatal("verified a document without a signature")
		}
		d, err := parse(doc)
		if err != nil {
			return
		}
		c := canonicalDocument(d, nil)
		d2, err := parse(c)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%q", err, c)
		}
		if c2 := canonicalDocument(d2, nil); !bytes.Equal(c, c2) {
			t.Fatalf("canonicalizing twice changed\n%q\nto\n%q", c, c2)
		}
	})
}
