package ceb

import (
	"os"
	"testing"
)

// The adapter reads an envelope and the receipts in it for every message
// customs sends: what these cost bounds the adapter's CPU (make bench).
func BenchmarkDecodeEnvelope(b *testing.B) {
	doc, err := os.ReadFile("testdata/golden/DxpMsg-CEB603.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := DecodeEnvelope(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseReturns(b *testing.B) {
	doc, err := os.ReadFile("testdata/golden/CEB606Message.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, _, err := ParseReturns(doc); err != nil {
			b.Fatal(err)
		}
	}
}
