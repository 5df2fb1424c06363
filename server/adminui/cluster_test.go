package adminui_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
	"github.com/socketd/socketd/server/adminui"
)

// Two nodes on one Redis: an admin connected to node A sees node B's stats,
// sockets and events, and disconnects a socket of node B.
func TestClusterAdminSeesEveryNode(t *testing.T) {
	rs := redistest.Start(t)
	nodes := make([]*env, 2)
	for i, id := range []string{"node-a", "node-b"} {
		client := redis.NewClient(&redis.Options{Addr: rs.Addr})
		bus, err := redisadapter.New(redisadapter.Config{Client: client, RequestTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close(); _ = client.Close() })
		nodes[i] = newNode(t, adminui.Options{ServerID: id, Auth: &adminui.BasicAuth{Username: adminUser}}, bus.Factory())
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = bus.WaitUp(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s not on the bus: %v", id, err)
		}
	}
	a, b := nodes[0], nodes[1]
	early := b.connect("/", "")

	admin := a.login()
	args, _ := admin.event("all_sockets")
	if s := findSocket(t, args[0], early.id); s.ClientID != early.id {
		t.Errorf("node B's socket %+v: want its id as the client id (node A cannot know its session)", s)
	}

	// Node B reports once it heard that node A has an admin.
	fromB := false
	for i := 0; i < 200 && !fromB; i++ {
		args, _ = admin.event("server_stats")
		var st struct{ ServerID string }
		_ = json.Unmarshal(args[0], &st)
		fromB = st.ServerID == "node-b"
	}
	if !fromB {
		t.Fatal("no server_stats from node B in 200")
	}
	late := b.connect("/", "")
	seen := false
	for i := 0; i < 1000 && !seen; i++ {
		args, _ = admin.event("socket_connected")
		var sc socketView
		_ = json.Unmarshal(args[0], &sc)
		if seen = sc.ID == late.id; seen && (sc.Transport != "websocket" || sc.Nsp != "/") {
			t.Errorf("node B's socket_connected %s", args[0])
		}
	}
	if !seen {
		t.Fatal("no socket_connected for node B's new socket")
	}

	_ = admin.c.SendText(`42/admin,5["_disconnect","/",false,"` + late.id + `"]`)
	if got := admin.readAck(); got != `3/admin,5[{"ok":true}]` {
		t.Fatalf("_disconnect ack %q", got)
	}
	if got := late.read(); got != "1" {
		t.Fatalf("node B's socket got %q, want DISCONNECT", got)
	}
	if _, ok := b.io.Of("/").Socket(early.id); !ok {
		t.Error("the other socket of node B was disconnected too")
	}
}
