package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/testutil"
)

func writePair(t *testing.T, dir string, p *testutil.TLSPair) (string, string) {
	t.Helper()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, p.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, p.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// Bad input on the TLS port (a plain HTTP request, a handshake that stalls
// or stops half-way, records that are not TLS, garbage after the handshake)
// is closed within the server's bounds, and nothing it started outlives it.
func TestTLSBadInput(t *testing.T) {
	pair := testutil.NewTLSPair(t, "bad input")
	cert, key := writePair(t, t.TempDir(), pair)
	a := startTestApp(t, shortLimits(nodejsconfig.Config{Scheme: "https", SSLCertPath: cert, SSLKeyPath: key}))
	baseline, _ := goroutines()
	raw := func() net.Conn {
		c, err := net.Dial("tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	plain := raw()
	io.WriteString(plain, "GET /nodejs/health/check HTTP/1.1\r\nHost: x\r\n\r\n")
	stalled := raw()
	half := raw()
	half.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")) // a ClientHello header promising 512 bytes
	garbage := raw()
	garbage.Write([]byte("\x16\x03\x01\x00\x05hello"))
	notTLS := raw()
	notTLS.Write([]byte("\x00\x01\x02\x03 this is not TLS at all\r\n\r\n"))
	after, err := tls.Dial("tcp", a.addr, pair.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = after.Close() })
	after.NetConn().Write([]byte("\x17\x03\x03\x00\x10sixteen bytes!!!"))

	if got := waitClosed(t, plain, "plain HTTP on the TLS port"); !strings.HasPrefix(got, "HTTP/1.0 400 Bad Request") {
		t.Errorf("plain HTTP request answered %q, want a 400", got)
	}
	waitClosed(t, stalled, "a handshake that never starts")
	waitClosed(t, half, "half a ClientHello")
	waitClosed(t, garbage, "a bad handshake record")
	waitClosed(t, notTLS, "bytes that are not TLS")
	_ = after.SetReadDeadline(time.Now().Add(limitWait))
	if _, err := after.Read(make([]byte, 1)); err == nil {
		t.Error("a bad record after the handshake did not close the connection")
	} else if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("a bad record after the handshake: still open after %v", limitWait)
	}
	waitGoroutines(t, baseline)
}

// SIGHUP reloads the key pair: new handshakes get the new certificate, the
// connections already open go on; a pair that does not load is refused with
// an error in the log and the one in force stays.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	first := testutil.NewTLSPair(t, "first")
	cert, key := writePair(t, dir, first)
	a := startTestApp(t, nodejsconfig.Config{Scheme: "https", SSLCertPath: cert, SSLKeyPath: key})
	a.app.certs.reloadOnSIGHUP(t.Context())

	ws, err := testutil.DialWSTLS("https://"+a.addr+"/socket.io/?EIO=4&transport=websocket", first.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if d, _ := ws.ReadData(t); !strings.HasPrefix(d, "0{") {
		t.Fatalf("open packet %q", d)
	}
	served := func(p *testutil.TLSPair) error {
		c, err := tls.Dial("tcp", a.addr, p.ClientConfig())
		if err != nil {
			return err
		}
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != p.Cert.Leaf.Subject.CommonName {
			return fmt.Errorf("served %q", cn)
		}
		return nil
	}
	if err := served(first); err != nil {
		t.Fatal(err)
	}

	second := testutil.NewTLSPair(t, "second")
	writePair(t, dir, second)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(limitWait); served(second) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("new handshakes not served the new certificate: %v\n%s", served(second), a.logs)
		}
	}
	// The connection opened before the reload goes on.
	if err := ws.SendText("40"); err != nil {
		t.Fatal(err)
	}
	if d, _ := ws.ReadData(t); !strings.HasPrefix(d, "40{") {
		t.Fatalf("old connection after reload: %q", d)
	}

	// A key that does not match the certificate is refused.
	if err := os.WriteFile(key, first.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(limitWait); !strings.Contains(a.logs.String(), "TLS certificate reload refused"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", a.logs)
		}
	}
	if !strings.Contains(a.logs.String(), "level=ERROR") {
		t.Errorf("refusal not logged as an error:\n%s", a.logs)
	}
	if err := served(second); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}
}
