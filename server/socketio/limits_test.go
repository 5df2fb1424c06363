package socketio_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// dialFrom is dial from the loopback address ip.
func (e *env) dialFrom(eio, ip string) *testutil.WSClient {
	e.t.Helper()
	c, err := testutil.DialWSFrom(e.url+"?EIO="+eio+"&transport=websocket", ip, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	if d, _ := c.ReadData(e.t); !strings.HasPrefix(d, "0{") {
		e.t.Fatalf("open packet %q", d)
	}
	return c
}

// waitClosed waits, bounded, until the engine has counted n closes for reason.
func (e *env) waitClosed(reason engine.CloseReason, n uint64) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.io.Engine().Stats().Closed[reason] != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d closes for %v; stats %+v", e.io.Engine().Stats().Closed[reason], reason, e.io.Engine().Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMessageRate: a client past its message rate is closed with its reason
// (counted, logged with its address); another client's budget is its own.
func TestMessageRate(t *testing.T) {
	logs := &syncBuffer{}
	left := make(chan socketio.DisconnectReason, 4)
	// A burst of 3, then one message per 100 s: the test cannot outlast it.
	e := newEnv(t, socketio.Config{MessageRate: 0.01, MessageBurst: 3, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		func(io *socketio.Server) {
			echoSetup(io)
			io.Of("/").OnDisconnect(func(_ *socketio.Socket, r socketio.DisconnectReason) { left <- r })
		})
	flood, calm := e.dialFrom("4", "127.0.0.2"), e.dialFrom("4", "127.0.0.3")
	for _, c := range []*testutil.WSClient{flood, calm} {
		connectV5(t, c, "/", "") // message 1 of the burst
		if got := next(t, c); got != `42["auth",{}]` {
			t.Fatalf("auth %q", got)
		}
	}
	// Messages 2 and 3 pass; the 4th closes, and the 5th (already sent) is
	// not handled.
	for i := range 5 {
		_ = flood.SendText(`42["message",` + string(rune('0'+i)) + `]`)
	}
	for _, want := range []string{`42["message-back",0]`, `42["message-back",1]`} {
		if got := next(t, flood); got != want {
			t.Fatalf("flood got %q, want %q", got, want)
		}
	}
	if got := next(t, flood); got != "1" { // the Engine.IO close packet
		t.Fatalf("flood got %q, want the close packet", got)
	}
	e.waitClosed(engine.ReasonMessageRate, 1)
	if r := <-left; r != socketio.ReasonForcedServerClose {
		t.Fatalf("disconnect reason %q", r)
	}
	// The calm client has its own budget: two more messages, both answered.
	for i := range 2 {
		_ = calm.SendText(`42["message",` + string(rune('0'+i)) + `]`)
		if got := next(t, calm); got != `42["message-back",`+string(rune('0'+i))+`]` {
			t.Fatalf("calm got %q", got)
		}
	}
	if st := e.io.Stats(); st.PacketsIn != 2+2+2 {
		t.Fatalf("packets in %d, want 6 (the dropped one not counted)", st.PacketsIn)
	}
	if l := logs.String(); strings.Count(l, "over the message rate") != 1 || !strings.Contains(l, "client=127.0.0.2") {
		t.Fatalf("log:\n%s", l)
	}
}

// TestConnectTimeout: an EIO=4 client that does not connect to a namespace
// in time is closed as a handshake timeout; one that did is kept.
func TestConnectTimeout(t *testing.T) {
	e := newEnv(t, socketio.Config{ConnectTimeout: 200 * time.Millisecond}, echoSetup)
	kept := e.dial("4")
	connectV5(t, kept, "/", "")
	slow := e.dial("4")
	slow.ReadClose(t)
	// The close frame goes out just before the session is unregistered.
	e.waitClosed(engine.ReasonHandshakeTimeout, 1)
	if got := next(t, kept); got != `42["auth",{}]` {
		t.Fatalf("auth %q", got)
	}
	_ = kept.SendText(`42["message","still here"]`)
	if got := next(t, kept); got != `42["message-back","still here"]` {
		t.Fatalf("kept client got %q", got)
	}
	if st := e.io.Engine().Stats(); st.Sessions != 1 {
		t.Fatalf("sessions %d", st.Sessions)
	}
}

// TestHandshakeAddress: Handshake().Address is the client's address without
// a port, as socket.io gives it.
func TestHandshakeAddress(t *testing.T) {
	addr := make(chan string, 1)
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		io.Of("/").OnConnection(func(s *socketio.Socket) { addr <- s.Handshake().Address })
	})
	c := e.dialFrom("4", "127.0.0.5")
	connectV5(t, c, "/", "")
	if got := <-addr; got != "127.0.0.5" {
		t.Fatalf("address %q", got)
	}
}
