// Package sign signs CEB business messages with enveloped XML-DSig and
// verifies signed ones, as the CEB 2022 spec (§6 签名) prescribes: inclusive
// Canonical XML 1.0, one Reference to the whole message with the
// enveloped-signature transform, and SM2/SM3 (preferred) or RSA-SHA1.
//
// A signed message looks like this (wrapped here; Sign adds no whitespace):
//
//	<ceb:CEB603Message …>…<ceb:BaseTransfer>…</ceb:BaseTransfer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
//	  <ds:SignedInfo>CanonicalizationMethod, SignatureMethod, Reference URI=""</ds:SignedInfo>
//	  <ds:SignatureValue>…</ds:SignatureValue>
//	  <ds:KeyInfo><ds:KeyName>serial</ds:KeyName><ds:X509Data><ds:X509Certificate>…</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
//	</ds:Signature></ceb:CEB603Message>
package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// Algorithm is a signature suite the CEB spec allows, named as in
// CLEARWAY_SIGN_ALG.
type Algorithm string

const (
	// SM2SM3 is 国密: SM2 signature over SM3, the spec's preferred suite.
	SM2SM3 Algorithm = "sm2-sm3"
	// RSASHA1 is the "通用算法" the platform still accepts.
	RSASHA1 Algorithm = "rsa-sha1"
)

// Algorithm identifiers, verbatim from the CEB 2022 spec §6.2.1.
const (
	uriC14N      = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	uriEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	uriSM2SM3    = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
	uriSM3       = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
	uriRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	uriSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
)

const (
	nsDSig        = "http://www.w3.org/2000/09/xmldsig#"
	dsPrefix      = "ds"
	signatureName = "Signature"
)

// suite is what an Algorithm means on the wire.
type suite struct {
	signatureMethod, digestMethod string
	digest                        func([]byte) []byte
}

var suites = map[Algorithm]suite{
	SM2SM3:  {uriSM2SM3, uriSM3, func(b []byte) []byte { h := sm3.Sum(b); return h[:] }},
	RSASHA1: {uriRSASHA1, uriSHA1, func(b []byte) []byte { h := sha1.Sum(b); return h[:] }},
}

// Signer signs messages with one key and its certificate.
type Signer struct {
	alg     Algorithm
	key     crypto.Signer // *sm2.PrivateKey or *rsa.PrivateKey; a USB key could stand in
	cert    *x509.Certificate
	keyName string
}

// Load reads a PEM private key (SM2: PKCS#8; RSA: PKCS#1 or PKCS#8) and the
// PEM X.509 certificate that goes with it, and checks that they match alg,
// each other, and today's date.
func Load(alg Algorithm, keyFile, certFile string) (*Signer, error) {
	if _, ok := suites[alg]; !ok {
		return nil, fmt.Errorf("sign: unsupported algorithm %q (want %s or %s)", alg, SM2SM3, RSASHA1)
	}
	key, err := readKey(alg, keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	if err := keyFits(alg, cert.PublicKey); err != nil {
		return nil, fmt.Errorf("sign: certificate %s: %w", certFile, err)
	}
	if !publicKeyEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("sign: key %s does not match certificate %s (serial %s)", keyFile, certFile, keyName(cert))
	}
	now := time.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("sign: certificate %s is valid only from %s to %s; customs rejects signatures made outside that time",
			certFile, cert.NotBefore.Format(time.DateOnly), cert.NotAfter.Format(time.DateOnly))
	}
	return &Signer{alg: alg, key: key, cert: cert, keyName: keyName(cert)}, nil
}

func readKey(alg Algorithm, file string) (crypto.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sign: private key: %w", err)
	}
	block, _ := pem.Decode(b)
	switch {
	case block == nil:
		return nil, fmt.Errorf("sign: private key %s is not PEM", file)
	case block.Type == "ENCRYPTED PRIVATE KEY" || smx509.IsEncryptedPEMBlock(block):
		return nil, fmt.Errorf("sign: private key %s is encrypted; Clearway reads only unencrypted keys", file)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = smx509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = smx509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("sign: private key %s holds a %q block; want PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1)", file, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("sign: private key %s: %w", file, err)
	}
	switch k := key.(type) {
	case *sm2.PrivateKey:
		if alg == SM2SM3 {
			return k, nil
		}
	case *rsa.PrivateKey:
		if alg == RSASHA1 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("sign: private key %s holds %s; %s needs %s", file, keyKind(key), alg, wantKind(alg))
}

func readCert(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sign: certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("sign: certificate %s is not a PEM CERTIFICATE", file)
	}
	cert, err := smx509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sign: certificate %s: %w", file, err)
	}
	return cert.ToX509(), nil
}

// keyFits says whether a certificate's public key can verify alg.
func keyFits(alg Algorithm, pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == SM2SM3 && sm2.IsSM2PublicKey(k) {
			return nil
		}
	case *rsa.PublicKey:
		if alg == RSASHA1 {
			return nil
		}
	}
	return fmt.Errorf("holds %s; %s needs %s", keyKind(pub), alg, wantKind(alg))
}

// keyKind names a key's type for an error message: "an SM2 key".
func keyKind(k any) string {
	switch k := k.(type) {
	case *sm2.PrivateKey:
		return "an SM2 key"
	case *ecdsa.PublicKey:
		if sm2.IsSM2PublicKey(k) {
			return "an SM2 key"
		}
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case *ecdsa.PrivateKey:
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case *rsa.PrivateKey, *rsa.PublicKey:
		return "an RSA key"
	}
	return fmt.Sprintf("a %T", k)
}

func wantKind(alg Algorithm) string {
	if alg == SM2SM3 {
		return "an SM2 key"
	}
	return "an RSA key"
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

// keyName is what goes in ds:KeyName: the certificate serial number in hex,
// which is how the e-port identifies a signing certificate (证书编号). The
// spec only shows an example value ("0001").
func keyName(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// Certificate is the certificate s puts in KeyInfo.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// Sign returns msg, a complete CEB business message, with an enveloped
// ds:Signature inserted as the last child of its root. The CEB XSDs put
// Signature after BaseTransfer and BaseSubscribe and before ExtendMessage,
// which Clearway never writes. Not a byte of msg is changed otherwise.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	doc, err := parse(msg)
	if err != nil {
		return nil, err
	}
	if old, _ := findSignature(doc); old != nil {
		return nil, errors.New("sign: message is already signed")
	}
	if !bytes.HasPrefix(msg[doc.rootEnd:], []byte("</")) {
		return nil, errors.New("sign: the root element is empty")
	}
	su := suites[s.alg]
	sig, signedInfo, digestValue, signatureValue := s.signatureElement(su)
	sig.parent = doc.root
	doc.root.children = append(doc.root.children, sig)

	digestValue.children = []any{charData(base64.StdEncoding.EncodeToString(su.digest(canonicalDocument(doc, sig))))}
	value, err := s.signBytes(canonicalSubtree(signedInfo))
	if err != nil {
		return nil, fmt.Errorf("sign: %s signature: %w", s.alg, err)
	}
	signatureValue.children = []any{charData(base64.StdEncoding.EncodeToString(value))}

	var out bytes.Buffer
	out.Grow(len(msg) + 2048)
	out.Write(msg[:doc.rootEnd])
	writeXML(&out, sig)
	out.Write(msg[doc.rootEnd:])
	return out.Bytes(), nil
}

// signBytes signs canonical SignedInfo. SM2 is GB/T 32918.2 with the
// default user ID 1234567812345678 (Z_A over SM3), and the value is ASN.1
// DER SEQUENCE{r, s}, as XML-DSig writes ECDSA-style signatures in no other
// form and the spec names none; Verify also takes a bare 64-byte r||s.
func (s *Signer) signBytes(signedInfo []byte) ([]byte, error) {
	if s.alg == SM2SM3 {
		return s.key.Sign(rand.Reader, signedInfo, sm2.DefaultSM2SignerOpts)
	}
	return s.key.Sign(rand.Reader, suites[RSASHA1].digest(signedInfo), crypto.SHA1)
}

// signatureElement builds ds:Signature with DigestValue and SignatureValue
// still empty.
func (s *Signer) signatureElement(su suite) (sig, signedInfo, digestValue, signatureValue *element) {
	ds := func(local string, attrs ...attr) *element {
		return &element{prefix: dsPrefix, local: local, space: nsDSig, attrs: attrs}
	}
	algorithm := func(uri string) attr { return attr{local: "Algorithm", value: uri} }
	add := func(parent *element, children ...*element) *element {
		for _, c := range children {
			c.parent = parent
			parent.children = append(parent.children, c)
		}
		return parent
	}
	digestValue, signatureValue = ds("DigestValue"), ds("SignatureValue")
	transform := ds("Transform", algorithm(uriEnveloped))
	signedInfo = add(ds("SignedInfo"),
		ds("CanonicalizationMethod", algorithm(uriC14N)),
		ds("SignatureMethod", algorithm(su.signatureMethod)),
		add(ds("Reference", attr{local: "URI"}),
			add(ds("Transforms"), transform),
			ds("DigestMethod", algorithm(su.digestMethod)),
			digestValue))
	keyName, cert := ds("KeyName"), ds("X509Certificate")
	keyName.children = []any{charData(s.keyName)}
	cert.children = []any{charData(base64.StdEncoding.EncodeToString(s.cert.Raw))}
	sig = add(ds(signatureName, attr{prefix: "xmlns", local: dsPrefix, value: nsDSig, space: nsXMLNS}),
		signedInfo,
		signatureValue,
		add(ds("KeyInfo"), keyName, add(ds("X509Data"), cert)))
	return sig, signedInfo, digestValue, signatureValue
}

// writeXML serializes an element Clearway built (explicit end tags, values
// escaped as in canonical form, so it parses back to the same tree).
func writeXML(b *bytes.Buffer, e *element) {
	name := qname(e.prefix, e.local)
	b.WriteByte('<')
	b.WriteString(name)
	for _, a := range e.attrs {
		b.WriteByte(' ')
		b.WriteString(qname(a.prefix, a.local))
		b.WriteString(`="`)
		escapeAttr(b, a.value)
		b.WriteByte('"')
	}
	b.WriteByte('>')
	for _, ch := range e.children {
		switch ch := ch.(type) {
		case *element:
			writeXML(b, ch)
		case charData:
			escapeText(b, string(ch))
		}
	}
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}
