package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

// wantDrainRefusal checks the answer to a handshake on a draining server:
// 503 (a balancer may retry it elsewhere) with Engine.IO error code 4.
func wantDrainRefusal(t *testing.T, name string, r response) {
	t.Helper()
	var body struct{ Code int }
	if r.status != http.StatusServiceUnavailable || json.Unmarshal([]byte(r.body), &body) != nil || body.Code != 4 {
		t.Fatalf("%s while draining: %d %q, want 503 code 4", name, r.status, r.body)
	}
}

// waitTold waits until the drain has told one of the sessions to close.
func waitTold(t *testing.T, ts *testServer, sids []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, sid := range sids {
			if s, ok := ts.eio.Session(sid); !ok || engine.Told(s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the drain closed no session within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Shutdown closes WebSocket sessions one after another over the window, each
// with a close packet, and returns once they are gone.
func TestShutdownSpreadsCloses(t *testing.T) {
	const n = 40 // at drainMinRate (100/s): a 400 ms window
	ts := newServer(t, engine.Config{DrainSpread: time.Minute})
	clients := make([]*testutil.WSClient, n)
	for i := range clients {
		clients[i], _ = openWS(t, ts, "EIO=4&transport=websocket")
	}
	window := engine.DrainWindow(t.Context(), time.Minute, n)
	if window != 400*time.Millisecond {
		t.Fatalf("window %v for %d sessions, want 400ms (the minimum rate)", window, n)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- ts.eio.Shutdown(t.Context()) }()
	closedAt := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(10 * time.Second)
			op, p, err := c.ReadFrame()
			closedAt[i] = time.Since(start)
			if err != nil || op != 1 || string(p) != "1" {
				t.Errorf("client %d: %v %d %q, want the close packet", i, err, op, p)
			}
		}()
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if st := ts.eio.Stats(); st.Sessions != 0 || st.Closed[engine.ReasonServerShutdown] != n {
		t.Fatalf("after Shutdown: %d sessions open, %d closed by it", st.Sessions, st.Closed[engine.ReasonServerShutdown])
	}
	// The last of n is due (n-1)/n of the window after the start: a lower
	// bound, which load cannot break.
	last := time.Duration(0)
	for _, d := range closedAt {
		last = max(last, d)
	}
	if due := window * (n - 1) / n; last < due {
		t.Fatalf("the last session closed %v after Shutdown began, before its turn at %v: not spread", last, due)
	}
	wantDrainRefusal(t, "polling handshake", ts.get("EIO=4&transport=polling"))
}

// A draining node refuses handshakes and forwarded upgrades, and serves
// everything else: its open sessions, directly and forwarded by another node,
// and requests it forwards to the other nodes. Shutdown called again goes on.
func TestShutdownServesOpenSessions(t *testing.T) {
	const n = 300 // a 3 s window
	a, b := newPair(t, engine.Config{DrainSpread: time.Minute})
	sidB := handshakeOn(t, b)
	sids := make([]string, n)
	for i := range sids {
		sids[i] = handshakeOn(t, a)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.eio.Shutdown(ctx) }()
	waitTold(t, a, sids)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with its context cancelled: %v", err)
	}
	wantDrainRefusal(t, "polling handshake", a.get("EIO=4&transport=polling"))
	if c, err := testutil.DialWS(wsURL(a, "EIO=4&transport=websocket")); err == nil {
		c.Close()
		t.Fatal("WebSocket handshake accepted while draining")
	}
	if !a.eio.Draining() || b.eio.Draining() {
		t.Fatalf("Draining: a %v, b %v", a.eio.Draining(), b.eio.Draining())
	}
	var open string
	for _, sid := range sids {
		if s, ok := a.eio.Session(sid); ok && !engine.Told(s) {
			open = sid
			break
		}
	}
	if open == "" {
		t.Fatal("every session closed at once")
	}
	// A's open session, directly and through b.
	q := "EIO=4&transport=polling&sid=" + open
	if r := a.post(q, "4direct"); r.status != 200 {
		t.Fatalf("POST to a draining node's open session: %d %q", r.status, r.body)
	}
	if r := b.post(q, "4forwarded"); r.status != 200 {
		t.Fatalf("POST forwarded to a draining node: %d %q", r.status, r.body)
	}
	if r := b.get(q); r.status != 200 || r.body != "4direct\x1e4forwarded" {
		t.Fatalf("GET forwarded to a draining node: %d %q", r.status, r.body)
	}
	// b's session through a: POSTs forwarded; polls and the upgrade refused
	// (a balancer retries those on b), so no bridge outlives the drain.
	qb := "EIO=4&transport=polling&sid=" + sidB
	if r := a.post(qb, "4via a"); r.status != 200 {
		t.Fatalf("POST forwarded by a draining node: %d %q", r.status, r.body)
	}
	wantDrainRefusal(t, "poll for another node's session", a.get(qb))
	if c, err := testutil.DialWS(wsURL(a, "EIO=4&transport=websocket&sid="+sidB)); err == nil {
		c.Close()
		t.Fatal("upgrade forwarded by a draining node")
	}
	if r := b.get(qb); r.status != 200 || r.body != "4via a" {
		t.Fatalf("GET on b: %d %q", r.status, r.body)
	}
	if s, ok := b.eio.Session(sidB); !ok || s.Transport() != engine.Polling {
		t.Fatal("b's session did not stay on polling")
	}
	// A's own sessions' unknown sids are still "Session ID unknown".
	if r := a.get("EIO=4&transport=polling&sid=" + tagOf(a) + strings.Repeat("x", 17)); r.status != 400 {
		t.Fatalf("unknown sid of a draining node: %d %q", r.status, r.body)
	}

	// Shutdown again: the rest are closed, each polling client fetching its
	// close packet on a GET held meanwhile.
	done = make(chan error, 1)
	go func() { done <- a.eio.Shutdown(t.Context()) }()
	var wg sync.WaitGroup
	for _, sid := range sids {
		if _, ok := a.eio.Session(sid); !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := getQuiet(a, "EIO=4&transport=polling&sid="+sid)
			if r.err == nil && (r.status != 200 || !strings.HasSuffix(r.body, "1")) {
				t.Errorf("session %s: %d %q, want the close packet", sid, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if st := a.eio.Stats(); st.Sessions != 0 || st.Closed[engine.ReasonServerShutdown] != n {
		t.Fatalf("a after Shutdown: %d open, %d closed by the drain", st.Sessions, st.Closed[engine.ReasonServerShutdown])
	}
	if st := b.eio.Stats(); st.Sessions != 1 {
		t.Fatalf("b has %d sessions, want its one", st.Sessions)
	}
}

// quietResponse is a GET's outcome without failing the test from a goroutine.
type quietResponse struct {
	status int
	body   string
	err    error
}

func getQuiet(ts *testServer, query string) quietResponse {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(ts.url + "?" + query)
	if err != nil {
		return quietResponse{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return quietResponse{resp.StatusCode, string(b), err}
}

// The sessions of other nodes whose WebSocket or held poll a draining node
// forwards are closed by their owners, at its request, as a drain closes its
// own: a close packet through the bridge, the reason "server shutting down".
// Cut when the node stops, they would end as if their clients had left.
func TestShutdownHandsOffForwarded(t *testing.T) {
	for _, mode := range []string{"websocket", "websocket goroutines", "poll"} {
		t.Run(mode, func(t *testing.T) {
			a, b := newPair(t, engine.Config{DrainSpread: time.Minute})
			if mode == "websocket goroutines" {
				engine.CopyBridges(a.eio)
			}
			sid := handshakeOn(t, b)
			var c *testutil.WSClient
			type heldResult struct {
				r   response
				err error
			}
			var held chan heldResult
			if mode == "poll" {
				held = make(chan heldResult, 1)
				go func() {
					r, err := a.try("GET", "EIO=4&transport=polling&sid="+sid, nil, "", 15*time.Second)
					held <- heldResult{r, err}
				}()
				waitParked(t, b, sid)
			} else {
				var err error
				if c, err = testutil.DialWS(wsURL(a, "EIO=4&transport=websocket&sid="+sid)); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SendText("2probe")
				if d, _ := c.ReadData(t); d != "3probe" {
					t.Fatalf("probe answer %q", d)
				}
				_ = c.SendText("5")
				_ = c.SendText("4upgraded")
				if d, _ := c.ReadData(t); d != "4upgraded" {
					t.Fatalf("echo %q", d)
				}
			}
			waitBridges(t, a, 1)
			// Bounded: a bridge Shutdown does not hand off would hold it
			// until the client gives up. The bridge may still be joining
			// the drain's list here (counted before it is listed): that
			// one must be found too.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- a.eio.Shutdown(ctx) }()
			if c != nil {
				if d, _ := c.ReadData(t); d != "1" {
					t.Fatalf("%q, want the close packet", d)
				}
				c.Close() // as socket.io-client does on a close packet
			} else if h := <-held; h.err != nil || h.r.status != 200 || h.r.body != "1" {
				t.Fatalf("held poll: %d %q (%v), want the close packet", h.r.status, h.r.body, h.err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if got := b.waitClosed(); got != engine.ReasonServerShutdown {
				t.Fatalf("owner's reason %v, want server shutting down", got)
			}
			waitBridges(t, a, 0)
			if b.eio.Draining() {
				t.Fatal("the owner drains too")
			}
		})
	}
}

// The hand-off request: only for a session of the node asked.
func TestHandOffUnknownSession(t *testing.T) {
	a, _ := newPair(t, engine.Config{})
	r := a.do(http.MethodDelete, "sid=nosuchsession", http.Header{"Socketd-Forwarded": {"xyz"}}, "")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"code":1`) {
		t.Fatalf("hand-off of an unknown session: %d %q", r.status, r.body)
	}
	sid := handshakeOn(t, a)
	if r := a.do(http.MethodDelete, "EIO=4&transport=polling&sid="+sid, nil, ""); r.status != http.StatusBadRequest {
		t.Fatalf("DELETE from a client: %d %q", r.status, r.body)
	}
	if _, ok := a.eio.Session(sid); !ok {
		t.Fatal("a client's DELETE closed its session")
	}
}

func TestDrainWindow(t *testing.T) {
	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, tc := range []struct {
		ctx    context.Context
		spread time.Duration
		n      int
		max    time.Duration
		min    time.Duration
	}{
		{context.Background(), 0, 1000, 0, 0},
		{context.Background(), 5 * time.Second, 1, 0, 0},
		{context.Background(), 5 * time.Second, 1000, 5 * time.Second, 5 * time.Second},
		{context.Background(), 5 * time.Second, 10, 100 * time.Millisecond, 100 * time.Millisecond},
		{short, 5 * time.Second, 1000, time.Second, 900 * time.Millisecond},
	} {
		got := engine.DrainWindow(tc.ctx, tc.spread, tc.n)
		if got < tc.min || got > tc.max {
			t.Errorf("spread %v, %d sessions: window %v, want %v..%v", tc.spread, tc.n, got, tc.min, tc.max)
		}
	}
}
