package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/cluster"
	"github.com/socketd/socketd/server/engine"
)

// newNode starts an echo server that is one node of the cluster in reg.
func newNode(t testing.TB, reg cluster.Registry, cfg engine.Config) *testServer {
	t.Helper()
	if cfg.PingInterval == 0 {
		// Long heartbeats: a close seen within the tests' bounds was seen at
		// once, not by a ping timeout.
		cfg.PingInterval, cfg.PingTimeout = time.Minute, time.Minute
	}
	return newServer(t, cfg, func(base string, cfg *engine.Config) {
		n, err := cluster.Start(context.Background(), cluster.Config{URL: base, Registry: reg, TagLen: engine.NodeTagLen})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		cfg.Nodes = n
	})
}

// newPair starts two nodes on one in-memory registry.
func newPair(t testing.TB, cfg engine.Config) (a, b *testServer) {
	reg := cluster.NewMemory()
	return newNode(t, reg, cfg), newNode(t, reg, cfg)
}

func tagOf(ts *testServer) string { return ts.eio.Config().Nodes.Tag() }

// polling handshakes on a and checks the sid names a.
func handshakeOn(t testing.TB, a *testServer) string {
	t.Helper()
	sid := a.handshakeV4()
	if len(sid) != 20 || !strings.HasPrefix(sid, tagOf(a)) {
		t.Fatalf("sid %q does not start with the node tag %q", sid, tagOf(a))
	}
	return sid
}

func waitBridges(t testing.TB, ts *testServer, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ts.eio.Stats().Bridges != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d bridges open, want %d", ts.eio.Stats().Bridges, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// Every polling request reaching the wrong node is served by the owner.
func TestForwardPolling(t *testing.T) {
	a, b := newPair(t, engine.Config{})
	sid := handshakeOn(t, a)
	q := "EIO=4&transport=polling&sid=" + sid
	if r := b.post(q, "4hello\x1e4world"); r.status != 200 || r.body != "ok" {
		t.Fatalf("POST through b: %d %q", r.status, r.body)
	}
	if r := b.get(q); r.status != 200 || r.body != "4hello\x1e4world" {
		t.Fatalf("GET through b: %d %q", r.status, r.body)
	}
	if _, ok := b.eio.Session(sid); ok {
		t.Fatal("b has a session it only forwarded")
	}
	if st := b.eio.Stats(); st.Forwarded != 2 || st.Sessions != 0 {
		t.Fatalf("b stats %+v", st)
	}
	if st := a.eio.Stats(); st.Forwarded != 0 || st.Sessions != 1 {
		t.Fatalf("a stats %+v", st)
	}
	waitBridges(t, b, 0)
	// Handshakes are served where they land.
	if sid2 := handshakeOn(t, b); sid2[:3] == sid[:3] {
		t.Fatal("b made a sid with a's tag")
	}
}

// A GET held through another node is parked on the owner, released the moment
// the owner has something, and costs the forwarding node a bridge, not a
// goroutine, until then.
func TestForwardHeldPoll(t *testing.T) {
	for _, mode := range []string{"loop", "goroutines"} {
		t.Run(mode, func(t *testing.T) {
			a, b := newPair(t, engine.Config{})
			if mode == "goroutines" {
				engine.CopyBridges(b.eio)
			}
			sid := handshakeOn(t, a)
			q := "EIO=4&transport=polling&sid=" + sid
			held := make(chan response, 1)
			go func() { held <- b.get(q) }()
			s := waitParked(t, a, sid)
			waitBridges(t, b, 1)
			if err := s.Send(engine.TextMessage([]byte("pushed"))); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-held:
				if r.status != 200 || r.body != "4pushed" {
					t.Fatalf("held GET: %d %q", r.status, r.body)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the held GET was not released through the bridge")
			}
			waitBridges(t, b, 0)
		})
	}
}

// A big answer to a slow reader reaches it whole before the bridge closes.
func TestForwardLargeAnswerDrained(t *testing.T) {
	a, b := newPair(t, engine.Config{})
	sid := handshakeOn(t, a)
	s, _ := a.eio.Session(sid)
	big := strings.Repeat("x", 3<<20)
	if err := s.Send(engine.TextMessage([]byte(big))); err != nil {
		t.Fatal(err)
	}
	// A small receive buffer (set before connecting, so the window agrees)
	// makes a slow reader: nbio keeps what the kernel does not take.
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(b.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != len(big)+1 || string(body[1:]) != big {
		t.Fatalf("answer of %d bytes (%v), want %d", len(body), err, len(big)+1)
	}
	if !resp.Close {
		t.Fatal("a forwarded poll answer without Connection: close")
	}
	_ = c.Close() // as a client does after such an answer; the bridge follows
	waitBridges(t, b, 0)
}

// The client dropping a poll held through another node ends the session on
// the owner at once: the bridge closes its side too.
func TestForwardDroppedPoll(t *testing.T) {
	a, b := newPair(t, engine.Config{})
	sid := handshakeOn(t, a)
	c := rawHTTP(t, b, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid))
	waitParked(t, a, sid)
	_ = c.Close()
	if got := a.waitClosed(); got != engine.ReasonTransportClose {
		t.Fatalf("reason %v, want transport close", got)
	}
	waitBridges(t, b, 0)
}

// The upgrade through another node: the probe and the upgrade go to the owner,
// the poll held through a third path is released by the owner's noop, and a
// WebSocket that closes ends the session on the owner at once.
func TestForwardUpgrade(t *testing.T) {
	for _, mode := range []string{"loop", "goroutines"} {
		t.Run(mode, func(t *testing.T) {
			a, b := newPair(t, engine.Config{})
			if mode == "goroutines" {
				engine.CopyBridges(b.eio)
			}
			sid := handshakeOn(t, a)
			q := "EIO=4&transport=polling&sid=" + sid
			held := make(chan response, 1)
			go func() { held <- b.get(q) }()
			waitParked(t, a, sid)
			c, err := testutil.DialWS(wsURL(b, "EIO=4&transport=websocket&sid="+sid))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SendText("2probe")
			if d, _ := c.ReadData(t); d != "3probe" {
				t.Fatalf("probe answer %q", d)
			}
			select {
			case r := <-held:
				if r.body != "6" {
					t.Fatalf("held GET %d %q, want a noop", r.status, r.body)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the poll held through b was not released by the upgrade")
			}
			_ = c.SendText("5")
			_ = c.SendText("4over websocket")
			if d, _ := c.ReadData(t); d != "4over websocket" {
				t.Fatalf("echo %q", d)
			}
			s, _ := a.eio.Session(sid)
			if s.Transport() != engine.WebSocket {
				t.Fatal("the owner's session is not on WebSocket")
			}
			_ = s.Send(engine.TextMessage([]byte("push")))
			if d, _ := c.ReadData(t); d != "4push" {
				t.Fatalf("push %q", d)
			}
			c.Close()
			if got := a.waitClosed(); got != engine.ReasonTransportClose {
				t.Fatalf("reason %v, want transport close", got)
			}
			waitBridges(t, b, 0)
		})
	}
}

// The owner closing the session reaches a client connected through another node.
func TestForwardWebSocketServerClose(t *testing.T) {
	a, b := newPair(t, engine.Config{})
	sid := handshakeOn(t, a)
	c, err := testutil.DialWS(wsURL(b, "EIO=4&transport=websocket&sid="+sid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SendText("2probe")
	if d, _ := c.ReadData(t); d != "3probe" {
		t.Fatalf("probe answer %q", d)
	}
	_ = c.SendText("5")
	s, _ := a.eio.Session(sid)
	deadline := time.Now().Add(5 * time.Second)
	for s.Transport() != engine.WebSocket && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if d, _ := c.ReadData(t); d != "1" {
		t.Fatalf("close packet %q", d)
	}
	if code := c.ReadClose(t); code != 1000 {
		t.Fatalf("close code %d", code)
	}
	if _, _, err := c.ReadFrame(); err != io.EOF {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	c.Close()
	waitBridges(t, b, 0)
}

// EIO=3 with JSONP (polling-only 2.x clients) through another node.
func TestForwardJSONP(t *testing.T) {
	a, b := newPair(t, engine.Config{})
	r := a.get("EIO=3&transport=polling&j=0")
	var inner string
	if err := json.Unmarshal([]byte(r.body[len(`___eio[0](`):len(r.body)-2]), &inner); err != nil {
		t.Fatalf("handshake %q: %v", r.body, err)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(inner[strings.IndexByte(inner, ':')+2:]), &op); err != nil {
		t.Fatal(err)
	}
	q := "EIO=3&transport=polling&j=0&sid=" + op.SID
	form := "d=" + url.QueryEscape("6:4hello")
	if pr := b.do("POST", q, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form); pr.status != 200 || pr.body != "ok" {
		t.Fatalf("jsonp POST through b: %d %q", pr.status, pr.body)
	}
	if r := b.get(q); r.body != `___eio[0]("6:4hello");` {
		t.Fatalf("jsonp GET through b: %q", r.body)
	}
}

// Unknown owners get the error of an unknown sid, quickly; a forwarded request
// is never forwarded again, so nodes that disagree cannot loop.
func TestForwardRefused(t *testing.T) {
	reg := cluster.NewMemory()
	a, b := newNode(t, reg, engine.Config{}), newNode(t, reg, engine.Config{})
	// A node that is registered but gone: its port refuses connections.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	ctx := context.Background()
	if err := reg.Announce(ctx, cluster.Member{ID: "dead", Tag: "ddd", URL: deadURL}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A node that a's and b's table say is at a's address: a must not send the
	// request it got from b anywhere.
	if err := reg.Announce(ctx, cluster.Member{ID: "liar", Tag: "LLL", URL: strings.TrimSuffix(a.http.URL, "/")}, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantUnknown := func(name string, r response) {
		t.Helper()
		var body struct{ Code int }
		if r.status != 400 || json.Unmarshal([]byte(r.body), &body) != nil || body.Code != 1 {
			t.Fatalf("%s: %d %q, want 400 code 1", name, r.status, r.body)
		}
	}
	for _, tc := range []struct{ name, sid string }{
		{"no such node", "zzz" + strings.Repeat("x", 17)},
		{"owner unreachable", "ddd" + strings.Repeat("x", 17)},
		{"forwarded back", "LLL" + strings.Repeat("x", 17)},
		{"own tag", tagOf(b) + strings.Repeat("x", 17)},
		{"short sid", "ab"},
	} {
		q := "EIO=4&transport=polling&sid=" + tc.sid
		wantUnknown(tc.name+" GET", b.get(q))
		wantUnknown(tc.name+" POST", b.post(q, "4x"))
		if c, err := testutil.DialWS(wsURL(b, "EIO=4&transport=websocket&sid="+tc.sid)); err == nil {
			c.Close()
			t.Fatalf("%s: WebSocket upgrade accepted", tc.name)
		}
	}
	if st := a.eio.Stats(); st.Forwarded != 0 {
		t.Fatalf("a forwarded %d requests it got from b", st.Forwarded)
	}
	if st := b.eio.Stats(); st.ForwardFailed == 0 {
		t.Fatalf("b counted no failure: %+v", st)
	}
	// A client sending the marker itself only stops the forwarding of its request.
	sid := handshakeOn(t, a)
	r := b.do("GET", "EIO=4&transport=polling&sid="+sid, http.Header{"Socketd-Forwarded": {"x"}}, "")
	wantUnknown("marked by the client", r)
}

// Without Nodes the sids are what they always were; with them, still 20
// characters of the same alphabet.
func TestSIDShape(t *testing.T) {
	a, _ := newPair(t, engine.Config{})
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		sid := handshakeOn(t, a)
		for _, c := range sid {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", c) {
				t.Fatalf("sid %q has %q", sid, c)
			}
		}
		if seen[sid] {
			t.Fatalf("sid %q twice", sid)
		}
		seen[sid] = true
	}
	if _, err := engine.New(engine.Config{Nodes: badTag{}}, func(*engine.Session) engine.Handler { return nil }); err == nil {
		t.Fatal("a bad node tag was accepted")
	}
}

type badTag struct{}

func (badTag) Tag() string                                    { return "a/b" }
func (badTag) NodeURL(context.Context, string) (string, bool) { return "", false }

// A forwarded request keeps what the owner needs of it: Origin for CORS, the
// client's address in X-Forwarded-For, the body.
func TestForwardKeepsRequest(t *testing.T) {
	cfg := engine.Config{CORS: engine.CORSConfig{AllowedOrigins: []string{"https://site.example"}}}
	a, b := newPair(t, cfg)
	sid := handshakeOn(t, a)
	q := "EIO=4&transport=polling&sid=" + sid
	r := b.do("POST", q, http.Header{"Origin": {"https://site.example"}, "Content-Type": {"text/plain"}}, "4"+strings.Repeat("é", 1000))
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://site.example" {
		t.Fatalf("POST: %d %v", r.status, r.header)
	}
	r = b.do("GET", q, http.Header{"Origin": {"https://site.example"}}, "")
	if r.body != "4"+strings.Repeat("é", 1000) || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("GET: %q %v", r.body[:10], r.header)
	}
	if n, _ := strconv.Atoi(r.header.Get("Content-Length")); n != len(r.body) {
		t.Fatalf("Content-Length %q for %d bytes", r.header.Get("Content-Length"), len(r.body))
	}
}

// A GET that cannot be hijacked (HTTP/2 over TLS) is forwarded through the
// pooled client and streamed: held on the owner, released when it has something.
func TestForwardHTTP2Poll(t *testing.T) {
	reg := cluster.NewMemory()
	a := newNode(t, reg, engine.Config{})
	srv := httptest.NewUnstartedServer(nil)
	n, err := cluster.Start(context.Background(), cluster.Config{URL: "https://" + srv.Listener.Addr().String(), Registry: reg, TagLen: engine.NodeTagLen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	b, err := engine.New(engine.Config{Nodes: n}, func(*engine.Session) engine.Handler { return &echoHandler{closed: make(chan engine.CloseReason, 8)} })
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = b
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); _ = b.Close(context.Background()) })

	sid := handshakeOn(t, a)
	held := make(chan string, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			held <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		held <- resp.Proto + " " + string(body)
	}()
	s := waitPoll(t, a, sid, engine.PollHeld, "GET never held")
	_ = s.Send(engine.TextMessage([]byte("over h2")))
	select {
	case got := <-held:
		if got != "HTTP/2.0 4over h2" {
			t.Fatalf("held GET: %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the HTTP/2 poll was not released")
	}
	if st := b.Stats(); st.Forwarded != 1 {
		t.Fatalf("b stats %+v", st)
	}
}
