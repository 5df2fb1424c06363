package engine_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/server/engine"
)

// echoHandler sends every message back and records closes.
type echoHandler struct {
	mu     sync.Mutex
	closed chan engine.CloseReason
}

func (h *echoHandler) OnMessage(s *engine.Session, data []byte, binary bool) {
	if binary {
		_ = s.Send(engine.BinaryMessage(data))
		return
	}
	_ = s.Send(engine.TextMessage(data))
}

func (h *echoHandler) OnClose(_ *engine.Session, r engine.CloseReason) {
	h.closed <- r
}

type testServer struct {
	t      *testing.T
	eio    *engine.Server
	http   *httptest.Server
	url    string // http://127.0.0.1:port/engine.io/
	closed chan engine.CloseReason
	opened chan *engine.Session
}

// newServer starts an echo server on loopback with cfg (short heartbeats unless set).
func newServer(t *testing.T, cfg engine.Config) *testServer {
	t.Helper()
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 5 * time.Second
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = 5 * time.Second
	}
	ts := &testServer{t: t, closed: make(chan engine.CloseReason, 64), opened: make(chan *engine.Session, 64)}
	h := &echoHandler{closed: ts.closed}
	eio, err := engine.New(cfg, func(s *engine.Session) engine.Handler {
		ts.opened <- s
		return h
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	ts.eio = eio
	ts.http = httptest.NewServer(mux)
	ts.url = ts.http.URL + "/engine.io/"
	t.Cleanup(func() {
		ts.http.CloseClientConnections()
		ts.http.Close()
		_ = eio.Close(t.Context())
	})
	return ts
}

// waitClosed waits for the next session close and returns its reason.
func (ts *testServer) waitClosed() engine.CloseReason {
	ts.t.Helper()
	select {
	case r := <-ts.closed:
		return r
	case <-time.After(5 * time.Second):
		ts.t.Fatal("no session closed within 5s")
		return 0
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (ts *testServer) do(method, query string, header http.Header, body string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+"?"+query, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (ts *testServer) get(query string) response { return ts.do("GET", query, nil, "") }
func (ts *testServer) post(query, body string) response {
	return ts.do("POST", query, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, body)
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   *int     `json:"maxPayload"`
}

// handshakeV4 opens an EIO=4 polling session and returns its sid.
func (ts *testServer) handshakeV4() string {
	ts.t.Helper()
	r := ts.get("EIO=4&transport=polling")
	if r.status != 200 || !strings.HasPrefix(r.body, "0{") {
		ts.t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(r.body[1:]), &op); err != nil {
		ts.t.Fatal(err)
	}
	return op.SID
}

// wsClient is a minimal RFC 6455 client with raw frame access, so tests can also
// send what a well-behaved library never would.
type wsClient struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

var errHandshake = errors.New("websocket handshake refused")

func dialWS(rawURL string) (*wsClient, error) {
	u := strings.Replace(rawURL, "http://", "", 1)
	hostEnd := strings.IndexByte(u, '/')
	host, path := u[:hostEnd], u[hostEnd:]
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, k)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &wsClient{conn: conn, br: br, resp: resp}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return c, errHandshake
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, errors.New("bad Sec-WebSocket-Accept")
	}
	return c, nil
}

// writeFrame sends one masked frame with the given first byte (FIN/RSV/opcode).
func (c *wsClient) writeFrame(b0 byte, payload []byte) error {
	hdr := []byte{b0}
	n := len(payload)
	switch {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xFFFF:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, n)
	for i := range payload {
		masked[i] = payload[i] ^ mask[i%4]
	}
	_, err := c.conn.Write(append(hdr, masked...))
	return err
}

func (c *wsClient) sendText(s string) error    { return c.writeFrame(0x81, []byte(s)) }
func (c *wsClient) sendBinary(b []byte) error  { return c.writeFrame(0x82, b) }
func (c *wsClient) close()                     { c.conn.Close() }
func (c *wsClient) setDeadline(d time.Duration) { _ = c.conn.SetDeadline(time.Now().Add(d)) }

// readFrame returns the next frame's opcode and payload (server frames are unmasked).
func (c *wsClient) readFrame() (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0F, p, nil
}

// readData returns the next text or binary message, skipping nothing else.
func (c *wsClient) readData(t *testing.T) (string, bool) {
	t.Helper()
	op, p, err := c.readFrame()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	switch op {
	case 1:
		return string(p), false
	case 2:
		return string(p), true
	}
	t.Fatalf("unexpected opcode %d (payload %q)", op, p)
	return "", false
}

// readClose reads until a close frame or EOF and returns the close code (0 on EOF).
func (c *wsClient) readClose(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		op, p, err := c.readFrame()
		if err != nil {
			return 0
		}
		if op == 8 {
			if len(p) >= 2 {
				return int(binary.BigEndian.Uint16(p))
			}
			return 1005
		}
	}
	t.Fatal("no close after 100 frames")
	return 0
}

func wsURL(ts *testServer, query string) string { return ts.url + "?" + query }
