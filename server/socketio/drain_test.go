package socketio_test

import (
	"testing"
	"time"

	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// Shutdown ends a client with an Engine.IO close packet, not a Socket.IO
// DISCONNECT (which makes socket.io-client stay away), after everything sent
// before; the socket's reason is "server shutting down".
func TestShutdownClosesWithoutDisconnect(t *testing.T) {
	reasons := make(chan socketio.DisconnectReason, 1)
	e := newEnv(t, socketio.Config{Engine: engine.Config{DrainSpread: time.Minute}}, func(io *socketio.Server) {
		io.Of("/").OnDisconnect(func(_ *socketio.Socket, r socketio.DisconnectReason) { reasons <- r })
	})
	c := e.dial("4")
	connectV5(t, c, "/", "")
	if err := e.io.Of("/").Emit("before", "x"); err != nil {
		t.Fatal(err)
	}
	if err := e.io.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := next(t, c); got != `42["before","x"]` {
		t.Fatalf("first %q, want the event sent before Shutdown", got)
	}
	if got := next(t, c); got != "1" {
		t.Fatalf("then %q, want the Engine.IO close packet", got)
	}
	select {
	case r := <-reasons:
		if r != socketio.ReasonServerShuttingDown {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
	}
}
