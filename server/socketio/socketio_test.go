package socketio_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/socketio"
)

type env struct {
	t   *testing.T
	io  *socketio.Server
	url string
}

func newEnv(t *testing.T, cfg socketio.Config, setup func(io *socketio.Server)) *env {
	t.Helper()
	if cfg.Engine.PingInterval == 0 {
		cfg.Engine.PingInterval = 10 * time.Second
	}
	io, err := socketio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(io)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		_ = io.Close(t.Context())
	})
	return &env{t: t, io: io, url: hs.URL + "/socket.io/"}
}

// dial opens a WebSocket client of the given Engine.IO revision and reads the
// open packet.
func (e *env) dial(eio string) *testutil.WSClient {
	e.t.Helper()
	c, err := testutil.DialWS(e.url + "?EIO=" + eio + "&transport=websocket")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	if d, _ := c.ReadData(e.t); !strings.HasPrefix(d, "0{") {
		e.t.Fatalf("open packet %q", d)
	}
	return c
}

// dialQuery is dial with more handshake query parameters.
func (e *env) dialQuery(eio, query string) *testutil.WSClient {
	e.t.Helper()
	c, err := testutil.DialWS(e.url + "?EIO=" + eio + "&transport=websocket&" + query)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	if d, _ := c.ReadData(e.t); !strings.HasPrefix(d, "0{") {
		e.t.Fatalf("open packet %q", d)
	}
	return c
}

// next returns the next text message that is not a ping.
func next(t *testing.T, c *testutil.WSClient) string {
	t.Helper()
	for {
		d, bin := c.ReadData(t)
		if bin {
			return "BIN:" + d
		}
		if d != "2" {
			return d
		}
	}
}

func connectV5(t *testing.T, c *testutil.WSClient, nsp, auth string) string {
	t.Helper()
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	_ = c.SendText(prefix + auth)
	got := next(t, c)
	if !strings.HasPrefix(got, prefix+`{"sid":"`) {
		t.Fatalf("connect reply %q", got)
	}
	var r struct{ Sid string }
	_ = json.Unmarshal([]byte(got[len(prefix):]), &r)
	return r.Sid
}

func echoSetup(io *socketio.Server) {
	n := io.Of("/")
	n.OnConnection(func(s *socketio.Socket) { _ = s.Emit("auth", s.Handshake().Auth) })
	n.On("message", func(s *socketio.Socket, e *socketio.Event) { _ = s.EmitArgs("message-back", e.Args) })
	n.On("message-with-ack", func(s *socketio.Socket, e *socketio.Event) { _ = e.AckArgs(e.Args) })
	io.Of("/custom")
}

func TestV5ConnectEventAck(t *testing.T) {
	e := newEnv(t, socketio.Config{}, echoSetup)
	c := e.dial("4")
	connectV5(t, c, "/", `{"token":"123"}`)
	if got := next(t, c); got != `42["auth",{"token":"123"}]` {
		t.Fatalf("auth %q", got)
	}
	_ = c.SendText(`42["message",1,"2",{"3":[true]},1.50,-0]`)
	if got := next(t, c); got != `42["message-back",1,"2",{"3":[true]},1.50,-0]` {
		t.Fatalf("echo %q", got)
	}
	_ = c.SendText(`42456["message-with-ack",1,"2",{"3":[true]}]`)
	if got := next(t, c); got != `43456[1,"2",{"3":[true]}]` {
		t.Fatalf("ack %q", got)
	}
}

func TestV5Namespaces(t *testing.T) {
	e := newEnv(t, socketio.Config{}, echoSetup)
	c := e.dial("4")
	_ = c.SendText("40/random,")
	if got := next(t, c); got != `44/random,{"message":"Invalid namespace"}` {
		t.Fatalf("unknown namespace %q", got)
	}
	_ = c.SendText("40/custom")
	if got := next(t, c); !strings.HasPrefix(got, `40/custom,{"sid":"`) {
		t.Fatalf("custom %q", got)
	}
}

func TestV5MiddlewareRejects(t *testing.T) {
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/private").Use(func(s *socketio.Socket) error {
			return &socketio.ConnectError{Message: "not authorized", Data: json.RawMessage(`{"code":"E_AUTH"}`)}
		})
	})
	c := e.dial("4")
	_ = c.SendText("40/private,")
	if got := next(t, c); got != `44/private,{"message":"not authorized","data":{"code":"E_AUTH"}}` {
		t.Fatalf("reject %q", got)
	}
}

func TestV4ImplicitConnectAndQueryAuth(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		for _, name := range []string{"/", "/admin"} {
			io.Of(name).OnConnection(func(s *socketio.Socket) {
				mu.Lock()
				auths = append(auths, s.ID()+" "+string(s.Handshake().Auth))
				mu.Unlock()
				_ = s.Emit("hello", s.ID())
			})
		}
	})
	c := e.dial("3")
	if got := next(t, c); got != "40" {
		t.Fatalf("implicit connect %q", got)
	}
	hello := next(t, c)
	_ = c.SendText("40/admin?token=abc&x=%C3%A9,")
	if got := next(t, c); got != "40/admin," {
		t.Fatalf("namespace connect %q", got)
	}
	helloAdmin := next(t, c)
	var sidRoot, sidAdmin string
	_ = json.Unmarshal([]byte(hello[len(`42["hello",`):len(hello)-1]), &sidRoot)
	_ = json.Unmarshal([]byte(helloAdmin[len(`42/admin,["hello",`):len(helloAdmin)-1]), &sidAdmin)
	if sidAdmin != "/admin#"+sidRoot {
		t.Fatalf("v4 socket ids %q and %q", sidRoot, sidAdmin)
	}
	mu.Lock()
	defer mu.Unlock()
	if auths[1] != sidAdmin+` {"token":"abc","x":"é"}` {
		t.Fatalf("auth %q", auths)
	}
}

func TestBadPacketsCloseConnection(t *testing.T) {
	tt := []struct{ name, send string }{
		{"unknown type", "4abc"},
		{"event data not an array", `42{}`},
		{"bad ack id", `42abc["message"]`},
		{"reserved event name", `42["connect"]`},
		{"reserved event disconnecting", `42["disconnecting"]`},
		{"placeholder num not a number", `451-["hello",{"_placeholder":true,"num":"splice"}]`},
		{"placeholder num out of range", `451-["hello",{"_placeholder":true,"num":1}]`},
		{"too many attachments", `4511-["hello"]`},
		{"event name not a string", `42[{"toString":1}]`},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan socketio.DisconnectReason, 1)
			e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
				io.Of("/").OnConnection(func(s *socketio.Socket) {
					s.OnDisconnect(func(_ *socketio.Socket, r socketio.DisconnectReason) { closed <- r })
				})
			})
			c := e.dial("4")
			connectV5(t, c, "/", "")
			_ = c.SendText(tc.send)
			select {
			case r := <-closed:
				if r != socketio.ReasonParseError {
					t.Fatalf("reason %q", r)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("connection not closed")
			}
			c.ReadClose(t)
		})
	}
}

func TestErrorEventFromClientIsJustAnEvent(t *testing.T) {
	got := make(chan string, 1)
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/").On("error", func(s *socketio.Socket, e *socketio.Event) { got <- e.Name })
	})
	c := e.dial("4")
	connectV5(t, c, "/", "")
	_ = c.SendText(`42["error"]`)
	if name := <-got; name != "error" {
		t.Fatal(name)
	}
}

func TestBinaryEcho(t *testing.T) {
	e := newEnv(t, socketio.Config{}, echoSetup)
	for _, rev := range []string{"3", "4"} {
		t.Run("EIO="+rev, func(t *testing.T) {
			c := e.dial(rev)
			if rev == "4" {
				connectV5(t, c, "/", "")
			} else if got := next(t, c); got != "40" {
				t.Fatal(got)
			}
			next(t, c) // auth
			_ = c.SendText(`452-["message",{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}]}]`)
			bin := func(b []byte) []byte {
				if rev == "3" {
					return append([]byte{4}, b...)
				}
				return b
			}
			_ = c.SendBinary(bin([]byte{1, 2, 3}))
			_ = c.SendBinary(bin([]byte{4, 5, 6}))
			if got := next(t, c); got != `452-["message-back",{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}]}]` {
				t.Fatalf("header %q", got)
			}
			if got := next(t, c); got != "BIN:"+string(bin([]byte{1, 2, 3})) {
				t.Fatalf("attachment 0 %q", got)
			}
			if got := next(t, c); got != "BIN:"+string(bin([]byte{4, 5, 6})) {
				t.Fatalf("attachment 1 %q", got)
			}
			_ = c.SendText(`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
			_ = c.SendBinary(bin([]byte{7}))
			_ = c.SendBinary(bin([]byte{8}))
			if got := next(t, c); got != `462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
				t.Fatalf("binary ack %q", got)
			}
		})
	}
}

func TestRoomsBroadcastOnce(t *testing.T) {
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		n := io.Of("/")
		n.On("join", func(s *socketio.Socket, e *socketio.Event) {
			for i := 0; i < e.Args.Len(); i++ {
				var r string
				_ = e.Arg(i, &r)
				s.Join(r)
			}
			_ = e.Ack()
		})
		n.On("to", func(s *socketio.Socket, e *socketio.Event) {
			var rooms []string
			_ = e.Arg(0, &rooms)
			_ = n.To(rooms...).Emit("msg", "x")
			_ = e.Ack()
		})
		n.On("others", func(s *socketio.Socket, e *socketio.Event) {
			_ = s.Broadcast().Emit("msg", "y")
			_ = e.Ack()
		})
	})
	a, b := e.dial("4"), e.dial("4")
	connectV5(t, a, "/", "")
	connectV5(t, b, "/", "")
	_ = a.SendText(`421["join","r1","r2"]`)
	if got := next(t, a); got != "431[]" {
		t.Fatal(got)
	}
	_ = b.SendText(`422["to",["r1","r2"]]`)
	// a is in both rooms and gets the message once, then the ack marker.
	if got := next(t, a); got != `42["msg","x"]` {
		t.Fatal(got)
	}
	if got := next(t, b); got != "432[]" {
		t.Fatalf("b got %q before its ack (it is in neither room)", got)
	}
	_ = b.SendText(`423["others"]`)
	if got := next(t, a); got != `42["msg","y"]` {
		t.Fatalf("a got %q: a duplicate of the room message?", got)
	}
	if got := next(t, b); got != "433[]" {
		t.Fatalf("sender got %q", got)
	}
}

func TestServerDisconnectAndClientDisconnect(t *testing.T) {
	reasons := make(chan socketio.DisconnectReason, 4)
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		n := io.Of("/")
		n.OnConnection(func(s *socketio.Socket) {
			s.OnDisconnecting(func(s *socketio.Socket, r socketio.DisconnectReason) {
				if len(s.Rooms()) == 0 {
					t.Error("rooms gone before disconnecting")
				}
			})
			s.OnDisconnect(func(_ *socketio.Socket, r socketio.DisconnectReason) { reasons <- r })
		})
		n.On("kick", func(s *socketio.Socket, _ *socketio.Event) { s.Disconnect(false) })
		io.Of("/custom")
	})
	c := e.dial("4")
	connectV5(t, c, "/", "")
	_ = c.SendText(`42["kick"]`)
	if got := next(t, c); got != "41" {
		t.Fatalf("kick %q", got)
	}
	if r := <-reasons; r != socketio.ReasonServerNamespaceDisconnect {
		t.Fatal(r)
	}
	// The connection stays open: connect again and leave from the client side.
	connectV5(t, c, "/", "")
	_ = c.SendText("41")
	if r := <-reasons; r != socketio.ReasonClientNamespaceDisconnect {
		t.Fatal(r)
	}
	connectV5(t, c, "/custom", "")
}

// TestServerDisconnectClose: disconnecting with close sends the DISCONNECT
// packet before the transport closes, as Node does, so the client reports
// "io server disconnect" (disconnectSockets(true) across a cluster too).
func TestServerDisconnectClose(t *testing.T) {
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/").On("bye", func(s *socketio.Socket, _ *socketio.Event) { s.Disconnect(true) })
	})
	c := e.dial("4")
	connectV5(t, c, "/", "")
	_ = c.SendText(`42["bye"]`)
	if got := next(t, c); got != "41" {
		t.Fatalf("got %q before the close, want the DISCONNECT packet", got)
	}
}

func TestServerAckBothOutcomes(t *testing.T) {
	results := make(chan string, 2)
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) {
			_ = s.EmitWithAck("q1", time.Minute, func(a psio.Args, err error) {
				var v string
				_ = a.Arg(0, &v)
				results <- "q1:" + v
			}, "hi")
			_ = s.EmitWithAck("q2", 50*time.Millisecond, func(a psio.Args, err error) {
				results <- "q2:" + err.Error()
			})
		})
	})
	c := e.dial("4")
	connectV5(t, c, "/", "")
	q1 := next(t, c)
	if !strings.HasPrefix(q1, "42") || !strings.HasSuffix(q1, `["q1","hi"]`) {
		t.Fatal(q1)
	}
	id := q1[2:strings.IndexByte(q1, '[')]
	_ = c.SendText("43" + id + `["yes"]`)
	got := map[string]bool{<-results: true, <-results: true}
	if !got["q1:yes"] || !got["q2:"+socketio.ErrAckTimeout.Error()] {
		t.Fatalf("results %v", got)
	}
}

func TestBroadcastWithAck(t *testing.T) {
	done := make(chan []socketio.AckResponse, 1)
	joined := make(chan struct{}, 2)
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		n := io.Of("/")
		n.OnConnection(func(s *socketio.Socket) { s.Join("room"); joined <- struct{}{} })
		n.On("go", func(s *socketio.Socket, _ *socketio.Event) {
			// Not on the handler's goroutine: it reads this client's answer.
			go func() {
				r, err := n.To("room").Timeout(5*time.Second).EmitWithAck(context.Background(), "ask")
				if err != nil {
					t.Error(err)
				}
				done <- r
			}()
		})
	})
	a, b := e.dial("4"), e.dial("4")
	connectV5(t, a, "/", "")
	connectV5(t, b, "/", "")
	<-joined
	<-joined
	_ = a.SendText(`42["go"]`)
	for _, c := range []*testutil.WSClient{a, b} {
		q := next(t, c)
		id := q[2:strings.IndexByte(q, '[')]
		_ = c.SendText("43" + id + `["ok"]`)
	}
	if r := <-done; len(r) != 2 {
		t.Fatalf("responses %v", r)
	}
}

func TestEmitReservedEventRefused(t *testing.T) {
	e := newEnv(t, socketio.Config{}, nil)
	if err := e.io.Of("/").Emit("disconnect"); err == nil {
		t.Fatal("reserved event emitted")
	}
}
