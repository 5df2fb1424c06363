package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/testutil"
)

// How long a test waits for what the bounds promise; the bounds themselves are
// well under a second, so this only fails when they do not hold.
const limitWait = 15 * time.Second

// testApp is socketd serving on a loopback port for a test.
type testApp struct {
	app  *app
	addr string
	tls  *tls.Config // client config when the app serves https
	logs *syncBuffer
}

// startTestApp serves cfg (host and port filled in) until the test ends.
func startTestApp(t *testing.T, cfg nodejsconfig.Config) *testApp {
	t.Helper()
	return startTestAppMode(t, cfg, false)
}

// startTestAppMode is startTestApp, in dev mode if dev.
func startTestAppMode(t *testing.T, cfg nodejsconfig.Config, dev bool) *testApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := newApp(cfg, dev, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// Listening already; serving once the accept loop runs (tests count
	// goroutines from then on) and the startup line is out.
	waitGoroutine(t, "net/http.(*Server).Serve")
	for deadline := time.Now().Add(limitWait); !strings.Contains(logs.String(), `msg="socketd listening"`); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no startup line:\n%s", logs)
		}
	}
	ta := &testApp{app: a, addr: ln.Addr().String(), logs: logs}
	if cfg.Scheme == "https" {
		ta.tls = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's self-signed certificate
	}
	return ta
}

// dial opens a raw connection to the app (TLS when it serves https).
func (a *testApp) dial(t *testing.T) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if a.tls != nil {
		c, err = tls.Dial("tcp", a.addr, a.tls)
	} else {
		c, err = net.Dial("tcp", a.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes a raw request on c and reads the response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(limitWait))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

var sidRE = regexp.MustCompile(`"sid":"([^"]+)"`)

// pollingSession opens an EIO=3 polling session and returns its sid.
func (a *testApp) pollingSession(t *testing.T) string {
	t.Helper()
	c := a.dial(t)
	defer c.Close()
	st, body := roundTrip(t, c, bufio.NewReader(c), "GET /socket.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
	m := sidRE.FindStringSubmatch(body)
	if st != 200 || m == nil {
		t.Fatalf("handshake: %d %q", st, body)
	}
	return m[1]
}

// closeSession ends a polling session from the client side, so that the
// server's shutdown need not wait for it to fetch its close packet.
func (a *testApp) closeSession(t *testing.T, sid string) {
	t.Helper()
	c := a.dial(t)
	defer c.Close()
	if st, body := roundTrip(t, c, bufio.NewReader(c), fmt.Sprintf("POST /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n1:1", sid)); st != 200 {
		t.Fatalf("close POST %d %q", st, body)
	}
}

// waitClosed reads c until the server closes it (EOF or reset); it fails if
// that takes longer than limitWait. It returns what was read.
func waitClosed(t *testing.T, c net.Conn, what string) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limitWait))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: still open after %v", what, limitWait)
	}
	return string(b)
}

// goroutines counts the running goroutines, leaving out nbio's task pool
// workers, which nbio starts and retires by itself.
func goroutines() (int, string) {
	buf := make([]byte, 4<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for g := range strings.SplitSeq(dump, "\n\n") {
		if !strings.Contains(g, "nbio/taskpool.") {
			n++
		}
	}
	return n, dump
}

// waitGoroutines waits (bounded, polling) until at most n goroutines run
// (as goroutines counts them).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(limitWait)
	for {
		got, dump := goroutines()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after %v, baseline %d:\n%s", got, limitWait, n, dump)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGoroutine waits (bounded, polling) until a goroutine runs fn.
func waitGoroutine(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(limitWait)
	for {
		if _, dump := goroutines(); strings.Contains(dump, fn) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine in %s after %v", fn, limitWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func shortLimits(c nodejsconfig.Config) nodejsconfig.Config {
	c.KeepAliveTimeout = nodejsconfig.Duration(200 * time.Millisecond)
	c.HeadersTimeout = nodejsconfig.Duration(300 * time.Millisecond)
	c.BodyTimeout = nodejsconfig.Duration(400 * time.Millisecond)
	return c
}

// Stalled connections (kept alive and idle, half a head, half a body to the
// Drupal API or to a polling session) are closed within their bounds and
// their goroutines end, while a held long-polling GET and an idle WebSocket
// outlive every bound.
func TestHTTPLimitsReleaseStalledConnections(t *testing.T) {
	a := startTestApp(t, shortLimits(nodejsconfig.Config{}))
	sid := a.pollingSession(t)
	ws, err := testutil.DialWS("http://" + a.addr + "/socket.io/?EIO=3&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if d, _ := ws.ReadData(t); !strings.HasPrefix(d, "0{") {
		t.Fatalf("websocket open packet %q", d)
	}
	if d, _ := ws.ReadData(t); d != "40" {
		t.Fatalf("websocket connect packet %q", d)
	}
	// The held GET: parked off net/http (plain HTTP/1.1).
	held := a.dial(t)
	heldBR := bufio.NewReader(held)
	fmt.Fprintf(held, "GET /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid)
	waitGoroutine(t, "engine.(*Server).waitParked")
	baseline, _ := goroutines()

	const perKind = 100
	type stalled struct {
		c    net.Conn
		kind string
	}
	var conns []stalled
	for i := 0; i < perKind; i++ {
		c := a.dial(t)
		if st, _ := roundTrip(t, c, bufio.NewReader(c), "GET /nodejs/health/check HTTP/1.1\r\nHost: x\r\nNodejsServiceKey: k\r\n\r\n"); st != 200 {
			t.Fatalf("health check %d", st)
		}
		conns = append(conns, stalled{c, "idle keep-alive"})
		c = a.dial(t)
		io.WriteString(c, "GET /nodejs/health/check HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, stalled{c, "half a head"})
		c = a.dial(t)
		io.WriteString(c, "POST /nodejs/publish HTTP/1.1\r\nHost: x\r\nNodejsServiceKey: k\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"broadcast\":")
		conns = append(conns, stalled{c, "half an API body"})
	}
	// Half a polling POST body: the session's POST is refused, the session
	// ends (its transport failed) and the connection is closed.
	post := a.dial(t)
	fmt.Fprintf(post, "POST /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\n1:", a.pollingSession(t))
	conns = append(conns, stalled{post, "half a polling body"})
	for _, s := range conns {
		got := waitClosed(t, s.c, s.kind)
		// A body cut by its deadline is answered 400 before the close.
		if strings.Contains(s.kind, "body") && !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Errorf("%s: server wrote %q before closing, want a 400", s.kind, got)
		}
	}
	waitGoroutines(t, baseline)

	// Every bound has passed: the held GET and the WebSocket are still there.
	if err := ws.SendText("2"); err != nil {
		t.Fatal(err)
	}
	if d, _ := ws.ReadData(t); d != "3" {
		t.Fatalf("websocket ping answered %q, want pong", d)
	}
	c := a.dial(t)
	if st, body := roundTrip(t, c, bufio.NewReader(c), fmt.Sprintf("POST /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n1:2", sid)); st != 200 {
		t.Fatalf("polling ping POST %d %q", st, body)
	}
	_ = held.SetReadDeadline(time.Now().Add(limitWait))
	resp, err := http.ReadResponse(heldBR, nil)
	if err != nil {
		t.Fatalf("held GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "1:3" {
		t.Fatalf("held GET answered %d %q, want the pong", resp.StatusCode, body)
	}
	a.closeSession(t, sid)
}

// Over TLS a held GET is parked too (off net/http, as over plain HTTP): no
// read deadline may cut it either.
func TestHTTPLimitsKeepHeldPollOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir, "pass")
	a := startTestApp(t, shortLimits(nodejsconfig.Config{Scheme: "https", SSLCertPath: cert, SSLKeyPath: key, SSLPassPhrase: "pass"}))
	sid := a.pollingSession(t)
	held := a.dial(t)
	heldBR := bufio.NewReader(held)
	fmt.Fprintf(held, "GET /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid)
	// A body stalled past its bound proves the bounds have passed.
	stall := a.dial(t)
	io.WriteString(stall, "POST /nodejs/publish HTTP/1.1\r\nHost: x\r\nNodejsServiceKey: k\r\nContent-Length: 100\r\n\r\n{")
	if got := waitClosed(t, stall, "half a body over TLS"); !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Fatalf("stalled body answered %q, want a 400", got)
	}
	c := a.dial(t)
	if st, _ := roundTrip(t, c, bufio.NewReader(c), fmt.Sprintf("POST /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n1:2", sid)); st != 200 {
		t.Fatalf("polling ping POST %d", st)
	}
	_ = held.SetReadDeadline(time.Now().Add(limitWait))
	resp, err := http.ReadResponse(heldBR, nil)
	if err != nil {
		t.Fatalf("held GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "1:3" {
		t.Fatalf("held GET answered %d %q, want the pong", resp.StatusCode, body)
	}
	a.closeSession(t, sid)
}

// Past maxHalfOpenConnections new connections are closed at once, with one
// warning; those admitted are served; none of it outlives the clients.
func TestHTTPLimitsHalfOpenCap(t *testing.T) {
	const limit = 20
	cfg := nodejsconfig.Config{MaxHalfOpenConnections: limit, HeadersTimeout: nodejsconfig.Duration(time.Minute)}
	a := startTestApp(t, cfg)
	baseline, _ := goroutines()
	conns := make([]net.Conn, 2*limit)
	for i := range conns {
		conns[i] = a.dial(t)
	}
	// Each connection is read on its own goroutine; closed counts those the
	// server ended.
	var mu sync.Mutex
	closed := map[int]bool{}
	changed := make(chan struct{}, len(conns))
	for i, c := range conns {
		go func() {
			_, _ = io.Copy(io.Discard, c)
			mu.Lock()
			closed[i] = true
			mu.Unlock()
			changed <- struct{}{}
		}()
	}
	timeout := time.After(limitWait)
	for n := 0; n < limit; n++ {
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d of %d connections closed at the cap, want %d", n, len(conns), limit)
		}
	}
	// The admitted ones are served.
	mu.Lock()
	var open []net.Conn
	for i, c := range conns {
		if !closed[i] {
			open = append(open, c)
		}
	}
	mu.Unlock()
	if len(open) != limit {
		t.Fatalf("%d connections left open, want %d", len(open), limit)
	}
	if _, err := io.WriteString(open[0], "GET /nodejs/health/check HTTP/1.1\r\nHost: x\r\nNodejsServiceKey: k\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select { // its reader sees the answer, then the close
	case <-changed:
	case <-time.After(limitWait):
		t.Fatal("an admitted connection was not served")
	}
	if !strings.Contains(a.logs.String(), "limit="+strconv.Itoa(limit)) {
		t.Errorf("no warning naming the limit; log:\n%s", a.logs)
	}
	for _, c := range open {
		c.Close()
	}
	waitGoroutines(t, baseline)
}

// syncBuffer is a bytes buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Drupal's clients never send binary: a binary packet closes the connection,
// unless client messages are enabled.
func TestDrupalModeRefusesBinary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     nodejsconfig.Config
		refused bool
	}{
		{"client messages off", nodejsconfig.Config{}, true},
		{"clientsCanWriteToChannels", nodejsconfig.Config{ClientsCanWriteToChannels: true}, false},
		{"clientsCanWriteToClients", nodejsconfig.Config{ClientsCanWriteToClients: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startTestApp(t, tc.cfg)
			ws, err := testutil.DialWS("http://" + a.addr + "/socket.io/?EIO=3&transport=websocket")
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			for _, want := range []string{"0{", "40"} {
				if d, _ := ws.ReadData(t); !strings.HasPrefix(d, want) {
					t.Fatalf("got %q, want %s...", d, want)
				}
			}
			_ = ws.SendText(`451-["message",{"_placeholder":true,"num":0}]`)
			_ = ws.SendBinary([]byte{4, 1, 2, 3}) // EIO=3: binary type byte, then the data
			_ = ws.SendText("2")                  // ping
			d, _ := ws.ReadData(t)
			switch {
			case tc.refused && d != "1":
				t.Fatalf("got %q, want the close packet", d)
			case !tc.refused && d != "3":
				t.Fatalf("got %q, want the pong", d)
			}
			if tc.refused && !strings.Contains(a.logs.String(), "binary packet refused") {
				t.Fatalf("no reason logged:\n%s", a.logs)
			}
		})
	}
}
