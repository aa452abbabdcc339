package sign

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const fixture = "testdata/CEB603Message.xml"

var algorithms = []Algorithm{SM2SM3, RSASHA1}

var (
	signersMu sync.Mutex
	signers   = map[Algorithm]*Signer{}
)

// newSigner loads a development key and certificate, made by the code
// behind `clearway keys dev-cert`; one per algorithm, as RSA keys are slow
// to make.
func newSigner(t testing.TB, alg Algorithm) *Signer {
	t.Helper()
	signersMu.Lock()
	defer signersMu.Unlock()
	if s := signers[alg]; s != nil {
		return s
	}
	keyFile, certFile := writeDevCert(t, alg)
	s, err := Load(alg, keyFile, certFile)
	if err != nil {
		t.Fatal(err)
	}
	signers[alg] = s
	return s
}

func writeDevCert(t testing.TB, alg Algorithm) (keyFile, certFile string) {
	t.Helper()
	keyPEM, certPEM, err := DevCert(alg, "Clearway test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, certFile = filepath.Join(dir, "dev.key"), filepath.Join(dir, "dev.crt")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyFile, certFile
}

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signFixture(t testing.TB, s *Signer) []byte {
	t.Helper()
	out, err := s.Sign(readFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignThenVerifySucceeds(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s := newSigner(t, alg)
			msg := readFixture(t)
			signed, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := Verify(signed)
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, signed)
			}
			if !cert.Equal(s.Certificate()) {
				t.Errorf("Verify returned certificate %s, want the signer's %s", cert.Subject, s.Certificate().Subject)
			}

			// The signature is the root's last child and the message is
			// otherwise untouched.
			end := []byte("</ceb:CEB603Message>")
			at := bytes.Index(signed, []byte(`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`))
			if at < 0 || !bytes.HasSuffix(bytes.TrimSpace(signed), append([]byte("</ds:Signature>"), end...)) {
				t.Fatalf("no ds:Signature right before the root's end tag:\n%s", signed)
			}
			rootEnd := bytes.LastIndex(msg, end)
			if !bytes.Equal(signed[:at], msg[:rootEnd]) || !bytes.Equal(signed[bytes.LastIndex(signed, end):], msg[rootEnd:]) {
				t.Error("Sign changed the message outside the inserted signature")
			}
			su := suites[alg]
			for _, want := range []string{
				`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315">`,
				`<ds:SignatureMethod Algorithm="` + su.signatureMethod + `">`,
				`<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform></ds:Transforms>`,
				`<ds:DigestMethod Algorithm="` + su.digestMethod + `">`,
				`<ds:KeyName>` + keyName(s.Certificate()) + `</ds:KeyName><ds:X509Data><ds:X509Certificate>`,
			} {
				if !bytes.Contains(signed, []byte(want)) {
					t.Errorf("signed message lacks %s", want)
				}
			}
		})
	}
}

func TestSignUsesDigestAndSignatureMethodsOfTheCEBSpec(t *testing.T) {
	// Verbatim from spec-202205 §6.2.1.2 and §6.2.1.3.2.
	want := map[Algorithm][2]string{
		SM2SM3:  {"http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3", "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"},
		RSASHA1: {"http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1"},
	}
	for alg, w := range want {
		if got := suites[alg]; got.signatureMethod != w[0] || got.digestMethod != w[1] {
			t.Errorf("%s: SignatureMethod %s DigestMethod %s, want %s %s", alg, got.signatureMethod, got.digestMethod, w[0], w[1])
		}
	}
}

func TestVerifyRejectsAlteredText(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			signed := signFixture(t, newSigner(t, alg))
			altered := bytes.Replace(signed, []byte("<ceb:totalPrice>79.80<"), []byte("<ceb:totalPrice>7.98<"), 1)
			if bytes.Equal(altered, signed) {
				t.Fatal("fixture lacks the value to alter")
			}
			_, err := Verify(altered)
			if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("altered totalPrice: got %v, want %v", err, ErrDigestMismatch)
			}
			if !strings.Contains(err.Error(), "altered") {
				t.Errorf("error %q does not say the message was altered", err)
			}
		})
	}
}

func TestVerifyRejectsAlteredSignatureValue(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			signed := signFixture(t, newSigner(t, alg))
			altered := replaceSignatureValue(t, signed, func(v []byte) []byte { v[len(v)/2] ^= 0x01; return v })
			_, err := Verify(altered)
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "SignatureValue does not verify") {
				t.Fatalf("flipped a bit of SignatureValue: got %v, want %v", err, ErrBadSignature)
			}
		})
	}
}

func TestVerifyRejectsAlteredSignedInfo(t *testing.T) {
	signed := signFixture(t, newSigner(t, SM2SM3))
	// A signer who drops the transform would digest the signature itself:
	// SignedInfo is what the signature protects, so the change must show.
	altered := bytes.Replace(signed, []byte(`<ds:Reference URI="">`), []byte(`<ds:Reference URI="" Id="r1">`), 1)
	if _, err := Verify(altered); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("attribute added to SignedInfo: got %v, want %v", err, ErrBadSignature)
	}
}

// replaceSignatureValue rewrites the decoded SignatureValue with f.
func replaceSignatureValue(t *testing.T, signed []byte, f func([]byte) []byte) []byte {
	t.Helper()
	re := regexp.MustCompile(`<ds:SignatureValue>([^<]*)</ds:SignatureValue>`)
	m := re.FindSubmatch(signed)
	if m == nil {
		t.Fatal("no SignatureValue")
	}
	v, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return re.ReplaceAll(signed, []byte("<ds:SignatureValue>"+base64.StdEncoding.EncodeToString(f(v))+"</ds:SignatureValue>"))
}

func TestVerifyAcceptsSM2SignatureAsBareRS(t *testing.T) {
	signed := signFixture(t, newSigner(t, SM2SM3))
	raw := replaceSignatureValue(t, signed, func(der []byte) []byte {
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		rs.R.FillBytes(out[:32])
		rs.S.FillBytes(out[32:])
		return out
	})
	if _, err := Verify(raw); err != nil {
		t.Fatalf("r||s signature: %v", err)
	}
}

func TestVerifyRejectsUnsupportedAlgorithms(t *testing.T) {
	signed := signFixture(t, newSigner(t, SM2SM3))
	for name, c := range map[string]struct{ from, to, want string }{
		"signature method": {"#sm2-sm3", "#ecdsa-sm3", "SignatureMethod \"http://www.chinaport.gov.cn/2022/04/xmldsig#ecdsa-sm3\""},
		"digest method":    {`xmldsig#sm3"`, `xmldsig#sha1"`, "DigestMethod \"http://www.chinaport.gov.cn/2022/04/xmldsig#sha1\""},
		"c14n":             {"REC-xml-c14n-20010315", "REC-xml-c14n-20010315#WithComments", "CanonicalizationMethod \"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments\""},
		"transform":        {"#enveloped-signature", "#base64", "Transforms [\"http://www.w3.org/2000/09/xmldsig#base64\"]"},
		"reference":        {`URI=""`, `URI="#Inventory"`, `Reference URI "#Inventory"`},
	} {
		altered := bytes.Replace(signed, []byte(c.from), []byte(c.to), 1)
		if _, err := Verify(altered); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v saying %s", name, err, ErrUnsupported, c.want)
		}
	}
}

func TestVerifyRejectsCertificateOfTheOtherAlgorithm(t *testing.T) {
	signed := signFixture(t, newSigner(t, SM2SM3))
	rsaCert := base64.StdEncoding.EncodeToString(newSigner(t, RSASHA1).Certificate().Raw)
	altered := regexp.MustCompile(`<ds:X509Certificate>[^<]*<`).ReplaceAll(signed, []byte("<ds:X509Certificate>"+rsaCert+"<"))
	if _, err := Verify(altered); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "RSA") {
		t.Fatalf("sm2-sm3 signature with an RSA certificate: got %v", err)
	}
}

func TestVerifyRejectsUnsignedMessage(t *testing.T) {
	if _, err := Verify(readFixture(t)); !errors.Is(err, ErrNotSigned) {
		t.Fatalf("got %v, want %v", err, ErrNotSigned)
	}
}

func TestVerifyRejectsSecondSignature(t *testing.T) {
	signed := signFixture(t, newSigner(t, RSASHA1))
	sig := regexp.MustCompile(`<ds:Signature .*</ds:Signature>`).Find(signed)
	twice := bytes.Replace(signed, []byte("<ceb:BaseTransfer>"), append(sig, "<ceb:BaseTransfer>"...), 1)
	if _, err := Verify(twice); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "2 ds:Signature") {
		t.Fatalf("got %v", err)
	}
}

func TestSignRefusesSignedMessage(t *testing.T) {
	s := newSigner(t, RSASHA1)
	if _, err := s.Sign(signFixture(t, s)); err == nil || !strings.Contains(err.Error(), "already signed") {
		t.Fatalf("got %v", err)
	}
}

// TestVerifyAcceptsEquivalentReserialisation rewrites a signed message the
// way another XML library might, without changing its information: the
// digest must still match, which only real canonicalization achieves.
func TestVerifyAcceptsEquivalentReserialisation(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			signed := signFixture(t, newSigner(t, alg))
			r := strings.NewReplacer(
				// no XML declaration, attributes and the namespace
				// declaration in another order, other quotes and spacing
				`<?xml version="1.0" encoding="UTF-8"?>`+"\n", "<!-- re-serialised -->\n",
				`<ceb:CEB603Message guid="8F3B1C2E-0A1B-4C5D-8E9F-0123456789AB" version="1.0" xmlns:ceb="http://www.chinaport.gov.cn/ceb">`,
				`<ceb:CEB603Message  xmlns:ceb='http://www.chinaport.gov.cn/ceb'`+"\n\t"+`version='1.0' guid="8F3B1C2E-0A1B-4C5D-8E9F-0123456789AB" >`,
				// a redundant redeclaration
				"<ceb:BaseTransfer>", `<ceb:BaseTransfer xmlns:ceb="http://www.chinaport.gov.cn/ceb">`,
				// character references and CDATA for the same text
				"<ceb:ebpName>泉州跨境优选平台</ceb:ebpName>", "<ceb:ebpName>&#x6CC9;州跨境优选平台</ceb:ebpName>",
				"<ceb:itemName>男士跑步鞋</ceb:itemName>", "<ceb:itemName><![CDATA[男士]]>跑步鞋</ceb:itemName>",
				// end tags with a space, CR LF line ends, a comment
				"</ceb:InventoryHead>\n", "</ceb:InventoryHead >\r\n<!-- head done -->",
				// and in SignedInfo: attribute quoting, an empty element
				`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform>`,
				`<ds:Transform Algorithm='http://www.w3.org/2000/09/xmldsig#enveloped-signature'/>`,
			)
			other := []byte(r.Replace(string(signed)))
			if bytes.Equal(other, signed) || bytes.Count(other, []byte("CDATA")) != 1 || !bytes.Contains(other, []byte("xmldsig#enveloped-signature'/>")) {
				t.Fatal("the rewrite did not apply")
			}
			if _, err := Verify(other); err != nil {
				t.Fatalf("equivalent message rejected: %v\n%s", err, other)
			}
		})
	}
}

// requireXmllint returns false (test skipped) when xmllint is missing on a
// laptop; in CI a missing xmllint fails the test.
func requireXmllint(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("CLEARWAY_REQUIRE_REAL") == "1" {
			t.Fatal("xmllint is required (apt-get install libxml2-utils)")
		}
		t.Skip("xmllint not installed")
	}
}

func TestSignedMessageValidatesAgainstTheOfficialXSD(t *testing.T) {
	requireXmllint(t)
	dir := t.TempDir()
	var files []string
	for _, alg := range algorithms {
		f := filepath.Join(dir, string(alg)+".xml")
		if err := os.WriteFile(f, signFixture(t, newSigner(t, alg)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	args := append([]string{"--noout", "--schema", "../../schemas/ceb/ceb-export-202205.xsd"}, files...)
	if out, err := exec.Command("xmllint", args...).CombinedOutput(); err != nil {
		t.Fatalf("signed message does not validate: %v\n%s", err, out)
	}
}

// Documents chosen to exercise every rule of Canonical XML 1.0. None has a
// comment: xmllint --c14n keeps them.
var c14nCases = map[string]string{
	"attribute order by namespace URI then name": `<r xmlns:b="urn:a" xmlns:a="urn:b" a:y="1" b:z="2" z="3" a="4" xmlns="urn:d"/>`,
	"namespaces rendered where they change":      `<r xmlns="urn:x" xmlns:p="urn:p"><p:e xmlns:p="urn:p" xmlns:q="urn:q"><f xmlns=""><g xmlns="urn:x"/></f></p:e><e xmlns:p="urn:other"/></r>`,
	"escaping in text and attributes":            `<r a="&lt;&amp;&quot;&gt;'&#9;&#10;&#13;" b='"'>&lt;&amp;&gt;"'&#13;&#x20AC;</r>`,
	"literal whitespace in attributes":           "<r a=\"x\ty\nz\r\nw\"\n  b='  two  spaces '/>",
	"line ends and CDATA":                        "<r>a\r\nb\rc<![CDATA[<&>]]>\r\n</r>",
	"processing instructions":                    "<?xml version=\"1.0\"?>\n<?before  some data ?>\n<r><?in?><?in2 x?></r>\n<?after z?>\n",
	"xml attributes":                             `<r xml:lang="zh" xmlns:xml="http://www.w3.org/XML/1998/namespace"><e xml:space="preserve"/></r>`,
	"whitespace outside the root dropped":        "\n\n<r>\n  <e/>\n</r>\n\n",
	"the CEB fixture":                            "", // read from testdata
}

func TestVerifyCanonicalizesLikeLibxml2(t *testing.T) {
	requireXmllint(t)
	dir := t.TempDir()
	for name, doc := range c14nCases {
		if doc == "" {
			doc = string(readFixture(t))
		}
		f := filepath.Join(dir, "in.xml")
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command("xmllint", "--c14n", f).Output()
		if err != nil {
			t.Fatalf("%s: xmllint: %v", name, err)
		}
		d, err := parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := canonicalDocument(d, nil); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
}

func TestVerifyCanonicalizesSignedInfoWithInheritedNamespaces(t *testing.T) {
	// Inclusive C14N renders every namespace in scope on the apex, sorted,
	// plus inherited xml:* attributes; an unused one included.
	doc, err := parse([]byte(`<ceb:M xmlns:ceb="urn:ceb" xmlns="urn:default" xml:lang="zh"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo  Id="s" ><ds:X/></ds:SignedInfo></ds:Signature></ceb:M>`))
	if err != nil {
		t.Fatal(err)
	}
	si := doc.root.children[0].(*element).children[0].(*element)
	want := `<ds:SignedInfo xmlns="urn:default" xmlns:ceb="urn:ceb" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s" xml:lang="zh"><ds:X></ds:X></ds:SignedInfo>`
	if got := string(canonicalSubtree(si)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestVerifyRejectsUnsafeOrMalformedXML(t *testing.T) {
	for name, c := range map[string]struct{ doc, want string }{
		"external entity (XXE)":   {`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>`, "DTD"},
		"internal entity":         {`<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><r>&a;</r>`, "DTD"},
		"undeclared entity":       {`<r>&x;</r>`, "malformed"},
		"GBK":                     {`<?xml version="1.0" encoding="GBK"?><r/>`, "UTF-8"},
		"two roots":               {`<r/><r/>`, "more than one root"},
		"undeclared prefix":       {`<p:r/>`, "undeclared prefix"},
		"attribute twice":         {`<r a="1" a="2"/>`, "repeats attribute"},
		"same name, two prefixes": {`<r xmlns:a="urn:x" xmlns:b="urn:x" a:n="1" b:n="2"/>`, "repeats attribute"},
		"text outside the root":   {`<r/>text`, "outside the root"},
		"too deep":                {strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1), "deeper"},
		"too large":               {"<r>" + strings.Repeat(" ", MaxMessageBytes) + "</r>", "exceeds"},
	} {
		if _, err := Verify([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", name, err, c.want)
		}
	}
}

func TestSignLoadRejectsKeyOfAnotherCertificate(t *testing.T) {
	for _, alg := range algorithms {
		keyFile, _ := writeDevCert(t, alg)
		_, certFile := writeDevCert(t, alg)
		_, err := Load(alg, keyFile, certFile)
		if err == nil || !strings.Contains(err.Error(), "does not match certificate") || !strings.Contains(err.Error(), keyFile) {
			t.Errorf("%s: got %v", alg, err)
		}
	}
}

func TestSignLoadRejectsKeyOfTheWrongAlgorithm(t *testing.T) {
	keyFile, certFile := writeDevCert(t, RSASHA1)
	if _, err := Load(SM2SM3, keyFile, certFile); err == nil || !strings.Contains(err.Error(), "holds an RSA key; sm2-sm3 needs an SM2 key") {
		t.Errorf("got %v", err)
	}
	if _, err := Load("ecdsa", keyFile, certFile); err == nil || !strings.Contains(err.Error(), "unsupported algorithm") {
		t.Errorf("got %v", err)
	}
	if _, err := Load(RSASHA1, certFile, certFile); err == nil || !strings.Contains(err.Error(), `holds a "CERTIFICATE" block`) {
		t.Errorf("certificate as key: got %v", err)
	}
}
