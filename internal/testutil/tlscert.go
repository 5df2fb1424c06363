package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// TLSPair is a certificate for the loopback addresses (127.0.0.1, ::1 and
// localhost), signed by a CA made with it, for tests that serve TLS.
type TLSPair struct {
	CertPEM, KeyPEM []byte // the server's certificate and key (PKCS #8)
	CAPEM           []byte // the CA that signed it, for clients
	Cert            tls.Certificate
	Roots           *x509.CertPool // holds the CA
}

// ClientConfig trusts the pair's CA only.
func (p *TLSPair) ClientConfig() *tls.Config { return &tls.Config{RootCAs: p.Roots} }

// NewTLSPair makes a CA and a server certificate under it (ECDSA P-256) with
// commonName cn.
func NewTLSPair(t testing.TB, cn string) *TLSPair {
	t.Helper()
	p, err := MakeTLSPair(cn)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// MakeTLSPair is NewTLSPair for callers without a testing.TB (TestMain).
func MakeTLSPair(cn string) (*TLSPair, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn + " test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	p := &TLSPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		CAPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Roots:   x509.NewCertPool(),
	}
	p.Roots.AddCert(ca)
	if p.Cert, err = tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		return nil, err
	}
	return p, nil
}

// SPKIHash is the base64 SHA-256 of the certificate's public key, the form
// Chromium's --ignore-certificate-errors-spki-list takes: it trusts that one
// key, not every certificate.
func (p *TLSPair) SPKIHash() string {
	sum := sha256.Sum256(p.Cert.Leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
