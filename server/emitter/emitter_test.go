package emitter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
	"github.com/socketd/socketd/server/emitter"
)

// node is one socketd node's namespace "/chat" with sockets a (in room r)
// and b.
func node(t *testing.T, addr string) (*adaptertest.Namespace, adapter.Adapter) {
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	c, err := redisadapter.New(redisadapter.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	n := adaptertest.NewNamespace()
	a, err := c.Factory()("/chat", n)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.(*redisadapter.Adapter).WaitSubscribed(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	n.SetAdapter(a)
	n.Connect("a", "r")
	n.Connect("b")
	return n, a
}

func TestEmitter(t *testing.T) {
	srv := redistest.Start(t)
	n, a := node(t, srv.Addr)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	e := emitter.New(emitter.Config{Client: client}).Of("chat")
	ctx := context.Background()

	if err := e.To("r").Emit(ctx, "news", map[string]int{"n": 1}, []byte{0, 1, 255}); err != nil {
		t.Fatal(err)
	}
	if err := e.Except("r").Volatile().Emit(ctx, "others"); err != nil {
		t.Fatal(err)
	}
	n.Wait(t, "b to get others", func() bool { return n.Received("b", "others") })
	if n.Received("a", "others") || n.Received("b", "news") {
		t.Fatal("rooms or except not honoured")
	}
	// Binary arrives as an attachment: a BINARY_EVENT for the clients.
	var got *socketio.Packet
	for _, p := range n.Packets("a") {
		if name, _, _ := p.Event(); name == "news" {
			got = p
		}
	}
	if got == nil || got.Type != socketio.BinaryEvent || !bytes.Equal(got.Attachments[0], []byte{0, 1, 255}) ||
		string(got.Data) != `["news",{"n":1},{"_placeholder":true,"num":0}]` {
		t.Fatalf("news arrived as %+v", got)
	}

	if err := e.In("r").SocketsJoin(ctx, "joined"); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(ctx, "sync"); err != nil {
		t.Fatal(err)
	}
	n.Wait(t, "b to get sync", func() bool { return n.Received("b", "sync") })
	if g := a.Sockets([]adapter.Room{"joined"}); !slices.Equal(g, []adapter.SocketID{"a"}) {
		t.Fatalf("joined = %v", g)
	}
	if err := e.SocketsLeave(ctx, "joined"); err != nil {
		t.Fatal(err)
	}
	if err := e.ServerSideEmit(ctx, "hello", json.RawMessage(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.Except("a").DisconnectSockets(ctx, true); err != nil {
		t.Fatal(err)
	}
	n.Wait(t, "b to be disconnected", func() bool { return len(a.Sockets([]adapter.Room{"b"})) == 0 })
	if len(a.Sockets([]adapter.Room{"joined"})) != 0 || len(a.Sockets([]adapter.Room{"a"})) != 1 {
		t.Fatal("leave or disconnect targeted the wrong sockets")
	}
	if !n.Emitted("hello") {
		t.Fatal("server-side event not received")
	}
	if err := e.Emit(ctx, "disconnect"); !errors.Is(err, emitter.ErrReservedEvent) {
		t.Fatalf("reserved name: %v", err)
	}
}
