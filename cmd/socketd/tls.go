package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/polltls"
)

// certStore is the https key pair in force. Handshakes read it through
// GetCertificate, so a reload changes what new connections are served and
// leaves established ones as they are.
type certStore struct {
	cfg  nodejsconfig.Config
	log  *slog.Logger
	pair atomic.Pointer[tls.Certificate]
}

// newTLS loads the key pair and returns the store and the server's TLS
// configuration: TLS 1.2 and 1.3, ALPN h2 then http/1.1 (HTTP/2 for polling,
// where browsers take it; WebSockets are HTTP/1.1 upgrades), session tickets
// on (crypto/tls's default, keys rotated by it).
func newTLS(cfg nodejsconfig.Config, log *slog.Logger) (*certStore, *tls.Config, error) {
	cs := &certStore{cfg: cfg, log: log}
	pair, err := loadKeyPair(cfg)
	if err != nil {
		return nil, nil, err
	}
	cs.pair.Store(&pair)
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cs.pair.Load(), nil
		},
	}
	return cs, tc, nil
}

// reload reads the key pair files again. A pair that does not load (missing
// file, wrong passphrase, key not matching the certificate) is refused with an
// error and the pair in force stays.
func (cs *certStore) reload() error {
	pair, err := loadKeyPair(cs.cfg)
	if err != nil {
		cs.log.Error("TLS certificate reload refused; the previous certificate stays in use", slog.String("error", err.Error()))
		return err
	}
	cs.pair.Store(&pair)
	attrs := []any{slog.String("cert", cs.cfg.SSLCertPath)}
	if pair.Leaf != nil {
		attrs = append(attrs, slog.String("subject", pair.Leaf.Subject.String()), slog.Time("not_after", pair.Leaf.NotAfter))
	}
	cs.log.Info("TLS certificate reloaded", attrs...)
	return nil
}

// reloadOnSIGHUP reloads the key pair on every SIGHUP until ctx ends (the
// usual signal after a certificate renewal, e.g. from certbot's deploy hook).
func (cs *certStore) reloadOnSIGHUP(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				_ = cs.reload()
			}
		}
	}()
}

// tlsListener serves TLS on ln through internal/polltls, so that upgraded
// WebSockets move to the event loop like plain ones (docs/DESIGN.md).
func tlsListener(ln net.Listener, tc *tls.Config) net.Listener {
	return polltls.NewListener(ln, tc)
}

// loadKeyPair loads the https key pair (the key may be encrypted with
// sslPassPhrase) and appends the CA bundle to the served chain, as Node's
// https server does with its ca option.
func loadKeyPair(cfg nodejsconfig.Config) (tls.Certificate, error) {
	var none tls.Certificate
	certPEM, err := os.ReadFile(cfg.SSLCertPath)
	if err != nil {
		return none, fmt.Errorf("sslCertPath: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.SSLKeyPath)
	if err != nil {
		return none, fmt.Errorf("sslKeyPath: %w", err)
	}
	if cfg.SSLPassPhrase != "" {
		if keyPEM, err = decryptKey(keyPEM, cfg.SSLPassPhrase); err != nil {
			return none, fmt.Errorf("sslKeyPath with sslPassPhrase: %w", err)
		}
	}
	if cfg.SSLCAPath != "" {
		ca, err := os.ReadFile(cfg.SSLCAPath)
		if err != nil {
			return none, fmt.Errorf("sslCAPath: %w", err)
		}
		certPEM = append(append(certPEM, '\n'), ca...)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return none, fmt.Errorf("sslCertPath/sslKeyPath: %w", err)
	}
	return pair, nil
}

// decryptKey decrypts a legacy PEM-encrypted private key ("Proc-Type: 4,ENCRYPTED"),
// the form a passphrase-protected key made by openssl usually has.
func decryptKey(keyPEM []byte, pass string) ([]byte, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	//lint:ignore SA1019 legacy PEM encryption is what sslPassPhrase keys use; there is no replacement in the standard library.
	if !x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
		return keyPEM, nil
	}
	der, err := x509.DecryptPEMBlock(block, []byte(pass)) //nolint:staticcheck
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
}
