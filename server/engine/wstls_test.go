package engine_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

func openWSS(t *testing.T, ts *testServer, query string) *testutil.WSClient {
	t.Helper()
	c, err := testutil.DialWSTLS(wsURL(ts, query), ts.tls)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	if d, _ := c.ReadData(t); !strings.HasPrefix(d, "0{") {
		t.Fatalf("first frame %q", d)
	}
	return c
}

// goroutinesAtMost waits (bounded) for the number of goroutines to fall to n.
func goroutinesAtMost(t *testing.T, n int) int {
	t.Helper()
	var got int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = runtime.NumGoroutine(); got <= n {
			return got
		}
	}
	return got
}

// WebSockets over TLS run on the poller: echo works both ways, a broadcast
// frame reaches every connection, and idle connections hold no goroutine.
func TestWebSocketTLSOnPoller(t *testing.T) {
	ts := newTLSServer(t, engine.Config{})
	warm := openWSS(t, ts, "EIO=4&transport=websocket") // starts the event loop
	<-ts.opened
	_ = warm.SendText("4warm")
	if d, _ := warm.ReadData(t); d != "4warm" {
		t.Fatalf("echo %q", d)
	}
	base := goroutinesAtMost(t, runtime.NumGoroutine())
	const n = 20
	clients := make([]*testutil.WSClient, n)
	for i := range clients {
		clients[i] = openWSS(t, ts, "EIO=4&transport=websocket")
	}
	// net/http's connection goroutines end at the hijack; nothing replaces them.
	if got := goroutinesAtMost(t, base+2); got > base+2 {
		t.Fatalf("%d goroutines for %d idle wss connections (%d before)", got, n, base)
	}
	for i, c := range clients {
		msg := fmt.Sprintf("4hello %d €", i)
		_ = c.SendText(msg)
		if d, bin := c.ReadData(t); bin || d != msg {
			t.Fatalf("echo %q", d)
		}
	}
	f := engine.TextMessage([]byte("to all"))
	for i := 0; i < n; i++ {
		s := <-ts.opened
		if err := s.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range clients {
		if d, _ := c.ReadData(t); d != "4to all" {
			t.Fatalf("broadcast %q", d)
		}
	}
	// A large message crosses several TLS records and poller reads.
	big := "4" + strings.Repeat("x", 100_000)
	_ = clients[0].SendText(big)
	if d, _ := clients[0].ReadData(t); d != big {
		t.Fatalf("large echo: %d bytes", len(d))
	}
}

// The polling-to-WebSocket upgrade over TLS: the probe moves to the poller
// and the queue flushes on it.
func TestUpgradeOverTLS(t *testing.T) {
	ts := newTLSServer(t, engine.Config{})
	sid := ts.handshakeV4()
	c, err := testutil.DialWSTLS(wsURL(ts, "EIO=4&transport=websocket&sid="+sid), ts.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SendText("2probe")
	if d, _ := c.ReadData(t); d != "3probe" {
		t.Fatalf("probe answer %q", d)
	}
	s, _ := ts.eio.Session(sid)
	_ = s.Send(engine.TextMessage([]byte("queued")))
	_ = c.SendText("5")
	if d, _ := c.ReadData(t); d != "4queued" {
		t.Fatalf("flushed %q", d)
	}
	_ = c.SendText("4after")
	if d, _ := c.ReadData(t); d != "4after" {
		t.Fatalf("echo %q", d)
	}
}

// Held GETs over TLS (HTTP/1.1) are parked on the event loop: no goroutine
// each; a wake-up answers with the queue and Connection: close.
func TestParkedPollOverTLS(t *testing.T) {
	ts := newTLSServer(t, engine.Config{})
	warm := openWSS(t, ts, "EIO=4&transport=websocket") // starts the event loop
	<-ts.opened
	_ = warm
	const n = 20
	sids := make([]string, n)
	for i := range sids {
		sids[i] = ts.handshakeV4()
		<-ts.opened
	}
	base := goroutinesAtMost(t, runtime.NumGoroutine())
	conns := make([]net.Conn, n)
	for i, sid := range sids {
		conns[i] = rawHTTP(t, ts, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid))
		defer conns[i].Close()
	}
	sessions := make([]*engine.Session, n)
	for i, sid := range sids {
		sessions[i] = waitParked(t, ts, sid)
	}
	if got := goroutinesAtMost(t, base+2); got > base+2 {
		t.Fatalf("%d goroutines for %d parked TLS polls (%d before)", got, n, base)
	}
	for i, s := range sessions {
		if err := s.Send(engine.TextMessage([]byte(fmt.Sprintf("hello %d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("4hello %d", i) || !resp.Close {
			t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
		}
	}
}

// A client that closes its parked GET's TLS connection ends the session at
// once, as over plain HTTP.
func TestParkedPollOverTLSClientLeaves(t *testing.T) {
	ts := newTLSServer(t, engine.Config{})
	sid := ts.handshakeV4()
	<-ts.opened
	c := rawHTTP(t, ts, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid))
	waitParked(t, ts, sid)
	_ = c.Close()
	if r := ts.waitClosed(); r != engine.ReasonTransportClose {
		t.Fatalf("reason %v", r)
	}
}

// HTTP/2 (what browsers negotiate over TLS) keeps polling working; its held
// GETs stay in the handler (a stream cannot be hijacked).
func TestPollingOverHTTP2(t *testing.T) {
	ts := newTLSServer(t, engine.Config{})
	tr := &http.Transport{TLSClientConfig: ts.tls, ForceAttemptHTTP2: true}
	ts.client = &http.Client{Timeout: 5 * time.Second, Transport: tr}
	sid := ts.handshakeV4()
	type answer struct {
		proto int
		body  string
		err   error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := ts.client.Get(ts.url + "?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp.ProtoMajor, string(b), err}
	}()
	s := waitPoll(t, ts, sid, engine.PollHeld, "GET never held")
	if engine.PollParked(s) {
		t.Fatal("an HTTP/2 GET was parked")
	}
	_ = s.Send(engine.TextMessage([]byte("over h2")))
	if a := <-got; a.err != nil || a.proto != 2 || a.body != "4over h2" {
		t.Fatalf("poll: HTTP/%d %q %v", a.proto, a.body, a.err)
	}
}

// Garbage after the upgrade (not a TLS record) closes the connection at once,
// with an alert, and the session ends.
func TestWebSocketTLSGarbageRecord(t *testing.T) {
	ts := newTLSServer(t, engine.Config{})
	c := openWSS(t, ts, "EIO=4&transport=websocket")
	<-ts.opened
	tc := c.NetConn().(*tls.Conn)
	if _, err := tc.NetConn().Write([]byte("\x17\x03\x03\x00\x20not a sealed record at all......")); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(5 * time.Second)
	if _, _, err := c.ReadFrame(); err == nil {
		t.Fatal("connection still open after a bad record")
	}
	if r := ts.waitClosed(); r != engine.ReasonTransportError {
		t.Fatalf("reason %v", r)
	}
}

// TLS terminated by something other than socketd's listener (here httptest)
// still serves WebSockets, in nbio's blocking mode.
func TestWebSocketForeignTLS(t *testing.T) {
	ts := newEngine(t, engine.Config{})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", ts.eio)
	hs := httptest.NewTLSServer(mux)
	t.Cleanup(func() { hs.Close(); _ = ts.eio.Close(t.Context()) })
	ts.url = hs.URL + "/engine.io/"
	ts.tls = &tls.Config{RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	c := openWSS(t, ts, "EIO=4&transport=websocket")
	_ = c.SendText("4foreign")
	if d, _ := c.ReadData(t); d != "4foreign" {
		t.Fatalf("echo %q", d)
	}
}
