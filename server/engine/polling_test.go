package engine_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/server/engine"
)

func TestHandshakeErrors(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	tt := []struct {
		name, method, query string
		status, code        int
	}{
		{"missing EIO", "GET", "transport=polling", 400, 5},
		{"non-numeric EIO", "GET", "EIO=abc&transport=polling", 400, 5},
		{"EIO 5", "GET", "EIO=5&transport=polling", 400, 5},
		{"missing transport", "GET", "EIO=4", 400, 0},
		{"unknown transport", "GET", "EIO=4&transport=abc", 400, 0},
		{"POST handshake", "POST", "EIO=4&transport=polling", 400, 2},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", 400, 2},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, 1},
		{"websocket transport without upgrade", "GET", "EIO=4&transport=websocket", 400, 3},
		{"revision differs from session", "GET", "EIO=3&transport=polling&sid=" + sid, 400, 3},
		{"bad jsonp index", "GET", "EIO=3&transport=polling&j=x", 400, 3},
		{"PUT on session", "PUT", "EIO=4&transport=polling&sid=" + sid, 400, 3},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.method, tc.query, nil, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.body)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			if body.Code != tc.code || body.Message == "" {
				t.Fatalf("body %+v, want code %d", body, tc.code)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

func TestHandshakeV4Exact(t *testing.T) {
	ts := newServer(t, engine.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	r := ts.get("EIO=4&transport=polling")
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body[1:]), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 5 || string(m["upgrades"]) != `["websocket"]` || string(m["pingInterval"]) != "300" ||
		string(m["pingTimeout"]) != "200" || string(m["maxPayload"]) != "1000000" {
		t.Fatalf("open packet %s", r.body)
	}
	var sid string
	_ = json.Unmarshal(m["sid"], &sid)
	if len(sid) != 20 || strings.Trim(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("sid %q is not 20 chars of [A-Za-z0-9_-]", sid)
	}
	if r.header.Get("Set-Cookie") != "" {
		t.Fatal("cookie set without Config.Cookie")
	}
}

func TestPollingEchoV4(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4hello\x1ebAQIDBA==\x1e4€𝄞"); r.status != 200 || r.body != "ok" {
		t.Fatalf("post: %d %q", r.status, r.body)
	}
	if r := ts.get(q); r.body != "4hello\x1ebAQIDBA==\x1e4€𝄞" {
		t.Fatalf("poll: %q", r.body)
	}
}

func TestPollingHeldGETReleasedBySend(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	got := make(chan response, 1)
	go func() { got <- ts.get(q) }()
	// The POST's echo must reach the GET whether it was held first or not.
	if r := ts.post(q, "4x"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := <-got; r.body != "4x" {
		t.Fatalf("poll %q", r.body)
	}
}

func TestPollingUndecodablePOSTClosesSession(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "abc"); r.status != 400 {
		t.Fatalf("post status %d", r.status)
	}
	if got := ts.waitClosed(); got != engine.ReasonParseError {
		t.Fatalf("reason %v", got)
	}
	if r := ts.get(q); r.status != 400 {
		t.Fatalf("poll after close: %d", r.status)
	}
}

func TestPollingDuplicateGETClosesSession(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	first := make(chan response, 1)
	go func() { first <- ts.get(q) }()
	waitHeld(t, ts, sid)
	if second := ts.get(q + "&t=burst"); second.status != 400 {
		t.Fatalf("second GET answered %d %q", second.status, second.body)
	}
	r := <-first
	if r.status != 200 || r.body != "1" {
		t.Fatalf("held GET: %d %q", r.status, r.body)
	}
	if got := ts.waitClosed(); got != engine.ReasonDuplicatePoll {
		t.Fatalf("reason %v", got)
	}
	if r := ts.get(q); r.status != 400 {
		t.Fatalf("after: %d", r.status)
	}
}

func TestPollingClientCloseReleasesGETWithNoop(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	held := make(chan response, 1)
	go func() { held <- ts.get(q) }()
	waitHeld(t, ts, sid)
	if r := ts.post(q, "1"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := <-held; r.body != "6" {
		t.Fatalf("held GET got %q", r.body)
	}
	if got := ts.waitClosed(); got != engine.ReasonClientClose {
		t.Fatalf("reason %v", got)
	}
}

// waitHeld waits until the session has a GET held, observed through the
// server's poll state rather than a sleep.
func waitHeld(t *testing.T, ts *testServer, sid string) {
	t.Helper()
	waitPoll(t, ts, sid, engine.PollHeld, "GET never held")
}

// waitPoll waits, bounded, until state reports true for the session sid and
// returns the session.
func waitPoll(t *testing.T, ts *testServer, sid string, state func(*engine.Session) bool, never string) *engine.Session {
	t.Helper()
	s, ok := ts.eio.Session(sid)
	if !ok {
		t.Fatal("no session")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !state(s) {
		if time.Now().After(deadline) {
			t.Fatal(never)
		}
		time.Sleep(time.Millisecond)
	}
	return s
}

func TestPollingServerCloseDeliversClosePacket(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	s, _ := ts.eio.Session(sid)
	_ = s.Send(engine.TextMessage([]byte("bye")))
	s.Close()
	if r := ts.get("EIO=4&transport=polling&sid=" + sid); r.body != "4bye\x1e1" {
		t.Fatalf("poll after server close: %q", r.body)
	}
	if got := ts.waitClosed(); got != engine.ReasonServerClose {
		t.Fatalf("reason %v", got)
	}
	if r := ts.get("EIO=4&transport=polling&sid=" + sid); r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
}

func TestPollingHeartbeatV4(t *testing.T) {
	ts := newServer(t, engine.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	for i := 0; i < 3; i++ {
		if r := ts.get(q); r.body != "2" {
			t.Fatalf("ping %d: got %q", i, r.body)
		}
		if r := ts.post(q, "3"); r.status != 200 {
			t.Fatalf("pong: %d", r.status)
		}
	}
	// No pong: the session times out.
	if r := ts.get(q); r.body != "2" {
		t.Fatalf("ping: %q", r.body)
	}
	if got := ts.waitClosed(); got != engine.ReasonPingTimeout {
		t.Fatalf("reason %v", got)
	}
}

func TestPollingMaxHTTPBufferSize(t *testing.T) {
	ts := newServer(t, engine.Config{MaxHTTPBufferSize: 1000})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4"+strings.Repeat("a", 999)); r.status != 200 {
		t.Fatalf("at the limit: %d", r.status)
	}
	if r := ts.get(q); len(r.body) != 1000 {
		t.Fatalf("echo len %d", len(r.body))
	}
	if r := ts.post(q, "4"+strings.Repeat("a", 1000)); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the limit: %d %q", r.status, r.body)
	}
	if got := ts.waitClosed(); got != engine.ReasonPayloadTooLarge {
		t.Fatalf("reason %v", got)
	}
}

func TestPollingSlowConsumer(t *testing.T) {
	logs := &logBuffer{}
	ts := newServer(t, engine.Config{MaxQueueBytes: 1 << 10, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	sid := ts.handshakeV4()
	s, _ := ts.eio.Session(sid)
	msg := engine.TextMessage([]byte(strings.Repeat("x", 300)))
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = s.Send(msg)
	}
	if err != engine.ErrSlowConsumer {
		t.Fatalf("err %v", err)
	}
	if got := ts.waitClosed(); got != engine.ReasonSlowConsumer {
		t.Fatalf("reason %v", got)
	}
	if st := ts.eio.Stats(); st.Closed[engine.ReasonSlowConsumer] != 1 || st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The operator is told, with what was queued (four messages of 301 bytes)
	// against what is allowed.
	if l := logs.String(); !strings.Contains(l, `level=WARN msg="engine.io: slow consumer cut off`) ||
		!strings.Contains(l, "sid="+sid+" transport=polling limit_bytes=1024 queued_bytes=1204") {
		t.Fatalf("log:\n%s", l)
	}
}

// logBuffer is a log destination written from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPollingConcurrentSendsKeepOrderPerSender(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	s, _ := ts.eio.Session(sid)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_ = s.Send(engine.TextMessage([]byte{byte('a' + g), byte('0' + i/10), byte('0' + i%10)}))
			}
		}()
	}
	wg.Wait()
	body := ts.get("EIO=4&transport=polling&sid=" + sid).body
	parts := strings.Split(body, "\x1e")
	if len(parts) != 200 {
		t.Fatalf("%d packets", len(parts))
	}
	last := map[byte]string{}
	for _, p := range parts {
		if p[1:] <= last[p[1]] {
			t.Fatalf("out of order: %q after %q", p, last[p[1]])
		}
		last[p[1]] = p[1:]
	}
}

func TestPollingGETRacingClientCloseGetsNoop(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "1"); r.status != 200 {
		t.Fatalf("close post %d", r.status)
	}
	if got := ts.waitClosed(); got != engine.ReasonClientClose {
		t.Fatalf("reason %v", got)
	}
	// A GET the client sent alongside its close is ended cleanly...
	if r := ts.get(q); r.status != 200 || r.body != "6" {
		t.Fatalf("racing GET: %d %q", r.status, r.body)
	}
	// ...but the session is gone for everything else.
	if r := ts.get(q); r.status != 400 {
		t.Fatalf("second GET after close: %d", r.status)
	}
	if r := ts.post(q, "4x"); r.status != 400 {
		t.Fatalf("post after close: %d", r.status)
	}
	if _, ok := ts.eio.Session(sid); ok {
		t.Fatal("closed session still returned by Session")
	}
	if st := ts.eio.Stats(); st.Sessions != 0 || st.Closed[engine.ReasonClientClose] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestShutdownDeliversClosePacket: Close tells polling clients with a close
// packet on their next GET and refuses new sessions meanwhile.
func TestShutdownDeliversClosePacket(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	done := make(chan error, 1)
	go func() { done <- ts.eio.Close(t.Context()) }()
	q := "EIO=4&transport=polling&sid=" + sid
	// The close packet is queued by Close; poll until it arrives (bounded).
	var body string
	for i := 0; i < 100 && body != "1"; i++ {
		body = ts.get(q).body
	}
	if body != "1" {
		t.Fatalf("poll during shutdown %q", body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := ts.get("EIO=4&transport=polling"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("handshake during shutdown: %d", r.status)
	}
	if got := ts.waitClosed(); got != engine.ReasonServerShutdown {
		t.Fatalf("reason %v", got)
	}
}
