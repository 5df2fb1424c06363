package e2e

// Cluster end-to-end test (issue 10's acceptance): a real redis-server, three
// socketd nodes (the suiteserver with -redis, separate processes) and one Node
// socket.io 4.8 node on @socket.io/redis-adapter 8.3 (clients/cluster-node.mjs),
// with socket.io-client 2.x, 3.x and 4.x sockets spread over them
// (clients/puppet.mjs), and @socket.io/redis-emitter 5.1 publishing into the
// cluster. One cluster serves every step, in order; the fault steps come last.
//
// CONTRACT of the cluster test events, on "/" of every node (suiteserver -redis,
// suiteserver/cluster.go, and clients/cluster-node.mjs), each acked when done:
//   - "whoami" (ack)                        → ack({node, id})
//   - "join" (room, ack)                    → the socket joins room (local)
//   - "set-data" (data, ack)                → socket.data = data
//   - "to-room" (room, payload, ack)        → io.to(room).emit("room-message", payload)
//   - "to-room-except" (room, except, payload, ack)
//                                           → io.to(room).except(except).emit("room-message", payload)
//   - "to-all" (payload, ack)               → io.emit("all-message", payload)
//   - "ask-room" (room, ms, payload, ack)   → io.to(room).timeout(ms).emitWithAck("question", payload);
//     each answer is emitted back to the asking socket as "ask-answer", then ack({count})
//   - "fetch-room" (room, ack)              → io.in(room).fetchSockets() → ack({node, sockets:
//     [{id, rooms, data, auth, query}]})
//   - "join-room"/"leave-room" (room, r, ack) → io.in(room).socketsJoin(r) / socketsLeave(r)
//   - "disconnect-room" (room, close, ack)  → io.in(room).disconnectSockets(close)
//   - "sse" (payload, ack)                  → io.serverSideEmitWithAck("ping", payload) → ack({answers})
//   - server-side "ping" (payload, cb)      → cb({node, echo: payload})
// A failed operation acks {error}. The puppet answers every "question" with
// {echo: payload, from: client}. Cluster nodes ping every 2 s with a 5 s
// timeout (not the conformance suite's 300/200 ms): heartbeats are not under
// test here, and a handler's publish may wait on go-redis while Redis goes away.

import (
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/redistest"
)

// clusterRequestTimeout is the suiteserver's bound on a cluster operation
// (suiteserver/cluster.go); the Node node's adapter uses 3 s.
const clusterRequestTimeout = 10 * time.Second

func TestCluster(t *testing.T) {
	node := requireNode(t, "sio2", "sio3", "sio4", "socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis")
	rs := redistest.Start(t)
	suite := buildBinary(t, "./suiteserver")
	var goNodes []*testServer
	for i := range 3 {
		goNodes = append(goNodes, startServer(t, suite, "-addr", "127.0.0.1:0", "-redis", rs.URL(), "-name", fmt.Sprintf("go%d", i)))
	}
	nodeNode := startServer(t, node, "clients/cluster-node.mjs", "--redis", rs.URL(), "--name", "node")
	p := startPuppet(t, node, 3*time.Minute)

	// A (2.x) on go0 over WebSocket, B (3.x) on go1 over polling, C (4.x) on go2
	// with the default upgrade, D (4.x) on the Node node.
	ids := map[string]string{
		"A": p.connect("A", "sio2", goNodes[0].URL, "websocket", nil),
		"B": p.connect("B", "sio3", goNodes[1].URL, "polling", nil),
		"C": p.connect("C", "sio4", goNodes[2].URL, "", map[string]any{"token": "c"}),
		"D": p.connect("D", "sio4", nodeNode.URL, "websocket", nil),
	}
	everyone := []string{"A", "B", "C", "D"}

	// The cluster is formed when every node answers a server-side emit: a
	// bounded poll, since each node subscribes on its own schedule.
	waitAnswers := func(from string, want []string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := sseNodes(t, p.call(from, "sse", map[string]int{"x": 1}))
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("server-side emit from %s answered by %v, want %v", from, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitAnswers("A", []string{"go1", "go2", "node"})

	// settle broadcasts a marker from origin's node to everyone and waits until
	// every socket has it: what that node published before has been delivered
	// everywhere (one node's publishes reach each node in order).
	settle := func(origin, tag string, who ...string) {
		t.Helper()
		from := p.mark()
		p.call(origin, "to-all", map[string]string{"tag": tag})
		for _, s := range who {
			p.waitEvent(from, s, "all-message", tagged(tag))
		}
	}

	blob := []byte{0, 1, 2, 0xfe, 0xff, 'x'}
	t.Run("broadcast", func(t *testing.T) {
		from := p.mark()
		p.call("B", "to-all", map[string]any{"tag": "b1", "blob": bin(blob), "nested": map[string]any{"deep": bin(blob[:2])}})
		for _, s := range everyone {
			ev := p.waitEvent(from, s, "all-message", tagged("b1"))
			checkBinary(t, s, ev.Args[0], "blob", blob)
			checkBinary(t, s, ev.Args[0], "nested.deep", blob[:2])
		}
		// From the Node node to socketd's clients, binary included.
		from = p.mark()
		p.call("D", "to-all", map[string]any{"tag": "b2", "blob": bin(blob)})
		for _, s := range everyone {
			checkBinary(t, s, p.waitEvent(from, s, "all-message", tagged("b2")).Args[0], "blob", blob)
		}
		settle("B", "b3", everyone...)
		for _, s := range everyone {
			if n := p.count(from, s, "all-message", tagged("b2")); n != 1 {
				t.Fatalf("%s got the broadcast %d times", s, n)
			}
		}
	})

	t.Run("rooms and except", func(t *testing.T) {
		for _, s := range []string{"A", "C", "D"} {
			p.call(s, "join", "r1")
		}
		p.call("C", "join", "ex")
		from := p.mark()
		p.call("B", "to-room", "r1", map[string]any{"tag": "r1", "blob": bin(blob)})
		for _, s := range []string{"A", "C", "D"} {
			checkBinary(t, s, p.waitEvent(from, s, "room-message", tagged("r1")).Args[0], "blob", blob)
		}
		p.call("B", "to-room-except", "r1", "ex", map[string]string{"tag": "r1-ex"})
		p.call("D", "to-room-except", "r1", "ex", map[string]string{"tag": "r1-ex-node"})
		for _, s := range []string{"A", "D"} {
			p.waitEvent(from, s, "room-message", tagged("r1-ex"))
			p.waitEvent(from, s, "room-message", tagged("r1-ex-node"))
		}
		settle("B", "r1-settle", everyone...)
		settle("D", "r1-settle-node", everyone...)
		for s, tag := range map[string]string{"B": "r1", "C": "r1-ex"} {
			if n := p.count(from, s, "room-message", tagged(tag)); n != 0 {
				t.Fatalf("%s got %q %d times, want none", s, tag, n)
			}
		}
		if n := p.count(from, "C", "room-message", tagged("r1-ex-node")); n != 0 {
			t.Fatalf("C (excepted) got the Node node's broadcast %d times", n)
		}
		for _, s := range []string{"A", "C", "D"} {
			if n := p.count(from, s, "room-message", tagged("r1")); n != 1 {
				t.Fatalf("%s got %q %d times, want once", s, "r1", n)
			}
		}
	})

	t.Run("acks across nodes", func(t *testing.T) {
		for _, asker := range []string{"A", "D"} { // from socketd, then from the Node node
			from := p.mark()
			res := p.call(asker, "ask-room", "r1", 5000, map[string]any{"q": asker, "blob": bin(blob)})
			var out struct {
				Count int    `json:"count"`
				Error string `json:"error"`
			}
			_ = json.Unmarshal(res[0], &out)
			if out.Error != "" || out.Count != 3 {
				t.Fatalf("ask-room from %s: %s, want 3 answers (A, C, D)", asker, res[0])
			}
			froms := map[string]bool{}
			for range 3 {
				ev, i := p.wait(from, puppetWait, "ask-answer", func(ev puppetEvent) bool {
					return ev.Name == asker && ev.Ev == "event" && ev.Event == "ask-answer"
				})
				from = i + 1
				var a struct {
					From string `json:"from"`
				}
				_ = json.Unmarshal(ev.Args[0], &a)
				froms[a.From] = true
				checkBinary(t, asker, ev.Args[0], "echo.blob", blob)
			}
			if !froms["sio2"] || !froms["sio4"] {
				t.Fatalf("answers from %v", froms)
			}
		}
	})

	t.Run("fetchSockets", func(t *testing.T) {
		p.call("C", "set-data", map[string]string{"who": "C"})
		for _, asker := range []string{"B", "D"} {
			got := fetchRoom(t, p, asker, "r1")
			if want := []string{ids["A"], ids["C"], ids["D"]}; !sameSet(keys(got), want) {
				t.Fatalf("fetch-room r1 from %s: %v, want %v", asker, keys(got), want)
			}
			c := got[ids["C"]]
			if !slices.Contains(c.Rooms, "r1") || !slices.Contains(c.Rooms, "ex") || !slices.Contains(c.Rooms, ids["C"]) {
				t.Fatalf("from %s: C's rooms %v", asker, c.Rooms)
			}
			checkJSON(t, "C's data from "+asker, c.Data, `{"who":"C"}`)
			checkJSON(t, "C's auth from "+asker, c.Auth, `{"token":"c"}`)
			if c.Query["EIO"] != "4" || got[ids["A"]].Query["EIO"] != "3" {
				t.Fatalf("from %s: handshake queries %v / %v", asker, c.Query, got[ids["A"]].Query)
			}
		}
	})

	t.Run("socketsJoin and socketsLeave", func(t *testing.T) {
		members := []string{ids["A"], ids["C"], ids["D"]}
		p.call("A", "join-room", "r1", "j1")
		waitMembers(t, p, "B", "j1", members)
		from := p.mark()
		p.call("B", "to-room", "j1", map[string]string{"tag": "j1"})
		for _, s := range []string{"A", "C", "D"} {
			p.waitEvent(from, s, "room-message", tagged("j1"))
		}
		// Issued from the Node node, acting on socketd's sockets.
		p.call("D", "join-room", "r1", "j2")
		waitMembers(t, p, "A", "j2", members)
		p.call("D", "leave-room", "j2", "j2")
		waitMembers(t, p, "A", "j2", nil)
		p.call("B", "leave-room", "j1", "j1")
		waitMembers(t, p, "D", "j1", nil)
	})

	t.Run("serverSideEmit", func(t *testing.T) {
		if got := sseNodes(t, p.call("B", "sse", map[string]int{"x": 2})); !slices.Equal(got, []string{"go0", "go2", "node"}) {
			t.Fatalf("answers to go1: %v", got)
		}
		if got := sseNodes(t, p.call("D", "sse", map[string]int{"x": 3})); !slices.Equal(got, []string{"go0", "go1", "go2"}) {
			t.Fatalf("answers to the Node node: %v", got)
		}
	})

	t.Run("emitter", func(t *testing.T) {
		from := p.mark()
		p.emitter(rs.URL(), "r1", "from-emitter", map[string]any{"tag": "em", "blob": bin(blob), "list": []any{1, bin(blob[3:])}})
		for _, s := range []string{"A", "C", "D"} {
			ev := p.waitEvent(from, s, "from-emitter", tagged("em"))
			checkBinary(t, s, ev.Args[0], "blob", blob)
		}
		settle("D", "em-settle", everyone...)
		if n := p.count(from, "B", "from-emitter", nil); n != 0 {
			t.Fatalf("B (not in r1) got the emitter's event %d times", n)
		}
	})

	t.Run("disconnectSockets", func(t *testing.T) {
		ids["E"] = p.connect("E", "sio4", goNodes[0].URL, "websocket", nil)
		ids["F"] = p.connect("F", "sio2", goNodes[2].URL, "websocket", nil)
		ids["G"] = p.connect("G", "sio3", goNodes[1].URL, "websocket", nil)
		p.call("E", "join", "kick")
		p.call("F", "join", "kick")
		p.call("G", "join", "kick-node")
		from := p.mark()
		p.call("B", "disconnect-room", "kick", false)
		for _, s := range []string{"E", "F"} {
			if r := p.waitDisconnect(from, s); r != "io server disconnect" {
				t.Fatalf("%s: disconnect reason %q", s, r)
			}
		}
		p.call("D", "disconnect-room", "kick-node", true)
		if r := p.waitDisconnect(from, "G"); r != "io server disconnect" {
			t.Fatalf("G (disconnected from the Node node): reason %q", r)
		}
	})

	t.Run("redis restarted", func(t *testing.T) {
		rs.Kill()
		// Local delivery goes on while Redis is away.
		from := p.mark()
		p.call("A", "to-room", "r1", map[string]string{"tag": "outage"})
		p.waitEvent(from, "A", "room-message", tagged("outage"))
		p.call("B", "to-all", map[string]string{"tag": "outage-all"})
		p.waitEvent(from, "B", "all-message", tagged("outage-all"))
		rs.Restart()
		// Cross-node delivery comes back: bounded poll from B (go1) to A (go0).
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; ; i++ {
			tag := fmt.Sprintf("back-%d", i)
			mark := p.mark()
			p.call("B", "to-all", map[string]string{"tag": tag})
			if _, ok := p.waitQuietly(mark, 300*time.Millisecond, "A", "all-message", tagged(tag)); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no cross-node delivery within 20 s of Redis' restart")
			}
		}
		waitAnswers("A", []string{"go1", "go2", "node"})
		for _, s := range goNodes {
			select {
			case <-s.done:
				t.Fatalf("a socketd node exited during the outage: %v\n%s", s.err, s.output)
			default:
			}
		}
	})

	t.Run("node killed", func(t *testing.T) {
		goNodes[2].kill(t)
		start := time.Now()
		got := fetchRoom(t, p, "A", "r1")
		if want := []string{ids["A"], ids["D"]}; !sameSet(keys(got), want) {
			t.Fatalf("fetch-room r1 after go2 died: %v, want %v", keys(got), want)
		}
		answers := sseNodes(t, p.callWithin(clusterRequestTimeout+5*time.Second, "B", "sse", map[string]int{"x": 4}))
		if slices.Contains(answers, "go2") || !slices.Contains(answers, "go0") {
			t.Fatalf("answers after go2 died: %v", answers)
		}
		t.Logf("requests after the kill took %v", time.Since(start))
	})
	p.done()
}

// waitQuietly is wait that reports a miss instead of failing.
func (p *puppet) waitQuietly(from int, within time.Duration, name, event string, match func(json.RawMessage) bool) (puppetEvent, bool) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for _, ev := range p.events[from:] {
			if ev.Name == name && ev.Ev == "event" && ev.Event == event && len(ev.Args) > 0 && match(ev.Args[0]) {
				p.mu.Unlock()
				return ev, true
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return puppetEvent{}, false
		}
	}
}

type fetchedSocket struct {
	ID    string            `json:"id"`
	Rooms []string          `json:"rooms"`
	Data  json.RawMessage   `json:"data"`
	Auth  json.RawMessage   `json:"auth"`
	Query map[string]string `json:"query"`
}

// fetchRoom runs "fetch-room" from socket asker and returns the sockets by id.
func fetchRoom(t *testing.T, p *puppet, asker, room string) map[string]fetchedSocket {
	t.Helper()
	res := p.callWithin(clusterRequestTimeout+5*time.Second, asker, "fetch-room", room)
	var out struct {
		Sockets []fetchedSocket `json:"sockets"`
		Error   string          `json:"error"`
	}
	if err := json.Unmarshal(res[0], &out); err != nil || out.Error != "" {
		t.Fatalf("fetch-room %s from %s: %s", room, asker, res[0])
	}
	m := map[string]fetchedSocket{}
	for _, s := range out.Sockets {
		if _, dup := m[s.ID]; dup {
			t.Fatalf("fetch-room %s from %s: %s twice", room, asker, s.ID)
		}
		m[s.ID] = s
	}
	return m
}

// waitMembers polls "fetch-room" (bounded) until room holds exactly want: a
// socketsJoin from one node and the fetch from another travel separately.
func waitMembers(t *testing.T, p *puppet, asker, room string, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := keys(fetchRoom(t, p, asker, room))
		if sameSet(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s holds %v, want %v", room, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sseNodes reads the answers of "sse" and returns the answering nodes, sorted,
// checking that each echoed the payload.
func sseNodes(t *testing.T, res []json.RawMessage) []string {
	t.Helper()
	var out struct {
		Answers []struct {
			Node string          `json:"node"`
			Echo json.RawMessage `json:"echo"`
		} `json:"answers"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res[0], &out); err != nil {
		t.Fatalf("sse ack %s: %v", res[0], err)
	}
	var nodes []string
	for _, a := range out.Answers {
		if len(a.Echo) == 0 || a.Echo[0] != '{' {
			t.Fatalf("sse answer without the payload: %s", res[0])
		}
		nodes = append(nodes, a.Node)
	}
	slices.Sort(nodes)
	return nodes
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// kill ends the server with SIGKILL (a crash) and waits for it; the cleanup of
// startServer then has nothing to do.
func (s *testServer) kill(t testing.TB) {
	t.Helper()
	s.stopped = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL pid %d: %v", s.cmd.Process.Pid, err)
	}
	<-s.done
}
