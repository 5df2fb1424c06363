package drupal

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/server/socketio"
)

// chatEnv has three authenticated users; 1 and 2 are in channel "c".
func chatEnv(t *testing.T, mutate func(*nodejsconfig.Config)) (e *env, a, b, outsider *client) {
	e = newEnv(t, mutate)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"c"}})
	e.drupal.setUser("t2", user{uid: 2, channels: []string{"c"}})
	e.drupal.setUser("t3", user{uid: 3})
	a, b, outsider = e.dial(), e.dial(), e.dial()
	a.authenticate(e, "t1")
	b.authenticate(e, "t2")
	outsider.authenticate(e, "t3")
	for range 3 {
		e.drupal.nextMsg(t) // userOnline
	}
	return e, a, b, outsider
}

func TestClientMessagesOffByDefault(t *testing.T) {
	e, a, b, outsider := chatEnv(t, nil)
	a.emit("message", `{"channel":"c","type":"chat","text":"hi"}`, false)
	a.emit("message", `{"toClientId":`+jsonQuote(b.id)+`,"type":"chat"}`, false)
	a.sync()
	b.expectNothing(e)
	outsider.expectNothing(e)
	// Nothing reached Drupal: the next message it gets is a later userOnline.
	e.drupal.setUser("t9", user{uid: 9})
	e.dial().authenticate(e, "t9")
	e.expectPresence("userOnline", "9")
}

func TestClientToChannel(t *testing.T) {
	e, a, b, outsider := chatEnv(t, func(c *nodejsconfig.Config) { c.ClientsCanWriteToChannels = true })
	msg := `{"channel":"c","type":"chat","text":"hi","messageType":"userOffline","uid":99,"clientId":"forged"}`
	a.emit("message", msg, false)
	b.expectMessage(msg)
	a.expectNothing(e)
	outsider.expectNothing(e)
	if ev := e.event("client-message"); ev.sid != a.id || ev.uid != 1 {
		t.Fatalf("hook %+v", ev)
	}
	m := e.drupal.nextMsg(t)
	if string(m["messageType"]) != `"clientToChannelMessage"` || string(m["uid"]) != "1" || string(m["clientId"]) != jsonQuote(a.id) || string(m["text"]) != `"hi"` {
		t.Fatalf("Drupal got %v", m)
	}
	// Only to a channel the sender is in.
	outsider.emit("message", `{"channel":"c","text":"intruder"}`, false)
	outsider.sync()
	a.expectNothing(e)
	b.expectNothing(e)
	// Unauthenticated sockets cannot write at all.
	pre := e.dial()
	pre.emit("message", `{"channel":"c","text":"anon"}`, false)
	pre.sync()
	a.expectNothing(e)
	b.expectNothing(e)
}

func TestClientWritableChannel(t *testing.T) {
	e, a, b, _ := chatEnv(t, nil)
	e.expectAPI("POST", "/nodejs/channel/add/room", `{"isClientWritable":true}`, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/user/channel/add/room/1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/user/channel/add/room/2", ``, 200, `{"status":"success"}`)
	a.emit("message", `{"channel":"room","text":"hi"}`, false)
	b.expectMessage(`{"channel":"room","text":"hi"}`)
	// Channel c is not writable.
	a.emit("message", `{"channel":"c","text":"hi"}`, false)
	a.sync()
	b.expectNothing(e)
}

func TestClientToClient(t *testing.T) {
	e, a, b, outsider := chatEnv(t, func(c *nodejsconfig.Config) { c.ClientsCanWriteToClients = true })
	msg := `{"toClientId":` + jsonQuote(b.id) + `,"type":"private"}`
	a.emit("message", msg, false)
	b.expectMessage(msg)
	outsider.expectNothing(e)
	a.expectNothing(e)
	m := e.drupal.nextMsg(t)
	if string(m["messageType"]) != `"clientToClientMessage"` || string(m["uid"]) != "1" {
		t.Fatalf("Drupal got %v", m)
	}
	// Channel messages still need their own permission.
	a.emit("message", `{"channel":"c"}`, false)
	a.sync()
	b.expectNothing(e)
}

func TestClientMessageStoppedByExtension(t *testing.T) {
	e, a, b, _ := chatEnv(t, func(c *nodejsconfig.Config) { c.ClientsCanWriteToChannels = true })
	e.rec.allow.Store(false)
	a.emit("message", `{"channel":"c"}`, false)
	e.event("client-message")
	a.sync()
	b.expectNothing(e)
	e.drupal.setUser("t9", user{uid: 9})
	e.dial().authenticate(e, "t9")
	e.expectPresence("userOnline", "9")
}

// routeExt serves one auth route and one public route.
type routeExt struct {
	NopExtension
	bridge *Bridge
}

func (x *routeExt) Setup(b *Bridge) error { x.bridge = b; return nil }

func (x *routeExt) Routes() []Route {
	return []Route{
		{Method: "POST", Path: "/chat/send", Auth: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			sent := x.bridge.PublishToChannel(r.Context(), "c", body, "")
			_, _ = io.WriteString(w, `{"sent":`+formatUID(int64(sent))+`}`)
		})},
		{Method: "GET", Path: "public/ping", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "pong")
		})},
	}
}

func TestExtensionRoutes(t *testing.T) {
	e := newEnv(t, nil)
	x := &routeExt{}
	// A second bridge on its own server, with the route extension.
	sio, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sio.Close(t.Context()) })
	b, err := New(e.b.cfg, sio, Options{Extensions: []Extension{x}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if x.bridge != b {
		t.Fatal("Setup not called with the bridge")
	}
	api := b.Routes()
	req := func(h http.Handler, method, path, key, body string) (int, string) {
		r, _ := http.NewRequest(method, path, strings.NewReader(body))
		if key != "" {
			r.Header.Set("NodejsServiceKey", key)
		}
		w := &recorderWriter{header: http.Header{}}
		h.ServeHTTP(w, r)
		return w.status, w.body.String()
	}
	if st, body := req(api, "POST", "/chat/send", testKey, `{"x":1}`); st != 200 || body != `{"sent":0}` {
		t.Fatalf("auth route: %d %s", st, body)
	}
	if _, body := req(api, "POST", "/chat/send", "bad", `{}`); body != `{"error":"Invalid service key."}` {
		t.Fatalf("auth route without key: %s", body)
	}
	if st, _ := req(api, "POST", "/chat/send", testKey, `{"x":`); st != 400 {
		t.Fatalf("auth route malformed body: %d", st)
	}
	pub := b.PublicRoutes()
	if st, body := req(pub, "GET", "/public/ping", "", ``); st != 200 || body != "pong" {
		t.Fatalf("public route: %d %s", st, body)
	}
	if st, _ := req(api, "GET", "/public/ping", testKey, ``); st != 404 {
		t.Fatalf("public route under baseAuthPath: %d", st)
	}
	if e.b.PublicRoutes() != nil {
		t.Fatal("PublicRoutes without public routes")
	}
}

type recorderWriter struct {
	header http.Header
	status int
	body   strings.Builder
}

func (w *recorderWriter) Header() http.Header { return w.header }
func (w *recorderWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.body.Write(p)
}
func (w *recorderWriter) WriteHeader(s int) { w.status = s }

type failingExt struct{ NopExtension }

func (failingExt) Setup(*Bridge) error { return errors.New("no database") }

func TestExtensionSetupError(t *testing.T) {
	sio, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sio.Close(t.Context()) })
	if _, err := New(nodejsconfig.Config{}, sio, Options{Extensions: []Extension{failingExt{}}}); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("err %v", err)
	}
	if _, err := New(nodejsconfig.Config{}, nil, Options{}); err == nil {
		t.Fatal("nil server accepted")
	}
	if _, err := New(nodejsconfig.Config{BodyParserJSONLimit: "lots"}, sio, Options{}); err == nil {
		t.Fatal("bad body limit accepted")
	}
}
