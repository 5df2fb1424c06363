package drupal

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/drupal/store/storetest"
	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/socketio"
)

const (
	testKey  = "testServiceKey"
	waitTime = 5 * time.Second
)

// user is how the fake Drupal answers an auth token.
type user struct {
	uid      int64
	channels []string
	presence []int64
}

// fakeDrupal is Drupal's /nodejs/message endpoint. override, when set, sees
// the authenticate messages first and returns true when it answered.
type fakeDrupal struct {
	srv      *httptest.Server
	mu       sync.Mutex
	users    map[string]user
	override func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) bool
	authN    atomic.Int32
	msgs     chan map[string]json.RawMessage // every message but authenticate
	// gate, when set, holds the answer to every message but authenticate
	// until it is closed; gated then gets whether the caller had given up.
	gate  atomic.Pointer[chan struct{}]
	gated chan error
}

func newFakeDrupal(t testing.TB) *fakeDrupal {
	d := &fakeDrupal{users: make(map[string]user), msgs: make(chan map[string]json.RawMessage, 100), gated: make(chan error, 100)}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDrupal) setUser(token string, u user) {
	d.mu.Lock()
	d.users[token] = u
	d.mu.Unlock()
}

func (d *fakeDrupal) setOverride(f func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) bool) {
	d.mu.Lock()
	d.override = f
	d.mu.Unlock()
}

func (d *fakeDrupal) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if r.PostForm.Get("serviceKey") != testKey {
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"error":"Invalid service key."}`)
		return
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal([]byte(r.PostForm.Get("messageJson")), &msg) != nil {
		w.WriteHeader(400)
		return
	}
	var mt string
	_ = json.Unmarshal(msg["messageType"], &mt)
	d.mu.Lock()
	override := d.override
	d.mu.Unlock()
	if mt == "authenticate" && override != nil && override(w, r, msg) {
		return
	}
	if mt != "authenticate" {
		d.msgs <- msg
		if g := d.gate.Load(); g != nil {
			<-*g
			d.gated <- r.Context().Err()
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
		return
	}
	d.authN.Add(1)
	var token, clientID string
	_ = json.Unmarshal(msg["authToken"], &token)
	_ = json.Unmarshal(msg["clientId"], &clientID)
	d.mu.Lock()
	u, ok := d.users[token]
	d.mu.Unlock()
	if !ok {
		fmt.Fprintf(w, `{"uid":0,"authToken":%q,"nodejsValidAuthToken":false,"clientId":%q}`, token, clientID)
		return
	}
	ct := msg["contentTokens"]
	if ct == nil {
		ct = json.RawMessage(`[]`)
	}
	ch, _ := json.Marshal(nonNil(u.channels))
	pr, _ := json.Marshal(u.presence)
	if u.presence == nil {
		pr = []byte(`[]`)
	}
	fmt.Fprintf(w, `{"nodejsValidAuthToken":true,"uid":%d,"authToken":%q,"clientId":%q,"channels":%s,"presenceUids":%s,"contentTokens":%s}`,
		u.uid, token, clientID, ch, pr, ct)
}

// nextMsg waits for a message Drupal got other than authenticate.
func (d *fakeDrupal) nextMsg(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	select {
	case m := <-d.msgs:
		return m
	case <-time.After(waitTime):
		t.Fatal("no message reached Drupal")
		return nil
	}
}

// hookEvent is an extension hook call.
type hookEvent struct {
	kind string
	sid  string
	uid  int64
}

// recorder is a test extension recording its hooks.
type recorder struct {
	NopExtension
	events chan hookEvent
	allow  atomic.Bool
}

func (r *recorder) OnConnect(s *socketio.Socket) { r.events <- hookEvent{"connect", s.ID(), 0} }
func (r *recorder) OnAuthenticate(s *socketio.Socket, a *AuthReply) {
	r.events <- hookEvent{"authenticate", s.ID(), a.UID}
}
func (r *recorder) OnDisconnect(s *socketio.Socket) { r.events <- hookEvent{"disconnect", s.ID(), 0} }
func (r *recorder) OnPublish(_ json.RawMessage, sent int) {
	r.events <- hookEvent{"publish", "", int64(sent)}
}
func (r *recorder) OnClientMessage(s *socketio.Socket, m *ClientMessage) bool {
	r.events <- hookEvent{"client-message", s.ID(), m.UID}
	return r.allow.Load()
}

// env is a bridge with a Socket.IO server, its HTTP API and a fake Drupal.
type env struct {
	t      testing.TB
	b      *Bridge
	io     *socketio.Server
	clk    *storetest.Clock
	drupal *fakeDrupal
	rec    *recorder
	url    string
}

func newEnv(t testing.TB, mutate func(*nodejsconfig.Config)) *env {
	t.Helper()
	return newEnvStore(t, mutate, storetest.NewClock(), nil)
}

// newEnvStore is newEnv with the bridge's clock and store given (nil: a
// store.Memory on clk).
func newEnvStore(t testing.TB, mutate func(*nodejsconfig.Config), clk *storetest.Clock, st store.Store) *env {
	t.Helper()
	d := newFakeDrupal(t)
	cfg := backendCfg(t, d.srv.URL)
	cfg.ServiceKey = testKey
	if mutate != nil {
		mutate(&cfg)
	}
	var sc socketio.Config
	if r := cfg.ConnectionStateRecovery; r != nil {
		sc.Recovery = &socketio.Recovery{MaxDisconnectionDuration: time.Duration(r.MaxDisconnectionDuration)}
	}
	sio, err := socketio.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{events: make(chan hookEvent, 1000)}
	rec.allow.Store(true)
	b, err := New(cfg, sio, Options{Extensions: []Extension{rec}, Store: st, clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	// A test-only event: answers at once, to show the reading side is free.
	sio.Of("/").On("echo", func(s *socketio.Socket, e *socketio.Event) { _ = e.AckArgs(e.Args) })
	r := chi.NewRouter()
	r.Mount("/socket.io", sio)
	r.Mount(strings.TrimSuffix(cfg.WithDefaults().BaseAuthPath, "/"), b.Routes())
	if pub := b.PublicRoutes(); pub != nil {
		r.Mount("/", pub)
	}
	hs := httptest.NewServer(r)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		_ = sio.Close(t.Context())
		b.Close()
	})
	return &env{t: t, b: b, io: sio, clk: clk, drupal: d, rec: rec, url: hs.URL}
}

// stats are the bridge's counters (health/check).
func (e *env) stats() store.Stats {
	e.t.Helper()
	st, err := e.b.Stats(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// event waits for the next hook call of a kind, skipping others.
func (e *env) event(kind string) hookEvent {
	e.t.Helper()
	deadline := time.After(waitTime)
	for {
		select {
		case ev := <-e.rec.events:
			if ev.kind == kind {
				return ev
			}
		case <-deadline:
			e.t.Fatalf("no %s hook", kind)
		}
	}
}

// api calls the HTTP API with the service key.
func (e *env) api(method, path, body string) (int, string) {
	e.t.Helper()
	return e.apiKey(method, path, body, testKey)
}

func (e *env) apiKey(method, path, body, key string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("NodejsServiceKey", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expectAPI checks a call's status and body.
func (e *env) expectAPI(method, path, body string, wantStatus int, wantBody string) {
	e.t.Helper()
	st, got := e.api(method, path, body)
	if st != wantStatus || got != wantBody {
		e.t.Fatalf("%s %s: %d %s\nwant %d %s", method, path, st, got, wantStatus, wantBody)
	}
}

// client is a minimal Socket.IO v4 (socket.io-client 2.x) client over an
// Engine.IO v3 WebSocket, what the Drupal page runs.
type client struct {
	t    testing.TB
	ws   *testutil.WSClient
	conn net.Conn // ws's connection, for tests that drop it
	id   string
	in   chan string // Socket.IO packets (the Engine.IO "4" stripped)
	ackN int
	wmu  sync.Mutex
}

func (e *env) dial() *client {
	e.t.Helper()
	t := e.t
	ws, err := testutil.DialWS(e.url + "/socket.io/?EIO=3&transport=websocket")
	if err != nil {
		t.Fatalf("websocket handshake: %v", err)
	}
	t.Cleanup(ws.Close)
	// No deadline (DialWS sets one): the client lives as long as its test.
	conn := ws.NetConn()
	_ = conn.SetDeadline(time.Time{})
	c := &client{t: t, ws: ws, conn: conn, in: make(chan string, 100)}
	open := make(chan string, 1)
	go c.readLoop(open)
	select {
	case o := <-open:
		var hs struct{ Sid string }
		if err := json.Unmarshal([]byte(o), &hs); err != nil {
			t.Fatalf("open packet %q", o)
		}
		c.id = hs.Sid
	case <-time.After(waitTime):
		t.Fatal("no open packet")
	}
	if p := c.next(); p != "0" {
		t.Fatalf("namespace connect %q", p)
	}
	e.event("connect")
	return c
}

func (c *client) readLoop(open chan<- string) {
	defer close(c.in)
	for {
		op, p, err := c.ws.ReadFrame()
		if err != nil {
			return
		}
		if op != 1 || len(p) == 0 {
			if op == 8 {
				return
			}
			continue
		}
		switch p[0] {
		case '0':
			open <- string(p[1:])
		case '4':
			c.in <- string(p[1:])
		case '1':
			return
		}
	}
}

func (c *client) send(text string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SendText(text); err != nil {
		c.t.Errorf("write: %v", err)
	}
}

// emit sends an event; with ack it asks for an acknowledgement and returns its id.
func (c *client) emit(event, payload string, ack bool) int {
	id := ""
	if ack {
		c.ackN++
		id = fmt.Sprint(c.ackN)
	}
	c.send("42" + id + `[` + jsonQuote(event) + `,` + payload + `]`)
	return c.ackN
}

// next returns the next Socket.IO packet, e.g. `2["message",{...}]`, `31[...]`
// or `1` (disconnected); "EOF" when the connection ended.
func (c *client) next() string {
	c.t.Helper()
	select {
	case p, ok := <-c.in:
		if !ok {
			return "EOF"
		}
		return p
	case <-time.After(waitTime):
		c.t.Fatal("nothing received")
		return ""
	}
}

// expectMessage checks that the next packet is a message event carrying msg.
func (c *client) expectMessage(msg string) {
	c.t.Helper()
	if got, want := c.next(), `2["message",`+msg+`]`; got != want {
		c.t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// expectNothing checks that nothing was received before a sentinel the server
// sends now (packets of one connection arrive in order).
func (c *client) expectNothing(e *env) {
	c.t.Helper()
	s, ok := e.io.Of("/").Socket(c.id)
	if !ok {
		c.t.Fatal("socket gone")
	}
	_ = s.Emit("sentinel")
	if got := c.next(); got != `2["sentinel"]` {
		c.t.Fatalf("unexpected %s", got)
	}
}

// sync waits until the server handled everything this client sent before
// (a socket's events are handled in order; echo answers at once).
func (c *client) sync() {
	c.t.Helper()
	id := c.emit("echo", `"sync"`, true)
	if got, want := c.next(), fmt.Sprintf(`3%d["sync"]`, id); got != want {
		c.t.Fatalf("sync: got %s, want %s", got, want)
	}
}

// expectDisconnect checks that the server disconnected the socket.
func (c *client) expectDisconnect() {
	c.t.Helper()
	if got := c.next(); got != "1" {
		c.t.Fatalf("want disconnect, got %s", got)
	}
}

// authenticate authenticates with token and checks the clientAuthenticated
// push and the ack; it returns the reply pushed.
func (c *client) authenticate(e *env, token string) string {
	c.t.Helper()
	id := c.emit("authenticate", `{"authToken":`+jsonQuote(token)+`}`, true)
	p := c.next()
	const prefix = `2["message",{"callback":"clientAuthenticated","data":`
	if !strings.HasPrefix(p, prefix) {
		c.t.Fatalf("want clientAuthenticated, got %s", p)
	}
	if got, want := c.next(), fmt.Sprintf(`3%d[{"result":"success"}]`, id); got != want {
		c.t.Fatalf("ack %s, want %s", got, want)
	}
	e.event("authenticate")
	return p[len(prefix) : len(p)-2]
}
