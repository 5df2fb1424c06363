package polltls_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/socketd/socketd/internal/polltls"
	"github.com/socketd/socketd/internal/testutil"
)

// recorder keeps what the client writes, so the test can hand the server's
// Feed the exact ciphertext, cut as it likes.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.buf.Bytes())
	r.buf.Reset()
	return b
}

// pair returns a handshaken server connection from a polltls listener,
// detached from its socket, and a client whose writes are recorded.
func pair(t *testing.T) (*tls.Conn, *tls.Conn, *recorder) {
	t.Helper()
	p := testutil.NewTLSPair(t, "polltls")
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := polltls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{p.Cert}})
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil {
			accepted <- nil
			return
		}
		accepted <- tc
	}()
	raw, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Conn: raw}
	cfg := p.ClientConfig()
	cfg.ServerName = "127.0.0.1"
	client := tls.Client(rec, cfg)
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() { client.Close(); srv.Close() })
	tr := polltls.Of(srv)
	if tr == nil {
		t.Fatal("accepted connection is not over a polltls Transport")
	}
	if _, err := tr.Detach(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Detach(); err == nil {
		t.Fatal("second Detach accepted")
	}
	rec.take() // the handshake
	return srv, client, rec
}

// Feed decrypts ciphertext however the poller cuts it: records split at any
// byte, several records in one read; nothing comes out before a record is
// whole, and nothing is lost or repeated.
func TestFeedSplitRecords(t *testing.T) {
	srv, client, rec := pair(t)
	if err := polltls.Feed(srv, nil, func([]byte) error { t.Fatal("plaintext from no input"); return nil }); err != nil {
		t.Fatalf("drain with nothing read: %v", err)
	}
	for _, chunk := range []int{1, 2, 7, 100, 1 << 20} {
		want := []byte(fmt.Sprintf("chunks of %d: %s", chunk, bytes.Repeat([]byte("0123456789"), 2000)))
		if _, err := client.Write(want[:100]); err != nil { // two writes: two records or more
			t.Fatal(err)
		}
		if _, err := client.Write(want[100:]); err != nil {
			t.Fatal(err)
		}
		cipher := rec.take()
		var got []byte
		for len(cipher) > 0 {
			n := min(chunk, len(cipher))
			if err := polltls.Feed(srv, cipher[:n], func(p []byte) error { got = append(got, p...); return nil }); err != nil {
				t.Fatalf("chunks of %d: %v", chunk, err)
			}
			cipher = cipher[n:]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chunks of %d: got %d bytes, want %d", chunk, len(got), len(want))
		}
	}
}

// A record that does not authenticate ends the connection with an error
// (crypto/tls answers with an alert); the error stays.
func TestFeedBadRecord(t *testing.T) {
	srv, _, _ := pair(t)
	bad := append([]byte{0x17, 0x03, 0x03, 0x00, 0x20}, bytes.Repeat([]byte{0xAA}, 32)...)
	if err := polltls.Feed(srv, bad, func([]byte) error { return nil }); err == nil {
		t.Fatal("a forged record was accepted")
	}
	if err := polltls.Feed(srv, nil, func([]byte) error { return nil }); err == nil {
		t.Fatal("the connection went on after a forged record")
	}
}

// Feed refuses a connection that is not over a polltls Transport.
func TestFeedForeignConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := polltls.Feed(tls.Server(a, &tls.Config{}), nil, func([]byte) error { return nil }); err == nil {
		t.Fatal("Feed accepted a connection it does not own")
	}
}
