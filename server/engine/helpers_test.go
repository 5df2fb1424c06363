package engine_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/polltls"
	"github.com/socketd/socketd/internal/testutil"
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

// OnClose records the reason; past the buffer's 64 (benchmarks open many
// sessions and wait for none) reasons are dropped rather than block the close.
func (h *echoHandler) OnClose(_ *engine.Session, r engine.CloseReason) {
	select {
	case h.closed <- r:
	default:
	}
}

type testServer struct {
	t      testing.TB
	eio    *engine.Server
	http   *httptest.Server
	url    string      // http://127.0.0.1:port/engine.io/ (https:// with newTLSServer)
	tls    *tls.Config // the clients' TLS configuration (newTLSServer)
	client *http.Client
	closed chan engine.CloseReason
	opened chan *engine.Session
}

// newServer starts an echo server on loopback with cfg (short heartbeats unless
// set). setup, when given, completes cfg once the server's base URL
// (http://127.0.0.1:port) is known.
func newServer(t testing.TB, cfg engine.Config, setup ...func(base string, cfg *engine.Config)) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	for _, f := range setup {
		f("http://"+srv.Listener.Addr().String(), &cfg)
	}
	ts := newEngine(t, cfg)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", ts.eio)
	srv.Config.Handler = mux
	srv.Start()
	ts.http = srv
	ts.url = ts.http.URL + "/engine.io/"
	t.Cleanup(func() {
		ts.http.CloseClientConnections()
		ts.http.Close()
		_ = ts.eio.Close(t.Context())
	})
	return ts
}

// newTLSServer is newServer over TLS, served as socketd serves it: net/http on
// an internal/polltls listener (HTTP/1.1 and HTTP/2 offered).
func newTLSServer(t testing.TB, cfg engine.Config) *testServer {
	t.Helper()
	ts := newEngine(t, cfg)
	pair := testutil.NewTLSPair(t, "engine test")
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", ts.eio)
	srvCfg := &tls.Config{Certificates: []tls.Certificate{pair.Cert}, NextProtos: []string{"h2", "http/1.1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: srvCfg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(polltls.NewListener(ln, srvCfg)) }()
	ts.tls = pair.ClientConfig()
	ts.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ts.tls}}
	ts.url = "https://" + ln.Addr().String() + "/engine.io/"
	t.Cleanup(func() {
		_ = hs.Close()
		_ = ts.eio.Close(t.Context())
	})
	return ts
}

// newEngine makes the echo engine of a test server (not served yet).
func newEngine(t testing.TB, cfg engine.Config) *testServer {
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
		select {
		case ts.opened <- s:
		default: // as in OnClose
		}
		return h
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.eio = eio
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
	r, err := ts.try(method, query, header, body, 5*time.Second)
	if err != nil {
		ts.t.Fatal(err)
	}
	return r
}

// try is do for a goroutine other than the test's (t.Fatal there would leave
// the test waiting): a failed request is returned as an error. timeout bounds
// the request when ts has no client of its own.
func (ts *testServer) try(method, query string, header http.Header, body string, timeout time.Duration) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+"?"+query, rd)
	if err != nil {
		return response{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := ts.client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{resp.StatusCode, resp.Header, string(b)}, nil
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

func wsURL(ts *testServer, query string) string { return ts.url + "?" + query }
