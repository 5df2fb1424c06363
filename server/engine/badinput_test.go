package engine_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/server/engine"
)

// rawHTTP opens a TCP connection to the test server and writes req as is.
func rawHTTP(t *testing.T, ts *testServer, req string) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(ts.url, "http://"), "https://")
	addr = addr[:strings.IndexByte(addr, '/')]
	var c net.Conn
	var err error
	if ts.tls != nil {
		cfg := ts.tls.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return c
}

// resetClose closes c with an RST instead of a FIN.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// TestRSTMidPoll: the client resets the connection of a held GET
// (CVE-2022-41940 crashed engine.io on this). The session ends with a reason and
// another session is untouched.
func TestRSTMidPoll(t *testing.T) {
	ts := newServer(t, engine.Config{})
	other := ts.handshakeV4()
	sid := ts.handshakeV4()
	c := rawHTTP(t, ts, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid))
	waitHeld(t, ts, sid)
	resetClose(c)
	if got := ts.waitClosed(); got != engine.ReasonTransportClose {
		t.Fatalf("reason %v", got)
	}
	q := "EIO=4&transport=polling&sid=" + other
	if r := ts.post(q, "4still here"); r.status != 200 {
		t.Fatalf("other session post %d", r.status)
	}
	if r := ts.get(q); r.body != "4still here" {
		t.Fatalf("other session poll %q", r.body)
	}
}

// TestTruncatedPOST: a body shorter than its Content-Length, then a reset.
func TestTruncatedPOST(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	c := rawHTTP(t, ts, fmt.Sprintf("POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n4abc", sid))
	resetClose(c)
	if got := ts.waitClosed(); got != engine.ReasonTransportError {
		t.Fatalf("reason %v", got)
	}
	if st := ts.eio.Stats(); st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRSTMidHandshakeAndUpgrade: resets during a WebSocket handshake (before
// the server answered) and right after a probe change nothing else.
func TestRSTMidHandshakeAndUpgrade(t *testing.T) {
	ts := newServer(t, engine.Config{})
	// Reset before the 101 is read.
	c := rawHTTP(t, ts, "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resetClose(c)
	// Reset a probe mid-upgrade: the session stays on polling.
	sid := ts.handshakeV4()
	ws, err := dialProbe(ts, sid)
	if err != nil {
		t.Fatal(err)
	}
	resetClose(ws)
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4after"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := ts.get(q); r.body != "4after" {
		t.Fatalf("poll %q", r.body)
	}
}

// dialProbe opens a probe WebSocket for sid and returns the raw connection
// after the 101.
func dialProbe(ts *testServer, sid string) (net.Conn, error) {
	addr := strings.TrimPrefix(strings.TrimPrefix(ts.url, "http://"), "https://")
	addr = addr[:strings.IndexByte(addr, '/')]
	var c net.Conn
	var err error
	if ts.tls != nil {
		cfg := ts.tls.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /engine.io/?EIO=4&transport=websocket&sid=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", sid)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return c, nil
}

// TestMalformedPayloads: each refused with 400, the session closed with a
// parse error, never a panic.
func TestMalformedPayloads(t *testing.T) {
	tt := []struct{ name, eio, body string }{
		{"v4 empty packet between separators", "4", "4a\x1e\x1e4b"},
		{"v4 bad base64", "4", "b!!!"},
		{"v4 unknown type", "4", "9x"},
		{"v3 length past the end", "3", "10:4abc"},
		{"v3 non-digit length", "3", "x:4abc"},
		{"v3 huge length", "3", "99999999999999999999999999:4"},
		{"v3 binary of the wrong type", "3", "6:b5AQID"},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, engine.Config{})
			var sid string
			if tc.eio == "3" {
				sid, _ = ts.handshakeV3("")
			} else {
				sid = ts.handshakeV4()
			}
			if r := ts.post("EIO="+tc.eio+"&transport=polling&sid="+sid, tc.body); r.status != 400 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if got := ts.waitClosed(); got != engine.ReasonParseError {
				t.Fatalf("reason %v", got)
			}
		})
	}
}

// TestWebSocketClientReset: a client that resets its WebSocket (a killed
// tab, or a close with bytes unread) has left, as with a FIN: the reason is
// transport close, as for a reset held poll (TestRSTMidPoll).
func TestWebSocketClientReset(t *testing.T) {
	ts := newServer(t, engine.Config{})
	c, _ := openWS(t, ts, "EIO=4&transport=websocket")
	resetClose(c.NetConn())
	if got := ts.waitClosed(); got != engine.ReasonTransportClose {
		t.Fatalf("reason %v", got)
	}
}
