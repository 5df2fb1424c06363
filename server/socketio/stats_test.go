package socketio_test

import (
	"testing"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/socketio"
)

// TestStats: connects and refusals, packets and bytes both ways, a broadcast's
// fan-out and a disconnect reason are counted, exactly.
func TestStats(t *testing.T) {
	left := make(chan socketio.DisconnectReason, 1)
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) {
		echoSetup(io)
		io.Of("/").OnDisconnect(func(_ *socketio.Socket, r socketio.DisconnectReason) { left <- r })
	})
	var in, out int // Socket.IO packet bytes: Engine.IO messages without their type byte
	send := func(c *testutil.WSClient, msg string) { _ = c.SendText(msg); in += len(msg) - 1 }
	recv := func(c *testutil.WSClient) { out += len(next(t, c)) - 1 }

	a, b := e.dial("4"), e.dial("4")
	for _, c := range []*testutil.WSClient{a, b} {
		send(c, "40")
		recv(c) // connect reply
		recv(c) // the "auth" event of echoSetup
	}
	send(a, "40/random,") // refused: unknown namespace
	recv(a)
	send(a, `42["message",1]`) // echoed
	recv(a)
	if err := e.io.Of("/").Emit("all", 2); err != nil {
		t.Fatal(err)
	}
	recv(a)
	recv(b)

	st := e.io.Stats()
	if st.Connects != 2 || st.ConnectErrors != 1 || st.Sockets["/"] != 2 || st.Sockets["/custom"] != 0 {
		t.Fatalf("connects %+v", st)
	}
	if st.PacketsIn != 4 || st.BytesIn != uint64(in) {
		t.Fatalf("in: %d packets, %d bytes; want 4, %d", st.PacketsIn, st.BytesIn, in)
	}
	if st.PacketsOut != 8 || st.BytesOut != uint64(out) || st.Broadcasts != 1 || st.BroadcastDeliveries != 2 {
		t.Fatalf("out (want 8 packets, %d bytes): %+v", out, st)
	}
	_ = b.SendText("41") // b leaves the namespace
	<-left
	if got := e.io.Stats().Disconnects[socketio.ReasonClientNamespaceDisconnect]; got != 1 {
		t.Fatalf("disconnects %v", e.io.Stats().Disconnects)
	}
}
