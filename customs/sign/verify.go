package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// What Verify can find wrong, for errors.Is; the errors returned say more.
var (
	ErrNotSigned = errors.New("sign: message has no ds:Signature")
	// ErrUnsupported: the signature uses an algorithm or a shape the CEB
	// spec does not allow.
	ErrUnsupported = errors.New("sign: unsupported signature")
	// ErrDigestMismatch: the message was altered after it was signed.
	ErrDigestMismatch = errors.New("sign: digest mismatch, the message was altered after signing")
	// ErrBadSignature: SignedInfo was altered, or was not signed by the key
	// of the certificate in KeyInfo.
	ErrBadSignature = errors.New("sign: signature invalid")
)

// Verify checks the enveloped signature of a CEB business message: the
// digest of the canonical message less its signature, then SignatureValue
// over canonical SignedInfo with the certificate in KeyInfo. It returns
// that certificate. Verify proves the message is intact and was signed with
// the certificate's key; whether the certificate is one to trust (issuer,
// validity, revocation) is for the caller to decide.
func Verify(msg []byte) (*x509.Certificate, error) {
	doc, err := parse(msg)
	if err != nil {
		return nil, err
	}
	sigEl, err := findSignature(doc)
	if err != nil {
		return nil, err
	}
	if sigEl == nil {
		return nil, ErrNotSigned
	}
	sig, err := readSignature(sigEl)
	if err != nil {
		return nil, err
	}
	su := suites[sig.alg]

	parsed, err := smx509.ParseCertificate(sig.cert)
	if err != nil {
		return nil, fmt.Errorf("%w: X509Certificate in KeyInfo: %v", ErrBadSignature, err)
	}
	cert := parsed.ToX509()
	if err := keyFits(sig.alg, cert.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: the certificate in KeyInfo %v", ErrBadSignature, err)
	}

	if digest := su.digest(canonicalDocument(doc, sigEl)); !bytes.Equal(digest, sig.digest) {
		return nil, fmt.Errorf("%w (DigestValue %s, message digests to %s)", ErrDigestMismatch,
			base64.StdEncoding.EncodeToString(sig.digest), base64.StdEncoding.EncodeToString(digest))
	}
	signedInfo := canonicalSubtree(sig.signedInfo)
	ok := false
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		ok = verifySM2(pub, signedInfo, sig.value)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA1, su.digest(signedInfo), sig.value) == nil
	}
	if !ok {
		return nil, fmt.Errorf("%w: SignatureValue does not verify with the %s certificate in KeyInfo (serial %s, %s)",
			ErrBadSignature, sig.alg, keyName(cert), cert.Subject)
	}
	return cert, nil
}

// verifySM2 takes the ASN.1 DER Sign writes and also a bare r||s, the
// 64-byte form some USB keys produce.
func verifySM2(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if sm2.VerifyASN1WithSM2(pub, nil, msg, sig) {
		return true
	}
	if len(sig) != 64 {
		return false
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	return err == nil && sm2.VerifyASN1WithSM2(pub, nil, msg, der)
}

// findSignature returns the message's ds:Signature, nil if it has none. A
// signature must be a child of the root and the only one, so that no
// element can be signed in one place and read from another.
func findSignature(doc *document) (*element, error) {
	var found []*element
	var walk func(e *element)
	walk = func(e *element) {
		if e.space == nsDSig && e.local == signatureName {
			found = append(found, e)
		}
		for _, c := range e.children {
			if c, ok := c.(*element); ok {
				walk(c)
			}
		}
	}
	walk(doc.root)
	switch {
	case len(found) == 0:
		return nil, nil
	case len(found) > 1:
		return nil, fmt.Errorf("%w: the message holds %d ds:Signature elements", ErrUnsupported, len(found))
	case found[0].parent != doc.root:
		return nil, fmt.Errorf("%w: ds:Signature is inside <%s>, not a child of the root", ErrUnsupported, qname(found[0].parent.prefix, found[0].parent.local))
	}
	return found[0], nil
}

type signature struct {
	alg        Algorithm
	signedInfo *element
	digest     []byte
	value      []byte
	cert       []byte // DER
}

// readSignature reads ds:Signature, accepting only the shape the CEB spec
// prescribes: C14N 1.0, one Reference URI="" with the enveloped-signature
// transform, matching signature and digest methods, an X.509 certificate.
func readSignature(sigEl *element) (*signature, error) {
	var sig signature
	parts, err := dsChildren(sigEl, "SignedInfo", "SignatureValue", "KeyInfo")
	if err != nil {
		return nil, err
	}
	sig.signedInfo = parts[0]
	si, err := dsChildren(parts[0], "CanonicalizationMethod", "SignatureMethod", "Reference")
	if err != nil {
		return nil, err
	}
	if c14n := attrValue(si[0], "Algorithm"); c14n != uriC14N {
		return nil, fmt.Errorf("%w: CanonicalizationMethod %q (CEB uses %s)", ErrUnsupported, c14n, uriC14N)
	}
	method := attrValue(si[1], "Algorithm")
	for alg, su := range suites {
		if su.signatureMethod == method {
			sig.alg = alg
		}
	}
	if sig.alg == "" {
		return nil, fmt.Errorf("%w: SignatureMethod %q (CEB uses %s or %s)", ErrUnsupported, method, uriSM2SM3, uriRSASHA1)
	}
	su := suites[sig.alg]

	ref := si[2]
	if uri, ok := attr1(ref, "URI"); !ok || uri != "" {
		return nil, fmt.Errorf(`%w: Reference URI %q (CEB signs the whole message, URI="")`, ErrUnsupported, uri)
	}
	rp, err := dsChildren(ref, "Transforms", "DigestMethod", "DigestValue")
	if err != nil {
		return nil, err
	}
	transforms, err := dsChildren(rp[0])
	if err != nil {
		return nil, err
	}
	var uris []string
	for _, t := range transforms {
		if t.local != "Transform" {
			return nil, fmt.Errorf("%w: <%s> in Transforms", ErrUnsupported, t.local)
		}
		uris = append(uris, attrValue(t, "Algorithm"))
	}
	// The enveloped-signature transform, optionally followed by the C14N
	// that would be applied anyway.
	if len(uris) == 0 || uris[0] != uriEnveloped || len(uris) > 2 || len(uris) == 2 && uris[1] != uriC14N {
		return nil, fmt.Errorf("%w: Transforms %q (CEB uses %s only)", ErrUnsupported, uris, uriEnveloped)
	}
	if dm := attrValue(rp[1], "Algorithm"); dm != su.digestMethod {
		return nil, fmt.Errorf("%w: DigestMethod %q with SignatureMethod %s (want %s)", ErrUnsupported, dm, su.signatureMethod, su.digestMethod)
	}
	if sig.digest, err = base64Text(rp[2]); err != nil {
		return nil, err
	}
	if sig.value, err = base64Text(parts[1]); err != nil {
		return nil, err
	}

	keyInfo, err := dsChildren(parts[2])
	if err != nil {
		return nil, err
	}
	for _, k := range keyInfo {
		if k.local != "X509Data" || sig.cert != nil {
			continue
		}
		data, err := dsChildren(k)
		if err != nil {
			return nil, err
		}
		for _, d := range data {
			if d.local == "X509Certificate" {
				// The first certificate is the signer's; any others are
				// its chain.
				if sig.cert, err = base64Text(d); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	if sig.cert == nil {
		return nil, fmt.Errorf("%w: KeyInfo holds no X509Data/X509Certificate", ErrUnsupported)
	}
	return &sig, nil
}

// dsChildren returns e's child elements, all in the XML-DSig namespace.
// Given names, the children must be exactly those, in that order.
func dsChildren(e *element, names ...string) ([]*element, error) {
	var out []*element
	for _, c := range e.children {
		switch c := c.(type) {
		case *element:
			if c.space != nsDSig {
				return nil, fmt.Errorf("%w: <%s> inside ds:%s", ErrUnsupported, qname(c.prefix, c.local), e.local)
			}
			out = append(out, c)
		case charData:
			if strings.Trim(string(c), " \t\r\n") != "" {
				return nil, fmt.Errorf("%w: text inside ds:%s", ErrUnsupported, e.local)
			}
		}
	}
	if names == nil {
		return out, nil
	}
	got := make([]string, len(out))
	for i, c := range out {
		got[i] = c.local
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		return nil, fmt.Errorf("%w: ds:%s holds %v, want %v", ErrUnsupported, e.local, got, names)
	}
	return out, nil
}

// attr1 is e's unprefixed attribute local.
func attr1(e *element, local string) (string, bool) {
	for _, a := range e.attrs {
		if a.prefix == "" && a.local == local {
			return a.value, true
		}
	}
	return "", false
}

func attrValue(e *element, local string) string {
	v, _ := attr1(e, local)
	return v
}

// base64Text decodes a base64Binary element, which may be wrapped in lines.
func base64Text(e *element) ([]byte, error) {
	var s strings.Builder
	for _, c := range e.children {
		switch c := c.(type) {
		case charData:
			s.WriteString(string(c))
		case *element:
			return nil, fmt.Errorf("%w: <%s> inside ds:%s", ErrUnsupported, qname(c.prefix, c.local), e.local)
		}
	}
	text := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s.String())
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: ds:%s is not Base64", ErrBadSignature, e.local)
	}
	return b, nil
}
