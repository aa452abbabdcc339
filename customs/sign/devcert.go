package sign

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// DevOrganization marks every development certificate, so that one is
// recognised wherever it turns up.
const DevOrganization = "Clearway DEVELOPMENT ONLY - not valid for customs"

// DevCert makes a self-signed certificate valid for a year and its private
// key, both PEM (key PKCS#8), for signing on a laptop or in tests. Customs
// accepts only certificates issued by the e-port's CA on a USB key.
func DevCert(alg Algorithm, commonName string) (keyPEM, certPEM []byte, err error) {
	var key any
	var pub any
	switch alg {
	case SM2SM3:
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		key, pub = k, &k.PublicKey
	case RSASHA1:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		key, pub = k, &k.PublicKey
	default:
		return nil, nil, fmt.Errorf("sign: unsupported algorithm %q (want %s or %s)", alg, SM2SM3, RSASHA1)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject: pkix.Name{
			CommonName:         commonName,
			Organization:       []string{DevOrganization},
			OrganizationalUnit: []string{"development"},
		},
		// An hour's slack for clocks that disagree.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: dev certificate: %w", err)
	}
	p8, err := smx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: dev key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
