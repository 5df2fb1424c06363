// Package polltls terminates TLS with crypto/tls on connections that nbio's
// event loop can take over.
//
// Its listener wraps every accepted TCP connection in a Transport and returns
// tls.Server over it, so net/http sees an ordinary *tls.Conn: the handshake,
// ALPN (HTTP/2 included), Request.TLS, session tickets and GetCertificate work
// as with http.Server.ServeTLS, and the handshake is bounded by the server's
// own timeouts. While net/http owns the connection the Transport passes reads
// and writes straight to the TCP socket. Once a handler has hijacked it (a
// WebSocket upgrade), Detach moves the socket onto the poller: from then on the
// poller hands each batch of ciphertext to Feed, which decrypts it through the
// same *tls.Conn without a goroutine, and writes go out with the poller's
// non-blocking write. An idle connection then costs the TLS state
// (crypto/tls's Conn, its record keys and the input buffers it keeps) and no
// goroutine or full-size read buffer. docs/DESIGN.md ("TLS on the event loop")
// has the measurements this was chosen by.
package polltls

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
)

// NewListener returns a listener whose Accept gives *tls.Conn server
// connections over a *Transport, configured by cfg. Accept does not run the
// handshake: net/http does, on the connection's goroutine, with its deadlines.
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	return &listener{Listener: inner, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		// Only a TCP socket can move to the poller; anything else is served
		// as crypto/tls would serve it.
		return tls.Server(c, l.cfg), nil
	}
	return tls.Server(&Transport{tcp: tcp}, l.cfg), nil
}

// Transport is the net.Conn under one TLS server connection: the TCP socket
// while net/http owns the connection, the poller's connection after Detach.
type Transport struct {
	tcp *net.TCPConn
	nbc atomic.Pointer[nbio.Conn]
	// attached: the caller has added nbc to an engine (Attached); nbio
	// cannot write on a connection no poller owns yet.
	attached atomic.Bool
	// pending is the ciphertext Feed is handing to crypto/tls; only the
	// poller's read path (one call at a time per connection) touches it.
	pending []byte
}

// Of returns the Transport under tc, or nil when tc was not accepted by a
// listener of this package.
func Of(tc *tls.Conn) *Transport {
	t, _ := tc.NetConn().(*Transport)
	return t
}

// errWouldBlock tells crypto/tls that the ciphertext handed in so far is used
// up. It is a timeout, so crypto/tls keeps the partial record it has read and
// its state stays usable (as after a read deadline).
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "polltls: no more input" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// Read reads from the socket before Detach; after it, it returns what Feed is
// handing in, then errWouldBlock.
func (t *Transport) Read(p []byte) (int, error) {
	if t.nbc.Load() == nil {
		return t.tcp.Read(p)
	}
	if len(t.pending) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, t.pending)
	t.pending = t.pending[n:]
	return n, nil
}

// Write writes to the socket; after Detach it is nbio's non-blocking write,
// which keeps what the kernel does not take (bounded by the engine's
// MaxWriteBufferSize; past it the write fails with nbio.ErrOverflow).
func (t *Transport) Write(p []byte) (int, error) {
	if c := t.nbc.Load(); c != nil {
		if !t.attached.Load() {
			return 0, errNotAttached
		}
		return c.Write(p)
	}
	return t.tcp.Write(p)
}

// errNotAttached refuses a write between Detach and Attached (crypto/tls
// writes an alert, or a KeyUpdate answer, while Feed drains what it had
// read): the connection is not on a poller yet.
var errNotAttached = errors.New("polltls: write before the connection is on a poller")

// Attached tells the Transport that its nbio connection was added to an
// engine: writes go to it from now on.
func (t *Transport) Attached() { t.attached.Store(true) }

// Close closes the socket.
func (t *Transport) Close() error {
	if c := t.nbc.Load(); c != nil {
		return c.Close()
	}
	return t.tcp.Close()
}

// LocalAddr returns the local address.
func (t *Transport) LocalAddr() net.Addr { return t.tcp.LocalAddr() }

// RemoteAddr returns the peer's address.
func (t *Transport) RemoteAddr() net.Addr { return t.tcp.RemoteAddr() }

// SetDeadline sets the socket's deadlines. After Detach deadlines are
// ignored: nbio's close the connection when they pass (crypto/tls sets one
// around its close_notify), and the poller bounds a connection's writes by
// bytes, not time.
func (t *Transport) SetDeadline(d time.Time) error {
	if t.nbc.Load() != nil {
		return nil
	}
	return t.tcp.SetDeadline(d)
}

// SetReadDeadline sets the read deadline (ignored after Detach).
func (t *Transport) SetReadDeadline(d time.Time) error {
	if t.nbc.Load() != nil {
		return nil
	}
	return t.tcp.SetReadDeadline(d)
}

// SetWriteDeadline sets the write deadline (ignored after Detach).
func (t *Transport) SetWriteDeadline(d time.Time) error {
	if t.nbc.Load() != nil {
		return nil
	}
	return t.tcp.SetWriteDeadline(d)
}

// Detach moves the socket to a non-blocking nbio connection, to be added to
// an nbio engine by the caller, who then calls Attached. Call it once, after
// the connection was hijacked from net/http (no read or write in progress).
// The *tls.Conn keeps working over it: reads through Feed, writes through the
// poller (refused until Attached).
func (t *Transport) Detach() (*nbio.Conn, error) {
	if t.nbc.Load() != nil {
		return nil, errors.New("polltls: already detached")
	}
	_ = t.tcp.SetDeadline(time.Time{})
	c, err := nbio.NBConn(t.tcp) // duplicates the descriptor and closes t.tcp
	if err != nil {
		return nil, err
	}
	t.nbc.Store(c)
	return c, nil
}

// readBufs are the plaintext buffers Feed decrypts into, shared by every
// connection: none keeps one while idle.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// Feed decrypts ciphertext (what the poller read; nil to drain what crypto/tls
// already holds) through tc and passes each plaintext chunk to fn, which must
// not keep it. It returns nil once the input is used up, fn's error, or the
// TLS error that ends the connection (io.EOF after the peer's close_notify;
// an alert has been sent for a bad record). Calls for one connection must not
// overlap: the poller's read path serialises them.
func Feed(tc *tls.Conn, ciphertext []byte, fn func(plain []byte) error) error {
	t := Of(tc)
	if t == nil {
		return errors.New("polltls: not a polltls connection")
	}
	t.pending = ciphertext
	defer func() { t.pending = nil }()
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for {
		n, err := tc.Read(*bp)
		if n > 0 {
			if ferr := fn((*bp)[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				return nil
			}
			return err
		}
	}
}

// Client returns a TLS client connection over tcp that can later move to a
// poller (Detach, Feed) as a server connection does: socketd's load client
// (bench/socketbench) keeps its idle wss clients on its event loop with it.
func Client(tcp *net.TCPConn, cfg *tls.Config) *tls.Conn {
	return tls.Client(&Transport{tcp: tcp}, cfg)
}
