package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
)

// TestRedisWire checks the Redis wire against the npm packages it copies: a
// Node socket.io 4.8 node on @socket.io/redis-adapter 8.3 and
// @socket.io/redis-emitter 5.1 (clients/redis-wire.mjs) share one Redis
// with a socketd node (its adapter over a recording namespace, socket "g"
// in room "r"). Binary crosses both ways intact; the Node node's
// fetchSockets, socketsJoin and disconnectSockets act on socketd's socket;
// socketd's fetchSockets sees the Node node's client.
func TestRedisWire(t *testing.T) {
	node := requireNode(t, "socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis", "sio4")
	t.Run("classic", func(t *testing.T) { redisWire(t, node, "") })
	// The sharded adapter (SPUBLISH, ClusterMessage) in two of its modes.
	t.Run("sharded static", func(t *testing.T) { redisWire(t, node, "static") })
	t.Run("sharded dynamic", func(t *testing.T) { redisWire(t, node, "dynamic") })
}

func redisWire(t *testing.T, node, mode string) {
	sharded := mode != ""
	subMode := redisadapter.Dynamic
	if mode == "static" {
		subMode = redisadapter.Static
	}
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	cl, err := redisadapter.New(redisadapter.Config{Client: client, Sharded: sharded, SubscriptionMode: subMode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	ns := adaptertest.NewNamespace()
	ad, err := cl.Factory()("/", ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ad.Close() })
	ns.SetAdapter(ad)
	if err := ad.(*redisadapter.Adapter).WaitSubscribed(ctx); err != nil {
		t.Fatal(err)
	}
	ns.Connect("g", "r")
	if err := ad.(*redisadapter.Adapter).Sync(ctx); err != nil {
		t.Fatal(err)
	}

	argv := []string{"clients/redis-wire.mjs", "redis://" + srv.Addr}
	if sharded {
		argv = append(argv, mode)
	}
	cmd := exec.CommandContext(ctx, node, argv...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok || !strings.HasPrefix(l, prefix) {
				t.Fatalf("node said %q, want %q", l, prefix)
			}
			return strings.TrimSpace(strings.TrimPrefix(l, prefix))
		case <-ctx.Done():
			t.Fatalf("node did not say %q", prefix)
		}
		return ""
	}
	say := func(s string) { _, _ = io.WriteString(stdin, s+"\n") }

	nodeClient := expect("ready")
	// Both nodes count on the request channel before anything is sent. No
	// event tells when the Node node's subscription landed; poll, bounded.
	for n := 0; n != 2; {
		if n, err = ad.ServerCount(ctx); err != nil || ctx.Err() != nil {
			t.Fatalf("server count %d: %v", n, err)
		}
		if n != 2 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	say("go")
	expect("emitted")
	ns.Wait(t, "the emitter's and the Node node's broadcasts", func() bool {
		return (sharded || ns.Received("g", "fromEmitter")) && ns.Received("g", "fromNode")
	})
	headers := map[string]string{}
	for _, p := range ns.Packets("g") {
		name, _, _ := p.Event()
		headers[name] = string(socketio.AppendEncode(nil, p))
		switch name {
		case "fromEmitter":
			if len(p.Attachments) != 2 || !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) || !bytes.Equal(p.Attachments[1], []byte{4}) {
				t.Fatalf("emitter's attachments %x", p.Attachments)
			}
		case "fromNode":
			if len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[0], []byte{5, 6}) {
				t.Fatalf("Node node's attachments %x", p.Attachments)
			}
		}
	}
	if want := `52-["fromEmitter",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}},"1970-01-01T00:00:00.000Z",10000000000000000000]`; !sharded && headers["fromEmitter"] != want {
		t.Fatalf("emitter's event for clients:\n got %s\nwant %s", headers["fromEmitter"], want)
	}
	if want := `51-["fromNode",{"_placeholder":true,"num":0},"text"]`; headers["fromNode"] != want {
		t.Fatalf("Node node's event for clients:\n got %s\nwant %s", headers["fromNode"], want)
	}

	// socketd to the Node node's client, binary included. In the dynamic
	// mode the room has its own channel; wait until the Node node has it.
	for mode == "dynamic" {
		n, err := client.PubSubShardNumSub(ctx, "socket.io#/#r#").Result()
		if err != nil || ctx.Err() != nil {
			t.Fatalf("SHARDNUMSUB: %v", err)
		}
		if n["socket.io#/#r#"] == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var args socketio.Args
	args.AddBinary([]byte{9, 8, 7})
	args.AddJSON(json.RawMessage(`{"k":[1.5,"é"]}`))
	pkt := socketio.NewEvent("/", "fromGo", args)
	if err := ad.Broadcast(ctx, &pkt, adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}); err != nil {
		t.Fatal(err)
	}
	if got := expect("fromGo"); got != `[{"buffer":"090807"},{"k":[1.5,"é"]}]` {
		t.Fatalf("the Node node's client got %s", got)
	}
	infos, err := ad.FetchSockets(ctx, adapter.BroadcastOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[1].ID != adapter.SocketID(nodeClient) || !json.Valid(infos[1].Handshake) {
		t.Fatalf("fetchSockets from socketd: %+v", infos)
	}

	// A broadcast with acks from the Node node: socketd's socket answers
	// (with binary), counted and routed back.
	say("ask")
	ns.Wait(t, "g to be asked", func() bool { return ns.Received("g", "ask") })
	var answer socketio.Args
	answer.AddBinary([]byte{0xab})
	ns.AckFunc("g")("g", answer)
	if got := expect("answers"); got != `[{"buffer":"ab"},"node-client-1"]` {
		t.Fatalf("the Node node's acks: %s", got)
	}
	// And the other way: socketd asks, the Node node counts its client and
	// routes its answer back.
	ask := socketio.NewEvent("/", "ask", socketio.Args{Values: []json.RawMessage{json.RawMessage("2")}})
	ask.ID, ask.HasID = 1, true
	counts, acks := make(chan int, 4), make(chan string, 4)
	err = ad.BroadcastWithAck(ctx, &ask, adapter.BroadcastOptions{Except: []adapter.Room{"g"}, Flags: adapter.Flags{Timeout: 10 * time.Second}},
		func(n int) { counts <- n },
		func(_ adapter.SocketID, a socketio.Args) { acks <- string(a.Values[0]) })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case n := <-counts:
			if n != 0 && n != 1 {
				t.Fatalf("client count %d", n)
			}
		case <-ctx.Done():
			t.Fatal("a node did not report its client count")
		}
	}
	select {
	case a := <-acks:
		if a != `"node-client-2"` {
			t.Fatalf("answer %s", a)
		}
	case <-ctx.Done():
		t.Fatal("no answer from the Node node's client")
	}

	// Server-side events with answers, both ways.
	var goAnswer socketio.Args
	goAnswer.AddJSON(json.RawMessage(`{"from":"go"}`))
	ns.AnswerServerSideEmit(goAnswer)
	say("serverSide")
	if got := expect("serverAnswers"); got != `[{"from":"go"}]` {
		t.Fatalf("the Node node's serverSideEmitWithAck got %s", got)
	}
	answers, err := ad.ServerSideEmit(ctx, "pingNode", socketio.Args{Values: []json.RawMessage{json.RawMessage("7")}}, true)
	if err != nil || len(answers) != 1 || string(answers[0].Values[0]) != `"pong-7"` {
		t.Fatalf("serverSideEmit with answers from socketd: %+v %v", answers, err)
	}

	say("act")
	if got := expect("fetched"); !strings.Contains(got, `{"id":"g","rooms":["g","r"]}`) || !strings.Contains(got, nodeClient) {
		t.Fatalf("fetchSockets from Node: %s", got)
	}
	expect("acted")
	ns.Wait(t, "g to be disconnected by the Node node", func() bool { return len(ad.Sockets([]adapter.Room{"g"})) == 0 })
	// In the dynamic mode the broadcast goes to the new room's own channel,
	// which this node subscribes to only once the join made the room: it
	// may miss it, as a Node node would.
	if mode != "dynamic" && !ns.Received("g", "afterJoin") {
		t.Fatal("the Node node's socketsJoin did not reach g before its broadcast")
	}
	say("end")
	expect("done")
}
