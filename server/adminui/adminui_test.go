package adminui_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adminui"
	"github.com/socketd/socketd/server/socketio"
)

const (
	adminUser     = "admin"
	adminPassword = "s3cret"
	readTimeout   = 10 * time.Second
)

type env struct {
	t   *testing.T
	io  *socketio.Server
	url string
}

// newEnv starts a server instrumented with opts (a bcrypt hash of
// adminPassword when opts.Auth is set without one). Sockets of "/" join the
// room "channel:news" when they connect, as the Drupal bridge's would.
func newEnv(t *testing.T, opts adminui.Options) *env {
	t.Helper()
	return newNode(t, opts, nil)
}

// newNode is newEnv on the adapter factory f (nil: in memory).
func newNode(t *testing.T, opts adminui.Options, f adapter.Factory) *env {
	t.Helper()
	if opts.Auth != nil && opts.Auth.Password == "" {
		h, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		opts.Auth.Password = string(h)
	}
	opts.StatsInterval = 50 * time.Millisecond
	ad, err := adminui.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	io, err := socketio.New(socketio.Config{Adapter: ad.Adapter(f)})
	if err != nil {
		t.Fatal(err)
	}
	io.Of("/").OnConnection(func(s *socketio.Socket) { s.Join("channel:news") })
	if err := ad.Attach(io); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		ad.Close()
		_ = io.Close(t.Context())
	})
	return &env{t: t, io: io, url: hs.URL + "/socket.io/?EIO=4&transport=websocket"}
}

// conn is a WebSocket client of one namespace.
type conn struct {
	t   *testing.T
	c   *testutil.WSClient
	nsp string
	id  string
}

// dial opens a connection and sends CONNECT for nsp with auth; it returns
// the connection and the server's first answer for nsp.
func (e *env) dial(nsp, auth string) (*conn, string) {
	e.t.Helper()
	return e.dialHeader(nsp, auth, nil)
}

// dialHeader is dial with extra handshake headers.
func (e *env) dialHeader(nsp, auth string, header http.Header) (*conn, string) {
	e.t.Helper()
	c, err := testutil.DialWSHeader(e.url, header)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	c.SetDeadline(readTimeout)
	if d, _ := c.ReadData(e.t); !strings.HasPrefix(d, "0{") {
		e.t.Fatalf("open packet %q", d)
	}
	cn := &conn{t: e.t, c: c, nsp: nsp}
	_ = c.SendText("40" + cn.prefix() + auth)
	return cn, cn.read()
}

// connect is dial that must succeed.
func (e *env) connect(nsp, auth string) *conn {
	e.t.Helper()
	cn, got := e.dial(nsp, auth)
	if !strings.HasPrefix(got, "0"+cn.prefix()+`{"sid":"`) {
		e.t.Fatalf("CONNECT %s: got %q", nsp, got)
	}
	var r struct{ Sid string }
	_ = json.Unmarshal([]byte(got[len("0"+cn.prefix()):]), &r)
	cn.id = r.Sid
	return cn
}

func (e *env) login() *conn {
	e.t.Helper()
	return e.connect("/admin", `{"username":"`+adminUser+`","password":"`+adminPassword+`"}`)
}

func (c *conn) prefix() string {
	if c.nsp == "/" {
		return ""
	}
	return c.nsp + ","
}

// read returns the next Socket.IO packet, answering pings.
func (c *conn) read() string {
	c.t.Helper()
	for {
		c.c.SetDeadline(readTimeout)
		d, _ := c.c.ReadData(c.t)
		if d == "2" {
			_ = c.c.SendText("3")
			continue
		}
		if !strings.HasPrefix(d, "4") {
			c.t.Fatalf("unexpected Engine.IO packet %q", d)
		}
		return d[1:]
	}
}

// event reads until the event called name and returns its arguments; the
// events skipped on the way are returned too.
func (c *conn) event(name string) ([]json.RawMessage, []string) {
	c.t.Helper()
	var skipped []string
	for range 1000 {
		p := c.read()
		head := "2" + c.prefix()
		if !strings.HasPrefix(p, head) {
			skipped = append(skipped, p)
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(p[len(head):]), &arr); err != nil || len(arr) == 0 {
			c.t.Fatalf("event packet %q: %v", p, err)
		}
		var got string
		_ = json.Unmarshal(arr[0], &got)
		if got == name {
			return arr[1:], skipped
		}
		skipped = append(skipped, got)
	}
	c.t.Fatalf("no %s event in 1000 packets", name)
	return nil, nil
}

func (c *conn) emit(args ...any) {
	c.t.Helper()
	b, _ := json.Marshal(args)
	_ = c.c.SendText("42" + c.prefix() + string(b))
}

type socketView struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"clientId"`
	Transport string   `json:"transport"`
	Nsp       string   `json:"nsp"`
	Rooms     []string `json:"rooms"`
	Handshake struct {
		Address string            `json:"address"`
		Headers map[string]string `json:"headers"`
	} `json:"handshake"`
}

func findSocket(t *testing.T, raw json.RawMessage, id string) socketView {
	t.Helper()
	var all []socketView
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatalf("all_sockets %s: %v", raw, err)
	}
	for _, s := range all {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("socket %s not in all_sockets %s", id, raw)
	return socketView{}
}

func TestLoginRefusedWithWrongPassword(t *testing.T) {
	e := newEnv(t, adminui.Options{Auth: &adminui.BasicAuth{Username: adminUser}})
	for _, auth := range []string{
		`{"username":"admin","password":"wrong"}`,
		`{"username":"root","password":"` + adminPassword + `"}`,
		`{"sessionId":"0123456789abcdef"}`,
		`{"username":"admin","password":42}`,
		``,
	} {
		_, got := e.dial("/admin", auth)
		if got != `4/admin,{"message":"invalid credentials"}` {
			t.Errorf("auth %q: got %q, want the connect error invalid credentials", auth, got)
		}
	}
}

func TestLoginAndSession(t *testing.T) {
	e := newEnv(t, adminui.Options{Auth: &adminui.BasicAuth{Username: adminUser}})
	a := e.login()
	args, _ := a.event("session")
	var session string
	if len(args) != 1 || json.Unmarshal(args[0], &session) != nil || len(session) != 16 {
		t.Fatalf("session event %s", args)
	}
	args, _ = a.event("config")
	var cfg struct{ SupportedFeatures []string }
	_ = json.Unmarshal(args[0], &cfg)
	for _, f := range []string{"DISCONNECT", "JOIN", "LEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"} {
		if !slices.Contains(cfg.SupportedFeatures, f) {
			t.Errorf("supportedFeatures %v lacks %s", cfg.SupportedFeatures, f)
		}
	}
	if _, skipped := a.event("server_stats"); slices.Contains(skipped, "session") {
		t.Errorf("a second session event")
	}

	// The UI reconnects with the session id alone.
	b := e.connect("/admin", `{"sessionId":"`+session+`"}`)
	_, skipped := b.event("config")
	if slices.Contains(skipped, "session") {
		t.Errorf("reconnecting with a session got a new session: %v", skipped)
	}
}

func TestServerStats(t *testing.T) {
	e := newEnv(t, adminui.Options{ServerID: "node-a"})
	e.connect("/", "")
	a := e.connect("/admin", "")
	args, _ := a.event("server_stats")
	var st struct {
		ServerID     string
		Hostname     string
		PID          int
		ClientsCount int
		Namespaces   []struct {
			Name         string
			SocketsCount int
		}
	}
	if err := json.Unmarshal(args[0], &st); err != nil {
		t.Fatal(err)
	}
	if st.ServerID != "node-a" || st.PID == 0 || st.ClientsCount != 2 {
		t.Errorf("server_stats %s: want serverId node-a, a pid, 2 clients", args[0])
	}
	counts := map[string]int{}
	for _, n := range st.Namespaces {
		counts[n.Name] = n.SocketsCount
	}
	if counts["/"] != 1 || counts["/admin"] != 1 {
		t.Errorf("namespaces %v, want / and /admin with 1 socket each", counts)
	}
}

func TestSocketsAndRoomsReported(t *testing.T) {
	e := newEnv(t, adminui.Options{Auth: &adminui.BasicAuth{Username: adminUser}})
	first := e.connect("/", "")
	// A client's own forwarding headers are not its address: no trusted
	// proxy is configured, so the UI shows the peer's.
	_, got := e.dialHeader("/", "", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Cf-Connecting-Ip": {"198.51.100.7"}})
	if !strings.HasPrefix(got, "0{") {
		t.Fatalf("CONNECT with forwarding headers: got %q", got)
	}
	var sr struct{ Sid string }
	_ = json.Unmarshal([]byte(got[1:]), &sr)
	a := e.login()
	args, _ := a.event("all_sockets")
	if s := findSocket(t, args[0], sr.Sid); s.Handshake.Address != "127.0.0.1" {
		t.Errorf("socket sent X-Forwarded-For and Cf-Connecting-Ip: address %q, want the peer's 127.0.0.1", s.Handshake.Address)
	}
	s := findSocket(t, args[0], first.id)
	if s.Nsp != "/" || !slices.Contains(s.Rooms, "channel:news") || !slices.Contains(s.Rooms, first.id) {
		t.Errorf("socket %+v: want namespace / and rooms channel:news and its id", s)
	}
	if s.Transport != "websocket" || s.ClientID == "" || s.Handshake.Address != "127.0.0.1" {
		t.Errorf("socket %+v: want transport websocket, a client id, address 127.0.0.1", s)
	}

	second := e.connect("/", "")
	// The admin's own socket and its id room are reported too (as
	// instrument() does), and the order of a socket's first rooms against
	// its socket_connected depends on the order of the connection hooks.
	var connected, joined bool
	for range 100 {
		if connected && joined {
			break
		}
		p := a.read()
		var arr []json.RawMessage
		_ = json.Unmarshal([]byte(strings.TrimPrefix(p, "2/admin,")), &arr)
		if len(arr) == 0 {
			continue
		}
		switch string(arr[0]) {
		case `"socket_connected"`:
			var sc socketView
			_ = json.Unmarshal(arr[1], &sc)
			if sc.Nsp != "/" {
				continue
			}
			connected = true
			if sc.ID != second.id || len(arr) != 3 || !slices.Contains(sc.Rooms, second.id) {
				t.Errorf("socket_connected %s, want socket %s of / in its room, and a timestamp", arr, second.id)
			}
		case `"room_joined"`:
			if string(arr[2]) == `"channel:news"` {
				joined = true
				if string(arr[1]) != `"/"` || string(arr[3]) != `"`+second.id+`"` {
					t.Errorf("room_joined %s, want / channel:news %s", arr, second.id)
				}
			}
		}
	}
	if !connected || !joined {
		t.Fatalf("socket_connected %v, room_joined channel:news %v", connected, joined)
	}

	second.c.Close()
	args, _ = a.event("socket_disconnected")
	if got := string(args[0]) + string(args[1]) + string(args[2]); got != `"/""`+second.id+`""transport close"` {
		t.Errorf("socket_disconnected %s", args)
	}
}

func TestDisconnectCommand(t *testing.T) {
	e := newEnv(t, adminui.Options{Auth: &adminui.BasicAuth{Username: adminUser}})
	target := e.connect("/", "")
	other := e.connect("/", "")
	a := e.login()
	a.event("all_sockets")

	// What the UI's socket page sends: _disconnect(nsp, close, socket id).
	a.emit("_disconnect", "/", false, target.id)
	if got := target.read(); got != "1" {
		t.Fatalf("the target got %q, want DISCONNECT", got)
	}
	args, _ := a.event("socket_disconnected")
	if string(args[1]) != `"`+target.id+`"` || string(args[2]) != `"server namespace disconnect"` {
		t.Errorf("socket_disconnected %s", args)
	}
	if _, ok := e.io.Of("/").Socket(target.id); ok {
		t.Error("the target is still in /")
	}
	if _, ok := e.io.Of("/").Socket(other.id); !ok {
		t.Error("the other socket was disconnected too")
	}

	// join and leave, with an ack to know when they are done.
	_ = a.c.SendText(`42/admin,7["join","/","vip","` + other.id + `"]`)
	if got := a.readAck(); got != `3/admin,7[{"ok":true}]` {
		t.Fatalf("join ack %q", got)
	}
	s, _ := e.io.Of("/").Socket(other.id)
	if !slices.Contains(s.Rooms(), "vip") {
		t.Errorf("rooms %v after join, want vip", s.Rooms())
	}
	_ = a.c.SendText(`42/admin,8["leave","/","vip","` + other.id + `"]`)
	if got := a.readAck(); got != `3/admin,8[{"ok":true}]` {
		t.Fatalf("leave ack %q", got)
	}
	if slices.Contains(s.Rooms(), "vip") {
		t.Errorf("rooms %v after leave", s.Rooms())
	}

	// Bad commands change nothing.
	for _, bad := range []string{`["_disconnect","/nope",false]`, `["_disconnect","/","yes"]`, `["join","/",""]`, `["_disconnect"]`} {
		_ = a.c.SendText(`42/admin,9` + bad)
		if got := a.readAck(); !strings.HasPrefix(got, `3/admin,9[{"error":`) {
			t.Errorf("%s: ack %q, want an error", bad, got)
		}
	}
	if _, ok := e.io.Of("/").Socket(other.id); !ok {
		t.Error("a bad command disconnected a socket")
	}
}

// readAck reads until an ACK packet.
func (c *conn) readAck() string {
	c.t.Helper()
	for range 1000 {
		if p := c.read(); strings.HasPrefix(p, "3") {
			return p
		}
	}
	c.t.Fatal("no ack")
	return ""
}

func TestReadonlyRefusesCommands(t *testing.T) {
	e := newEnv(t, adminui.Options{Auth: &adminui.BasicAuth{Username: adminUser}, Readonly: true})
	target := e.connect("/", "")
	a := e.login()
	args, _ := a.event("config")
	var cfg struct{ SupportedFeatures []string }
	_ = json.Unmarshal(args[0], &cfg)
	for _, f := range cfg.SupportedFeatures {
		if f == "DISCONNECT" || f == "JOIN" || f == "LEAVE" || f == "EMIT" || strings.HasPrefix(f, "M") {
			t.Errorf("read-only supportedFeatures %v offers %s", cfg.SupportedFeatures, f)
		}
	}
	for _, cmd := range []string{
		`["_disconnect","/",true,"` + target.id + `"]`,
		`["_disconnect","/",false]`,
		`["join","/","vip","` + target.id + `"]`,
		`["emit","/",null,"hello"]`,
	} {
		_ = a.c.SendText(`42/admin,1` + cmd)
		if got := a.readAck(); got != `3/admin,1[{"error":"the admin UI is read-only","ok":false}]` {
			t.Errorf("%s: ack %q, want read-only", cmd, got)
		}
	}
	s, ok := e.io.Of("/").Socket(target.id)
	if !ok || slices.Contains(s.Rooms(), "vip") {
		t.Fatalf("read-only: the target was disconnected or joined")
	}
}

// With no admin connected the adapter wrapper allocates nothing more than the
// adapter it wraps: the admin costs nothing per room change.
func TestNoAdminNoAllocations(t *testing.T) {
	ad, err := adminui.New(adminui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := ad.Adapter(nil)("/", nil)
	plain, _ := adapter.MemoryFactory("/", nil)
	rooms := []adapter.Room{"a", "b"}
	run := func(a adapter.Adapter) float64 {
		return testing.AllocsPerRun(100, func() {
			a.AddAll("s1", rooms)
			a.Del("s1", "a")
			a.DelAll("s1")
		})
	}
	if w, p := run(wrapped), run(plain); w != p {
		t.Errorf("allocations per join/leave/disconnect: %v wrapped, %v plain", w, p)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := adminui.New(adminui.Options{Auth: &adminui.BasicAuth{Username: "a", Password: "plain"}}); err == nil {
		t.Error("a password that is not a bcrypt hash was accepted")
	}
	ad, _ := adminui.New(adminui.Options{})
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close(t.Context())
	if err := ad.Attach(io); err == nil {
		t.Error("Attach to a server whose adapter factory is not wrapped succeeded")
	}
}

func TestEventsReported(t *testing.T) {
	e := newEnv(t, adminui.Options{})
	c := e.connect("/", "")
	a := e.connect("/admin", "")
	a.event("all_sockets")

	_ = c.c.SendText(`42["hello",{"x":1}]`)
	args, _ := a.event("event_received")
	if got := string(args[0]) + string(args[1]) + string(args[2]); got != `"/""`+c.id+`"["hello",{"x":1}]` {
		t.Errorf("event_received %s", args)
	}

	if err := e.io.Of("/").To("channel:news").Emit("news", strings.Repeat("x", 5000)); err != nil {
		t.Fatal(err)
	}
	args, _ = a.event("event_sent")
	if got := string(args[0]) + string(args[1]) + string(args[2]); got != `"/""`+c.id+`"["news","[5011 bytes, not shown by socketd]"]` {
		t.Errorf("event_sent %s", args)
	}
}

// Without a login only local pages of the server's own origin get in.
func TestNoLoginLocalOnly(t *testing.T) {
	e := newEnv(t, adminui.Options{})
	base := strings.TrimPrefix(e.url, "http://")
	host := base[:strings.Index(base, "/")] // 127.0.0.1:port
	for _, tt := range []struct {
		header http.Header
		ok     bool
	}{
		{http.Header{}, true},
		{http.Header{"Origin": {"http://" + host}}, true},
		{http.Header{"Origin": {"http://evil.example"}}, false},
		{http.Header{"Host": {"evil.example"}, "Origin": {"http://evil.example"}}, false},
		{http.Header{"Host": {"localhost:1"}}, true},
	} {
		c, err := testutil.DialWSHeader(e.url, tt.header)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cn := &conn{t: t, c: c, nsp: "/admin"}
		c.SetDeadline(readTimeout)
		if d, _ := c.ReadData(t); !strings.HasPrefix(d, "0{") {
			t.Fatalf("open packet %q", d)
		}
		_ = c.SendText("40/admin,")
		// The admin namespace reports its own sockets' room joins too, and
		// the joining socket may get its own room_joined before the CONNECT
		// answer, as with socket.io (the client buffers it); skip events.
		got := cn.read()
		for i := 0; i < 10 && strings.HasPrefix(got, "2/admin,"); i++ {
			got = cn.read()
		}
		if ok := strings.HasPrefix(got, `0/admin,{"sid"`); ok != tt.ok {
			t.Errorf("headers %v: CONNECT answered %q, want admitted %v", tt.header, got, tt.ok)
		}
	}
}
