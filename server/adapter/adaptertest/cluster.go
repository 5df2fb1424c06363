package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// ClusterFactory returns one adapter per namespace in locals, each on its
// own node, all sharing one bus, for the namespace named nsp. The suite
// closes them. It returns when every adapter receives what the others
// publish.
type ClusterFactory func(t *testing.T, nsp string, locals []adapter.Local) []adapter.Adapter

// Syncer is implemented by adapters whose room subscriptions follow
// membership in the background (the sharded Redis wire's dynamic modes):
// Sync returns when they have caught up. The suite calls it after changing
// rooms and before expecting broadcasts to those rooms to arrive.
type Syncer interface {
	Sync(ctx context.Context) error
}

func syncAll(t *testing.T, ads []adapter.Adapter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, a := range ads {
		if s, ok := a.(Syncer); ok {
			if err := s.Sync(ctx); err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
	}
}

// waitTimeout bounds every wait for a message to cross the bus.
const waitTimeout = 10 * time.Second

// Wait waits until cond holds for n, woken by every change of n.
func (n *Namespace) Wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		ch := n.changed
		n.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// events returns the names of the events socket id received, in order.
func (n *Namespace) events(id adapter.SocketID) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.delivered[id] {
		name, _, err := p.Event()
		if err != nil {
			name = "!" + err.Error()
		}
		out = append(out, name)
	}
	return out
}

func (n *Namespace) isConnected(id adapter.SocketID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected[id]
}

var nspSeq atomic.Uint64

// RunCluster runs the multi-node suite: nodes adapters (at least 2) on one
// bus, each with its own fake namespace. Node i has sockets a<i> in r1,
// b<i> in r1 and r2, c<i> in r2, d<i> in no room but its own.
func RunCluster(t *testing.T, nodes int, factory ClusterFactory) {
	if nodes < 2 {
		t.Fatal("RunCluster needs at least 2 nodes")
	}
	ctx := context.Background()
	type cluster struct {
		nsp  string
		ns   []*Namespace
		ad   []adapter.Adapter
		sids []adapter.SocketID
	}
	setup := func(t *testing.T) *cluster {
		c := &cluster{nsp: fmt.Sprintf("/cluster%d", nspSeq.Add(1))}
		locals := make([]adapter.Local, nodes)
		for i := range nodes {
			c.ns = append(c.ns, NewNamespace())
			locals[i] = c.ns[i]
		}
		c.ad = factory(t, c.nsp, locals)
		for i, a := range c.ad {
			c.ns[i].adapter = a
			t.Cleanup(func() { _ = a.Close() })
			sid := func(p string) adapter.SocketID { return adapter.SocketID(fmt.Sprintf("%s%d", p, i)) }
			c.ns[i].Connect(sid("a"), "r1")
			c.ns[i].Connect(sid("b"), "r1", "r2")
			c.ns[i].Connect(sid("c"), "r2")
			c.ns[i].Connect(sid("d"))
			c.sids = append(c.sids, sid("a"), sid("b"), sid("c"), sid("d"))
		}
		syncAll(t, c.ad)
		return c
	}
	node := func(id adapter.SocketID) int { return int(id[len(id)-1] - '0') }
	ev := func(c *cluster, name string) *socketio.Packet {
		p := socketio.NewEvent(c.nsp, name, socketio.Args{})
		return &p
	}
	// marker broadcasts an event to everyone from node from and waits until
	// every socket has it: everything node from published before has then
	// been applied everywhere (Redis keeps one publisher's order).
	marker := func(t *testing.T, c *cluster, from int) {
		t.Helper()
		name := fmt.Sprintf("marker%d", nspSeq.Add(1))
		if err := c.ad[from].Broadcast(ctx, ev(c, name), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, id := range c.sids {
			n := c.ns[node(id)]
			if !n.isConnected(id) {
				continue
			}
			n.Wait(t, string(id)+" to get "+name, func() bool { return slices.Contains(n.events(id), name) })
		}
	}
	got := func(c *cluster, name string) []adapter.SocketID {
		var out []adapter.SocketID
		for _, id := range c.sids {
			for _, e := range c.ns[node(id)].events(id) {
				if e == name {
					out = append(out, id)
				}
			}
		}
		return out
	}
	all := func(c *cluster, prefixes string) []adapter.SocketID {
		var out []adapter.SocketID
		for _, id := range c.sids {
			if slices.Contains([]byte(prefixes), id[0]) {
				out = append(out, id)
			}
		}
		return out
	}

	t.Run("server count", func(t *testing.T) {
		c := setup(t)
		for i, a := range c.ad {
			if n, err := a.ServerCount(ctx); err != nil || n != nodes {
				t.Fatalf("node %d: ServerCount = %d, %v; want %d", i, n, err, nodes)
			}
		}
	})

	t.Run("broadcast targets", func(t *testing.T) {
		tt := []struct {
			name string
			opts adapter.BroadcastOptions
			want string // socket name prefixes, on every node
		}{
			{"everyone", adapter.BroadcastOptions{}, "abcd"},
			{"one room", adapter.BroadcastOptions{Rooms: []adapter.Room{"r1"}}, "ab"},
			{"two rooms, each socket once", adapter.BroadcastOptions{Rooms: []adapter.Room{"r1", "r2"}}, "abc"},
			{"except a room", adapter.BroadcastOptions{Except: []adapter.Room{"r2"}}, "ad"},
			{"volatile", adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}, Flags: adapter.Flags{Volatile: true}}, "bc"},
		}
		for _, tc := range tt {
			for _, counted := range []bool{false, true} {
				name := tc.name
				if counted {
					name += ", counted"
				}
				t.Run(name, func(t *testing.T) {
					c := setup(t)
					if counted {
						n, err := c.ad[0].BroadcastCount(ctx, ev(c, "x"), tc.opts)
						if err != nil {
							t.Fatal(err)
						}
						if want := len(all(c, tc.want)); n != want {
							t.Fatalf("count %d, want %d", n, want)
						}
					} else if err := c.ad[0].Broadcast(ctx, ev(c, "x"), tc.opts); err != nil {
						t.Fatal(err)
					}
					marker(t, c, 0)
					if g, w := got(c, "x"), all(c, tc.want); !slices.Equal(g, w) {
						t.Fatalf("reached %v, want %v", g, w)
					}
				})
			}
		}
	})

	t.Run("socket rooms across nodes", func(t *testing.T) {
		c := setup(t)
		// A socket id is a room: one socket of another node, and except one.
		if err := c.ad[0].Broadcast(ctx, ev(c, "x"), adapter.BroadcastOptions{Rooms: []adapter.Room{"d1"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.ad[0].Broadcast(ctx, ev(c, "y"), adapter.BroadcastOptions{Rooms: []adapter.Room{"r1"}, Except: []adapter.Room{"a1", "b0"}}); err != nil {
			t.Fatal(err)
		}
		marker(t, c, 0)
		if g := got(c, "x"); !slices.Equal(g, []adapter.SocketID{"d1"}) {
			t.Fatalf("x reached %v", g)
		}
		want := slices.DeleteFunc(all(c, "ab"), func(id adapter.SocketID) bool { return id == "a1" || id == "b0" })
		if g := got(c, "y"); !slices.Equal(g, want) {
			t.Fatalf("y reached %v, want %v", g, want)
		}
	})

	t.Run("broadcast with acks", func(t *testing.T) {
		c := setup(t)
		p := ev(c, "q")
		p.ID, p.HasID = 1, true
		var mu sync.Mutex
		expected, reports := 0, 0
		var answers []adapter.SocketID
		progress := make(chan struct{}, 64)
		note := func() {
			select {
			case progress <- struct{}{}:
			default:
			}
		}
		err := c.ad[0].BroadcastWithAck(ctx, p, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}, Flags: adapter.Flags{Timeout: waitTimeout}},
			func(n int) { mu.Lock(); expected += n; reports++; mu.Unlock(); note() },
			func(id adapter.SocketID, _ socketio.Args) {
				mu.Lock()
				answers = append(answers, id)
				mu.Unlock()
				note()
			})
		if err != nil {
			t.Fatal(err)
		}
		targets := all(c, "bc")
		for _, id := range targets {
			n := c.ns[node(id)]
			n.Wait(t, string(id)+" to get q", func() bool { return slices.Contains(n.events(id), "q") })
			n.mu.Lock()
			ack := n.acks[id]
			n.mu.Unlock()
			var args socketio.Args
			args.AddJSON(json.RawMessage(`"` + string(id) + `"`))
			ack(id, args)
		}
		deadline := time.NewTimer(waitTimeout)
		defer deadline.Stop()
		for {
			mu.Lock()
			complete := reports == nodes && len(answers) == len(targets)
			mu.Unlock()
			if complete {
				break
			}
			select {
			case <-progress:
			case <-deadline.C:
				t.Fatalf("timed out: %d counts, %d answers", reports, len(answers))
			}
		}
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(answers)
		sortedIDs(targets)
		if expected != len(targets) || !slices.Equal(answers, targets) {
			t.Fatalf("expected %d answers, got %v; want %v", expected, answers, targets)
		}
	})

	t.Run("fetch sockets", func(t *testing.T) {
		c := setup(t)
		infos, err := c.ad[1].FetchSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}, Except: []adapter.Room{"c0"}})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(infos, func(x, y adapter.SocketInfo) int { return compare(x.ID, y.ID) })
		want := sortedIDs(slices.DeleteFunc(all(c, "bc"), func(id adapter.SocketID) bool { return id == "c0" }))
		var ids []adapter.SocketID
		for _, in := range infos {
			ids = append(ids, in.ID)
			if in.ID[0] == 'b' {
				r := slices.Clone(in.Rooms)
				slices.Sort(r)
				if !slices.Equal(r, []adapter.Room{adapter.Room(in.ID), "r1", "r2"}) {
					t.Fatalf("rooms of %s: %v", in.ID, in.Rooms)
				}
			}
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("fetched %v, want %v", ids, want)
		}
	})

	t.Run("sockets join and leave", func(t *testing.T) {
		c := setup(t)
		if err := c.ad[0].AddSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r1"}}, []adapter.Room{"r3"}); err != nil {
			t.Fatal(err)
		}
		marker(t, c, 0)
		for i, a := range c.ad {
			want := []adapter.SocketID{adapter.SocketID(fmt.Sprint("a", i)), adapter.SocketID(fmt.Sprint("b", i))}
			if g := sortedIDs(a.Sockets([]adapter.Room{"r3"})); !slices.Equal(g, want) {
				t.Fatalf("node %d: r3 = %v, want %v", i, g, want)
			}
		}
		last := nodes - 1
		if err := c.ad[last].DelSockets(ctx, adapter.BroadcastOptions{Except: []adapter.Room{"a1"}}, []adapter.Room{"r3"}); err != nil {
			t.Fatal(err)
		}
		marker(t, c, last)
		for i, a := range c.ad {
			var want []adapter.SocketID
			if i == 1 {
				want = []adapter.SocketID{"a1"}
			}
			if g := a.Sockets([]adapter.Room{"r3"}); !slices.Equal(g, want) {
				t.Fatalf("node %d: r3 after leave = %v, want %v", i, g, want)
			}
		}
	})

	t.Run("disconnect sockets", func(t *testing.T) {
		c := setup(t)
		if err := c.ad[1].DisconnectSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}}, true); err != nil {
			t.Fatal(err)
		}
		for _, id := range all(c, "bc") {
			n := c.ns[node(id)]
			n.Wait(t, string(id)+" to disconnect", func() bool { return !n.isConnected(id) })
			n.mu.Lock()
			closed := n.closed[id]
			n.mu.Unlock()
			if !closed {
				t.Fatalf("%s disconnected without closing", id)
			}
		}
		for _, id := range all(c, "ad") {
			if !c.ns[node(id)].isConnected(id) {
				t.Fatalf("%s disconnected", id)
			}
		}
	})

	t.Run("server side emit", func(t *testing.T) {
		c := setup(t)
		for i, n := range c.ns {
			var a socketio.Args
			a.AddJSON(json.RawMessage(fmt.Sprint(i)))
			n.answer = &a
		}
		answers, err := c.ad[0].ServerSideEmit(ctx, "ping", socketio.Args{}, true)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range answers {
			if len(a.Values) != 1 {
				t.Fatalf("answer %+v", a)
			}
			got = append(got, string(a.Values[0]))
		}
		slices.Sort(got)
		var want []string
		for i := 1; i < nodes; i++ {
			want = append(want, fmt.Sprint(i))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("answers %v, want %v", got, want)
		}
		if _, err := c.ad[1].ServerSideEmit(ctx, "hello", socketio.Args{}, false); err != nil {
			t.Fatal(err)
		}
		for i, n := range c.ns {
			if i == 1 {
				continue
			}
			n.Wait(t, fmt.Sprint("node ", i, " to get hello"), func() bool {
				n.mu.Lock()
				defer n.mu.Unlock()
				return slices.Contains(n.emitted, "hello")
			})
		}
		if slices.Contains(c.ns[1].emitted, "hello") || slices.Contains(c.ns[0].emitted, "ping") {
			t.Fatal("a node received its own server-side event")
		}
	})

	t.Run("ordered", func(t *testing.T) {
		// Operations issued one after another through different nodes reach
		// every socket in that order: a join issued on one node is applied
		// before a broadcast to that room issued next on another.
		c := setup(t)
		ordered := adapter.Flags{Ordered: true}
		const rounds = 5
		for k := range rounds {
			room := adapter.Room(fmt.Sprint("o", k))
			if err := c.ad[k%nodes].AddSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}, Flags: ordered}, []adapter.Room{room}); err != nil {
				t.Fatal(err)
			}
			if err := c.ad[(k+1)%nodes].Broadcast(ctx, ev(c, string(room)), adapter.BroadcastOptions{Rooms: []adapter.Room{room}, Flags: ordered}); err != nil {
				t.Fatal(err)
			}
			n, err := c.ad[(k+2)%nodes].BroadcastCount(ctx, ev(c, string(room)+"c"), adapter.BroadcastOptions{Rooms: []adapter.Room{room}, Flags: ordered})
			if err != nil {
				t.Fatal(err)
			}
			if want := len(all(c, "bc")); n != want {
				t.Fatalf("round %d: count %d, want %d", k, n, want)
			}
			if err := c.ad[(k+2)%nodes].DelSockets(ctx, adapter.BroadcastOptions{Flags: ordered}, []adapter.Room{room}); err != nil {
				t.Fatal(err)
			}
			if err := c.ad[(k+1)%nodes].Broadcast(ctx, ev(c, string(room)+"late"), adapter.BroadcastOptions{Rooms: []adapter.Room{room}, Flags: ordered}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range nodes {
			marker(t, c, i)
		}
		for k := range rounds {
			room := fmt.Sprint("o", k)
			if g, w := got(c, room), all(c, "bc"); !slices.Equal(g, w) {
				t.Fatalf("round %d: %v reached %v, want %v", k, room, g, w)
			}
			if g := got(c, room+"late"); len(g) != 0 {
				t.Fatalf("round %d: broadcast after the leave reached %v", k, g)
			}
		}
		for _, id := range all(c, "bc") {
			var order []string
			for _, e := range c.ns[node(id)].events(id) {
				if e[0] == 'o' {
					order = append(order, e)
				}
			}
			var want []string
			for k := range rounds {
				want = append(want, fmt.Sprint("o", k), fmt.Sprint("o", k, "c"))
			}
			if !slices.Equal(order, want) {
				t.Fatalf("%s got %v, want %v", id, order, want)
			}
		}
	})
}

func compare(x, y adapter.SocketID) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func sortedIDs(ids []adapter.SocketID) []adapter.SocketID {
	slices.Sort(ids)
	return ids
}

// Received reports whether socket id got an event named name.
func (n *Namespace) Received(id adapter.SocketID, name string) bool {
	return slices.Contains(n.events(id), name)
}

// Packets returns the packets socket id received, in order.
func (n *Namespace) Packets(id adapter.SocketID) []*socketio.Packet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.delivered[id])
}

// Emitted reports whether the namespace received the server-side event.
func (n *Namespace) Emitted(event string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.emitted, event)
}

// AckFunc returns the ack route of the last packet with an ack id socket id
// received (nil if none): calling it is the client answering.
func (n *Namespace) AckFunc(id adapter.SocketID) adapter.AckFunc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.acks[id]
}

// AnswerServerSideEmit makes the namespace answer server-side events with a.
func (n *Namespace) AnswerServerSideEmit(a socketio.Args) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answer = &a
}
