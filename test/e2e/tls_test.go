package e2e

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"

	"github.com/socketd/socketd/internal/testutil"
)

// The end-to-end tests over TLS use one certificate made for the run (a CA and
// a server certificate for 127.0.0.1 under it, testutil.MakeTLSPair). Node
// clients trust the CA through NODE_EXTRA_CA_CERTS, set for every child
// process; the Go side (Drupal API calls) through http.DefaultTransport;
// Chromium trusts the one server key (--ignore-certificate-errors-spki-list),
// not every certificate.
var e2eTLS struct {
	pair              *testutil.TLSPair
	certFile, keyFile string
	caFile            string
}

func setupTLS(dir string) error {
	pair, err := testutil.MakeTLSPair("socketd e2e")
	if err != nil {
		return err
	}
	e2eTLS.pair = pair
	e2eTLS.certFile = filepath.Join(dir, "e2e-cert.pem")
	e2eTLS.keyFile = filepath.Join(dir, "e2e-key.pem")
	e2eTLS.caFile = filepath.Join(dir, "e2e-ca.pem")
	for f, b := range map[string][]byte{e2eTLS.certFile: pair.CertPEM, e2eTLS.keyFile: pair.KeyPEM, e2eTLS.caFile: pair.CAPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return err
		}
	}
	if err := os.Setenv("NODE_EXTRA_CA_CERTS", e2eTLS.caFile); err != nil {
		return err
	}
	http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pair.Roots}
	return nil
}
