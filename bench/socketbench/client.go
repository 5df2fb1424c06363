package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
	"github.com/socketd/socketd/internal/polltls"
	"github.com/socketd/socketd/internal/wsframe"
)

// Client states. A client moves forward only; stClosed is final.
const (
	stDialing   int32 = iota
	stOpen            // Engine.IO open packet received
	stConnected       // Socket.IO root namespace connected, authenticate sent
	stAuthed          // clientAuthenticated received
	stClosed
)

// client is one simulated browser. It holds no goroutine and no read buffer
// while idle in poll mode: the parse state below is all it keeps (pend is nil
// unless a frame arrived split across reads).
type client struct {
	b   *bench
	idx int32
	st  atomic.Int32

	nc net.Conn                  // the dialled connection (blocking phase, goroutine mode)
	nb atomic.Pointer[nbio.Conn] // set when the connection moved to the poller
	tc *tls.Conn                 // over TLS on the poller: reads are fed through it (set under mu, before nb)

	// mu guards the parse state: the connect worker, then the poller or the
	// reader goroutine, feed bytes; the mutex is uncontended and gives the race
	// detector the ordering that epoll gives the program.
	mu     sync.Mutex
	pend   []byte // unparsed tail (a frame split across reads)
	msg    []byte // fragmented message being reassembled
	failed error  // why the flow failed before authentication
}

// errAuthFailed and friends end a client's flow before it is authenticated.
var (
	errNamespaceRefused = errors.New("socket.io namespace connect refused")
	errServerClose      = errors.New("server closed the session")
	errFrame            = errors.New("malformed websocket frame")
)

// feedTLS is polltls.Feed's callback: plaintext from the poller.
func (c *client) feedTLS(p []byte) error {
	c.feed(p)
	return nil
}

// out is where frames go: the poller's connection (through TLS when the
// client speaks it), or the dialled connection.
func (c *client) out() io.Writer {
	if nb := c.nb.Load(); nb != nil {
		if c.tc != nil {
			return c.tc
		}
		return nb
	}
	return c.nc
}

// write sends one masked client text frame.
func (c *client) write(payload string) error {
	var buf [256]byte
	f := appendClientFrame(buf[:0], 0x81, []byte(payload))
	_, err := c.out().Write(f)
	return err
}

func (c *client) writeControl(op byte, payload []byte) {
	var buf [160]byte
	f := appendClientFrame(buf[:0], 0x80|op, payload)
	_, _ = c.out().Write(f)
}

// appendClientFrame appends a masked frame with a cheap, varying mask key (a
// load client needs no unpredictable keys, only not the same one every time).
func appendClientFrame(dst []byte, b0 byte, payload []byte) []byte {
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], maskSeed.Add(0x9E3779B9))
	return wsframe.AppendClient(dst, b0, payload, key)
}

var maskSeed atomic.Uint32

// feed consumes bytes read from the server. c.mu must be held.
func (c *client) feed(data []byte) {
	now := c.b.now()
	if len(c.pend) > 0 {
		c.pend = append(c.pend, data...)
		data = c.pend
	}
	for len(data) > 0 {
		n, err := c.frame(data, now)
		if err != nil {
			c.fail(err)
			c.closeConn()
			return
		}
		if n == 0 {
			break
		}
		data = data[n:]
	}
	switch {
	case len(data) == 0:
		if cap(c.pend) > 4096 {
			c.pend = nil
		} else {
			c.pend = c.pend[:0]
		}
	case len(c.pend) > 0 && &data[len(data)-1] == &c.pend[len(c.pend)-1]:
		// data is a tail of pend: move it to the front.
		c.pend = c.pend[:copy(c.pend, data)]
	default:
		c.pend = append(c.pend[:0], data...)
	}
}

const maxFrame = 16 << 20

// frame handles one complete frame at the start of d and returns its length,
// or 0 when d holds only part of a frame.
func (c *client) frame(d []byte, now int64) (int, error) {
	if len(d) < 2 {
		return 0, nil
	}
	b0, b1 := d[0], d[1]
	fin, op := b0&0x80 != 0, b0&0x0f
	n, h := int(b1&0x7f), 2
	switch n {
	case 126:
		if len(d) < 4 {
			return 0, nil
		}
		n, h = int(binary.BigEndian.Uint16(d[2:])), 4
	case 127:
		if len(d) < 10 {
			return 0, nil
		}
		l := binary.BigEndian.Uint64(d[2:])
		if l > maxFrame {
			return 0, errFrame
		}
		n, h = int(l), 10
	}
	var key []byte
	if b1&0x80 != 0 { // servers must not mask, but tolerate it
		if len(d) < h+4 {
			return 0, nil
		}
		key = d[h : h+4]
		h += 4
	}
	if len(d) < h+n {
		return 0, nil
	}
	p := d[h : h+n]
	if key != nil {
		for i := range p {
			p[i] ^= key[i&3]
		}
	}
	switch op {
	case 0x0: // continuation
		if c.msg == nil {
			return 0, errFrame
		}
		c.msg = append(c.msg, p...)
		if len(c.msg) > maxFrame {
			return 0, errFrame
		}
		if fin {
			m := c.msg
			c.msg = nil
			c.message(m, now)
		}
	case 0x1, 0x2:
		if !fin {
			c.msg = append(make([]byte, 0, 2*len(p)), p...)
		} else {
			c.message(p, now)
		}
	case 0x8:
		c.fail(errServerClose)
		c.writeControl(0x8, nil)
		c.closeConn()
	case 0x9:
		c.writeControl(0xA, p)
	case 0xA:
	default:
		return 0, errFrame
	}
	return h + n, nil
}

var (
	keyPingInterval = []byte(`"pingInterval":`)
	keySeq          = []byte(`"sbseq":`)
	keySentAt       = []byte(`"sbts":`) // cluster runs: ns since the coordinator's base
	keyClientAuth   = []byte(`"clientAuthenticated"`)
)

// message handles one Engine.IO packet.
func (c *client) message(p []byte, now int64) {
	if len(p) == 0 {
		return
	}
	b := c.b
	switch p[0] {
	case '0': // open
		if v, ok := intAfter(p, keyPingInterval); ok && v > 0 {
			b.pingIntervalMs.CompareAndSwap(0, int64(v))
		}
		c.st.CompareAndSwap(stDialing, stOpen)
		if b.cfg.EIO == 4 {
			_ = c.write("40")
		}
	case '1': // close
		c.fail(errServerClose)
		c.closeConn()
	case '2': // ping: answered in EIO=4, where the server pings
		if b.cfg.EIO == 4 {
			_ = c.write("3")
		}
	case '4':
		c.socketio(p[1:], now)
	}
}

// socketio handles one Socket.IO packet on the root namespace.
func (c *client) socketio(p []byte, now int64) {
	if len(p) == 0 {
		return
	}
	if len(p) > 1 && p[1] == '/' { // another namespace: not ours
		return
	}
	b := c.b
	switch p[0] {
	case '0': // connect
		if c.st.CompareAndSwap(stOpen, stConnected) || c.st.CompareAndSwap(stDialing, stConnected) {
			_ = c.write(`42["authenticate",{"authToken":"tok-` + strconv.Itoa(int(c.idx)) + `"}]`)
		}
	case '1':
		c.fail(errNamespaceRefused)
		c.closeConn()
	case '4':
		c.fail(errNamespaceRefused)
		c.closeConn()
	case '2': // event
		if c.st.Load() != stAuthed {
			if bytes.Contains(p, keyClientAuth) && c.st.CompareAndSwap(stConnected, stAuthed) {
				b.onAuthed(c)
			}
			return
		}
		seq, ok := intAfter(p, keySeq)
		if !ok {
			b.unexpected.Add(1)
			return
		}
		var sentAt int64
		if b.wall {
			if ts, ok := intAfter(p, keySentAt); ok {
				sentAt = int64(ts)
			}
		}
		b.deliver(c, seq, now, sentAt)
	}
}

// intAfter parses the unsigned integer following key in p.
func intAfter(p, key []byte) (int, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, false
	}
	p = p[i+len(key):]
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
		p = p[1:]
	}
	v, digits := 0, 0
	for _, ch := range p {
		if ch < '0' || ch > '9' || digits > 15 {
			break
		}
		v = v*10 + int(ch-'0')
		digits++
	}
	return v, digits > 0
}

func (c *client) fail(err error) {
	if c.failed == nil {
		c.failed = err
	}
}

// closeConn closes the connection; onClosed runs from the read side.
func (c *client) closeConn() {
	if nb := c.nb.Load(); nb != nil {
		_ = nb.Close()
		return
	}
	_ = c.nc.Close()
}

// onClosed runs once the connection is gone (read error or poller close).
func (c *client) onClosed() {
	for {
		st := c.st.Load()
		if st == stClosed {
			return
		}
		if c.st.CompareAndSwap(st, stClosed) {
			c.b.onClientClosed(c, st)
			return
		}
	}
}

// dialer opens TCP connections from the configured source addresses.
type dialer struct {
	targets []dialTarget // client i connects to targets[i%len(targets)]
	path    string       // e.g. /socket.io/?EIO=4&transport=websocket
	srcs    []*net.TCPAddr
	timeout time.Duration
	rcvbuf  int // SO_RCVBUF when > 0 (soak: slow consumers that stop reading)
}

// ipBindAddressNoPort (IP_BIND_ADDRESS_NO_PORT, linux/in.h) defers the choice of
// the source port to connect(), so one source address is not limited to one
// port per connection across all destinations.
const ipBindAddressNoPort = 24

func (d *dialer) netDialer(i int) *net.Dialer {
	nd := &net.Dialer{Timeout: d.timeout}
	if len(d.srcs) > 0 {
		nd.LocalAddr = d.srcs[i%len(d.srcs)]
	}
	if len(d.srcs) == 0 && d.rcvbuf == 0 {
		return nd
	}
	nd.Control = func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if len(d.srcs) > 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			}
			if serr == nil && d.rcvbuf > 0 {
				// Before connect, so that the window offered stays small.
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, d.rcvbuf)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	return nd
}

// handshake dials and completes the WebSocket opening handshake (RFC 6455 §4.1).
// It returns the connection and any bytes read past the response headers.
func (d *dialer) handshake(i int, deadline time.Time) (net.Conn, []byte, error) {
	t := d.targets[i%len(d.targets)]
	nc, err := d.netDialer(i).Dial("tcp", t.addr)
	if err != nil {
		return nil, nil, err
	}
	_ = nc.SetDeadline(deadline)
	if t.tls != nil {
		// A TLS client the poller can take over after authentication.
		tc := polltls.Client(nc.(*net.TCPConn), t.tls)
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = tc
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + d.path + " HTTP/1.1\r\nHost: " + t.host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, err
	}
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= 16<<10 {
				nc.Close()
				return nil, nil, errors.New("handshake response too large")
			}
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if end := bytes.Index(buf, []byte("\r\n\r\n")); end >= 0 {
			hdr := buf[:end+4]
			if !bytes.HasPrefix(hdr, []byte("HTTP/1.1 101")) {
				line, _, _ := bytes.Cut(hdr, []byte("\r\n"))
				nc.Close()
				return nil, nil, fmt.Errorf("websocket upgrade refused: %s", line)
			}
			sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			want := base64.StdEncoding.EncodeToString(sum[:])
			if !bytes.Contains(bytes.ToLower(hdr), []byte("sec-websocket-accept: "+lowerASCII(want))) {
				nc.Close()
				return nil, nil, errors.New("bad Sec-WebSocket-Accept")
			}
			var rest []byte
			if len(buf) > end+4 {
				rest = append([]byte(nil), buf[end+4:]...)
			}
			return nc, rest, nil
		}
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
}

// dialTarget is one server (a cluster node) clients connect to.
type dialTarget struct {
	addr string      // host:port
	host string      // Host header
	tls  *tls.Config // https:// servers: the client's TLS configuration
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}
