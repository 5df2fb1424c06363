package engine_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

// from returns a view of ts whose requests leave from the loopback address
// ip, another client address to the server (on 127.0.0.1).
func (ts *testServer) from(ip string) *testServer {
	c := *ts
	c.client = testutil.HTTPClientFrom(ip)
	ts.t.Cleanup(c.client.CloseIdleConnections)
	return &c
}

// wantRefused checks a handshake refused at a limit: status, Engine.IO error
// body (code 4, the message of the limit).
func wantRefused(t *testing.T, r response, status int, message string) {
	t.Helper()
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if r.status != status || json.Unmarshal([]byte(r.body), &body) != nil || body.Code != 4 || body.Message != message {
		t.Fatalf("got %d %q, want %d {code 4, %q}", r.status, r.body, status, message)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}

// echoes checks that session sid still works: a message posted comes back.
func (ts *testServer) echoes(sid string) {
	ts.t.Helper()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4ping"); r.status != 200 {
		ts.t.Fatalf("post on %s: %d %q", sid, r.status, r.body)
	}
	if r := ts.get(q); r.body != "4ping" {
		ts.t.Fatalf("poll on %s: %d %q", sid, r.status, r.body)
	}
}

// clientClose ends session sid from the client side and waits for the end.
func (ts *testServer) clientClose(sid string) {
	ts.t.Helper()
	if r := ts.post("EIO=4&transport=polling&sid="+sid, "1"); r.status != 200 {
		ts.t.Fatalf("close post %d", r.status)
	}
	if got := ts.waitClosed(); got != engine.ReasonClientClose {
		ts.t.Fatalf("reason %v", got)
	}
}

func TestLimitMaxSessions(t *testing.T) {
	ts := newServer(t, engine.Config{Limits: engine.Limits{MaxSessions: 2}})
	a, b := ts.from("127.0.0.2"), ts.from("127.0.0.3")
	first, second := a.handshakeV4(), b.handshakeV4()
	wantRefused(t, b.get("EIO=4&transport=polling"), http.StatusServiceUnavailable, "Too many connections")
	// A WebSocket handshake is refused before the upgrade, with the same answer.
	ws, err := testutil.DialWSFrom(wsURL(ts, "EIO=4&transport=websocket"), "127.0.0.4", nil)
	if !errors.Is(err, testutil.ErrHandshake) || ws.Resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("websocket handshake at the limit: %v", err)
	}
	// The sessions open are not touched.
	a.echoes(first)
	b.echoes(second)
	st := ts.eio.Stats()
	if st.Limited[engine.LimitSessions] != 2 || st.Sessions != 2 || st.Refused[4] != 0 {
		t.Fatalf("stats: limited %v, sessions %d, refused %v", st.Limited, st.Sessions, st.Refused)
	}
	// A session that ends makes room.
	a.clientClose(first)
	b.echoes(b.handshakeV4())
}

func TestLimitSessionsPerIP(t *testing.T) {
	ts := newServer(t, engine.Config{Limits: engine.Limits{MaxSessionsPerIP: 2}})
	a, b := ts.from("127.0.0.2"), ts.from("127.0.0.3")
	a1, a2 := a.handshakeV4(), a.handshakeV4()
	wantRefused(t, a.get("EIO=4&transport=polling"), http.StatusTooManyRequests, "Too many connections from this address")
	ws, err := testutil.DialWSFrom(wsURL(ts, "EIO=4&transport=websocket"), "127.0.0.2", nil)
	if !errors.Is(err, testutil.ErrHandshake) || ws.Resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("websocket handshake at the limit: %v", err)
	}
	// Another address is not affected, nor are a's sessions.
	b1, b2 := b.handshakeV4(), b.handshakeV4()
	for _, sid := range []string{a1, a2} {
		a.echoes(sid)
	}
	for _, sid := range []string{b1, b2} {
		b.echoes(sid)
	}
	if st := ts.eio.Stats(); st.Limited[engine.LimitSessionsPerIP] != 2 || st.TrackedAddresses != 2 {
		t.Fatalf("stats: limited %v, tracked %d", st.Limited, st.TrackedAddresses)
	}
	// One of a's sessions ends: a may open one again, over WebSocket too.
	a.clientClose(a1)
	ws, err = testutil.DialWSFrom(wsURL(ts, "EIO=4&transport=websocket"), "127.0.0.2", nil)
	if err != nil {
		t.Fatalf("websocket handshake after a close: %v", err)
	}
	ws.Close()
	if got := ts.waitClosed(); got != engine.ReasonTransportClose {
		t.Fatalf("reason %v", got)
	}
	// Every session gone, no address is remembered (no rate limit to keep).
	a.clientClose(a2)
	b.clientClose(b1)
	b.clientClose(b2)
	if st := ts.eio.Stats(); st.TrackedAddresses != 0 || st.Sessions != 0 {
		t.Fatalf("after the closes: tracked %d, sessions %d", st.TrackedAddresses, st.Sessions)
	}
}

func TestLimitHandshakeRatePerIP(t *testing.T) {
	// One handshake per 100 s after a burst of 3: the test cannot outlast
	// the burst's recovery.
	ts := newServer(t, engine.Config{Limits: engine.Limits{HandshakeRatePerIP: 0.01, HandshakeBurstPerIP: 3}})
	a, b := ts.from("127.0.0.2"), ts.from("127.0.0.3")
	var sids []string
	for range 3 {
		sids = append(sids, a.handshakeV4())
	}
	// Sessions that ended do not give handshakes back: the rate counts
	// handshakes, not sessions.
	a.clientClose(sids[0])
	r := a.get("EIO=4&transport=polling")
	wantRefused(t, r, http.StatusTooManyRequests, "Too many handshakes from this address")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 90 || s > 100 {
		t.Fatalf("Retry-After %q, want about 100 s", r.header.Get("Retry-After"))
	}
	b.echoes(b.handshakeV4())
	for _, sid := range sids[1:] {
		a.echoes(sid)
	}
	if st := ts.eio.Stats(); st.Limited[engine.LimitHandshakeRatePerIP] != 1 {
		t.Fatalf("limited %v", st.Limited)
	}
}

// TestTrustedProxies: behind a trusted proxy the client is the address it
// forwarded for, in the limits and Session.ClientIP; from anyone else
// X-Forwarded-For is ignored, and so is the cluster's Socketd-Forwarded mark
// (handshakes are never forwarded: the node that receives one counts it).
func TestTrustedProxies(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.2/32")
	ts := newServer(t, engine.Config{
		TrustedProxies: []netip.Prefix{proxy},
		Limits:         engine.Limits{MaxSessionsPerIP: 1},
	})
	viaProxy := func(client string) response {
		return ts.from("127.0.0.2").do("GET", "EIO=4&transport=polling", http.Header{"X-Forwarded-For": {"6.6.6.6, " + client}}, "")
	}
	if r := viaProxy("198.51.100.1"); r.status != 200 {
		t.Fatalf("first client through the proxy: %d %q", r.status, r.body)
	}
	if s := <-ts.opened; s.ClientIP() != netip.MustParseAddr("198.51.100.1") {
		t.Fatalf("client %v", s.ClientIP())
	}
	// The proxy's second client is another address; the first one's second
	// session is refused.
	if r := viaProxy("198.51.100.2"); r.status != 200 {
		t.Fatalf("second client through the proxy: %d %q", r.status, r.body)
	}
	<-ts.opened
	wantRefused(t, viaProxy("198.51.100.1"), http.StatusTooManyRequests, "Too many connections from this address")

	// Not from the proxy: the header is the client's word, not believed.
	spoof := http.Header{"X-Forwarded-For": {"198.51.100.3"}, "Socketd-Forwarded": {"abc"}}
	if r := ts.from("127.0.0.3").do("GET", "EIO=4&transport=polling", spoof, ""); r.status != 200 {
		t.Fatalf("direct client: %d %q", r.status, r.body)
	}
	if s := <-ts.opened; s.ClientIP() != netip.MustParseAddr("127.0.0.3") {
		t.Fatalf("direct client seen as %v", s.ClientIP())
	}
	spoof.Set("X-Forwarded-For", "198.51.100.4")
	wantRefused(t, ts.from("127.0.0.3").do("GET", "EIO=4&transport=polling", spoof, ""),
		http.StatusTooManyRequests, "Too many connections from this address")
}

// TestLimitsOffByDefault: the zero Config counts nothing per address.
func TestLimitsOffByDefault(t *testing.T) {
	ts := newServer(t, engine.Config{})
	a := ts.from("127.0.0.2")
	for range 20 {
		a.handshakeV4()
	}
	if st := ts.eio.Stats(); st.Sessions != 20 || st.TrackedAddresses != 0 || st.Limited != [engine.NumLimits]uint64{} {
		t.Fatalf("stats %+v", st)
	}
}

func TestLimitNames(t *testing.T) {
	for l := range engine.NumLimits {
		if s := l.String(); s == "" || strings.HasPrefix(s, "Limit(") {
			t.Errorf("limit %d has no name", l)
		}
	}
	for _, r := range []engine.CloseReason{engine.ReasonHandshakeTimeout, engine.ReasonMessageRate} {
		if s := r.String(); strings.HasPrefix(s, "CloseReason(") {
			t.Errorf("reason %d has no name", r)
		}
	}
}

// TestForwardKeepsClientAddress: a session's address is its handshake's, on
// the node that received the handshake; requests another node forwards to
// it (with X-Forwarded-For, even from a trusted node, and whatever the
// client wrote there) neither change it nor count anywhere.
func TestForwardKeepsClientAddress(t *testing.T) {
	cfg := engine.Config{
		Limits:         engine.Limits{MaxSessionsPerIP: 1},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, // the nodes
	}
	a, b := newPair(t, cfg)
	ca, cb := a.from("127.0.0.2"), b.from("127.0.0.2")
	sid := handshakeOn(t, ca)
	s := <-a.opened
	q := "EIO=4&transport=polling&sid=" + sid
	spoof := http.Header{"X-Forwarded-For": {"198.51.100.7"}, "Content-Type": {"text/plain"}}
	for range 3 {
		if r := cb.do("POST", q, spoof, "4ping"); r.status != 200 {
			t.Fatalf("POST through b: %d %q", r.status, r.body)
		}
		if r := cb.get(q); r.body != "4ping" {
			t.Fatalf("GET through b: %d %q", r.status, r.body)
		}
	}
	if got := s.ClientIP(); got != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("session's client %v", got)
	}
	if st := b.eio.Stats(); st.Forwarded != 6 || st.TrackedAddresses != 0 {
		t.Fatalf("b: forwarded %d, addresses %d", st.Forwarded, st.TrackedAddresses)
	}
	if st := a.eio.Stats(); st.TrackedAddresses != 1 {
		t.Fatalf("a: addresses %d", st.TrackedAddresses)
	}
	// The limits are per node: a refuses the address a second session, b
	// gives it one.
	wantRefused(t, ca.get("EIO=4&transport=polling"), http.StatusTooManyRequests, "Too many connections from this address")
	handshakeOn(t, cb)
}
