package socketio_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/socketd/socketd/server/socketio"
)

// Namespace hooks run for every socket, before the socket's own; disconnecting
// hooks still see the socket in its rooms.
func TestDisconnectHooksOrder(t *testing.T) {
	io := newBenchServer(t)
	nsp := io.Of("/")
	var (
		mu  sync.Mutex
		got []string
	)
	rec := func(what string) func(*socketio.Socket, socketio.DisconnectReason) {
		return func(s *socketio.Socket, r socketio.DisconnectReason) {
			mu.Lock()
			defer mu.Unlock()
			in := "out"
			if slices.Contains(s.Rooms(), "room") {
				in = "in"
			}
			got = append(got, what+":"+string(r)+":"+in)
		}
	}
	nsp.OnDisconnecting(rec("nsp-disconnecting"))
	nsp.OnDisconnect(rec("nsp-disconnect"))
	nsp.OnConnection(func(s *socketio.Socket) {
		s.Join("room")
		s.OnDisconnecting(rec("own-disconnecting"))
		s.OnDisconnect(rec("own-disconnect"))
	})
	pollingClients(t, io, 1)
	ids := nsp.Adapter().Sockets(nil)
	if len(ids) != 1 {
		t.Fatalf("sockets %v", ids)
	}
	s, _ := nsp.Socket(string(ids[0]))
	s.Disconnect(false)
	want := []string{
		"nsp-disconnecting:server namespace disconnect:in",
		"own-disconnecting:server namespace disconnect:in",
		"nsp-disconnect:server namespace disconnect:out",
		"own-disconnect:server namespace disconnect:out",
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("hooks ran as\n%q\nwant\n%q", got, want)
	}
}
