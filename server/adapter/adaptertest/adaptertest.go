// Package adaptertest is the conformance suite for adapter.Adapter
// implementations: Run checks room bookkeeping, broadcast targeting (rooms,
// except, each socket once), acks, and the socket operations, against a fake
// namespace that records what the adapter asked of it.
package adaptertest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// Factory returns a fresh adapter acting on local. The suite closes it.
type Factory func(t *testing.T, local adapter.Local) adapter.Adapter

// Namespace is a fake adapter.Local: sockets are ids, deliveries are recorded.
type Namespace struct {
	mu        sync.Mutex
	adapter   adapter.Adapter
	connected map[adapter.SocketID]bool
	delivered map[adapter.SocketID][]*socketio.Packet
	acks      map[adapter.SocketID]adapter.AckFunc
	closed    map[adapter.SocketID]bool
	// changed is closed (and replaced) whenever the namespace is acted on,
	// so cluster tests wait for an event instead of for time.
	changed chan struct{}
	// emitted are the events received through ServerSideEmit; answer is
	// what this namespace answers them with (no answer when nil).
	emitted []string
	answer  *socketio.Args
}

var _ adapter.Local = (*Namespace)(nil)

// NewNamespace returns an empty fake namespace.
func NewNamespace() *Namespace {
	return &Namespace{
		connected: map[adapter.SocketID]bool{},
		delivered: map[adapter.SocketID][]*socketio.Packet{},
		acks:      map[adapter.SocketID]adapter.AckFunc{},
		closed:    map[adapter.SocketID]bool{},
		changed:   make(chan struct{}),
	}
}

// notifyLocked wakes the waiters; the caller holds n.mu.
func (n *Namespace) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// SetAdapter ties the namespace to its adapter (Run does it itself).
func (n *Namespace) SetAdapter(a adapter.Adapter) { n.adapter = a }

// Connect adds a socket, in its own room plus rooms, as the namespace would.
func (n *Namespace) Connect(id adapter.SocketID, rooms ...adapter.Room) {
	n.mu.Lock()
	n.connected[id] = true
	n.mu.Unlock()
	n.adapter.AddAll(id, append([]adapter.Room{adapter.Room(id)}, rooms...))
}

// Deliver implements adapter.Local.
func (n *Namespace) Deliver(pkt *socketio.Packet, ids []adapter.SocketID, _ adapter.Flags, ack adapter.AckFunc) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, id := range ids {
		if !n.connected[id] {
			continue
		}
		n.delivered[id] = append(n.delivered[id], pkt)
		if ack != nil {
			n.acks[id] = ack
		}
		count++
	}
	n.notifyLocked()
	return count
}

// Join implements adapter.Local.
func (n *Namespace) Join(id adapter.SocketID, rooms []adapter.Room) {
	n.adapter.AddAll(id, rooms)
	n.mu.Lock()
	n.notifyLocked()
	n.mu.Unlock()
}

// Leave implements adapter.Local.
func (n *Namespace) Leave(id adapter.SocketID, rooms []adapter.Room) {
	for _, r := range rooms {
		n.adapter.Del(id, r)
	}
	n.mu.Lock()
	n.notifyLocked()
	n.mu.Unlock()
}

// Disconnect implements adapter.Local.
func (n *Namespace) Disconnect(id adapter.SocketID, close bool) {
	n.mu.Lock()
	delete(n.connected, id)
	n.closed[id] = close
	n.mu.Unlock()
	n.adapter.DelAll(id)
	n.mu.Lock()
	n.notifyLocked()
	n.mu.Unlock()
}

// Info implements adapter.Local.
func (n *Namespace) Info(id adapter.SocketID) (adapter.SocketInfo, bool) {
	n.mu.Lock()
	ok := n.connected[id]
	n.mu.Unlock()
	if !ok {
		return adapter.SocketInfo{}, false
	}
	rooms := n.adapter.SocketRooms(id)
	slices.Sort(rooms)
	return adapter.SocketInfo{ID: id, Rooms: rooms}, true
}

// ServerSideEmit implements adapter.Local.
func (n *Namespace) ServerSideEmit(event string, _ socketio.Args) (socketio.Args, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.emitted = append(n.emitted, event)
	n.notifyLocked()
	if n.answer == nil {
		return socketio.Args{}, false
	}
	return *n.answer, true
}

// received returns and clears what id was sent.
func (n *Namespace) received(id adapter.SocketID) []*socketio.Packet {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.delivered[id]
	delete(n.delivered, id)
	return p
}

func event(name string) *socketio.Packet {
	p := socketio.NewEvent("/", name, socketio.Args{})
	return &p
}

// Run runs the suite against adapters made by factory.
func Run(t *testing.T, factory Factory) {
	ctx := context.Background()
	setup := func(t *testing.T) (*Namespace, adapter.Adapter) {
		n := NewNamespace()
		a := factory(t, n)
		n.adapter = a
		t.Cleanup(func() { _ = a.Close() })
		// a in r1; b in r1 and r2; c in r2; d in nothing but its own room.
		n.Connect("a", "r1")
		n.Connect("b", "r1", "r2")
		n.Connect("c", "r2")
		n.Connect("d")
		return n, a
	}
	ids := func(xs ...string) []adapter.SocketID {
		out := make([]adapter.SocketID, len(xs))
		for i, x := range xs {
			out[i] = adapter.SocketID(x)
		}
		return out
	}
	sorted := func(in []adapter.SocketID) []adapter.SocketID { slices.Sort(in); return in }

	t.Run("rooms", func(t *testing.T) {
		_, a := setup(t)
		if got := sorted(a.Sockets([]adapter.Room{"r1"})); !slices.Equal(got, ids("a", "b")) {
			t.Fatalf("r1 = %v", got)
		}
		if got := sorted(a.Sockets([]adapter.Room{"r1", "r2"})); !slices.Equal(got, ids("a", "b", "c")) {
			t.Fatalf("r1+r2 = %v", got)
		}
		if got := sorted(a.Sockets(nil)); !slices.Equal(got, ids("a", "b", "c", "d")) {
			t.Fatalf("all = %v", got)
		}
		rooms := a.SocketRooms("b")
		slices.Sort(rooms)
		if !slices.Equal(rooms, []adapter.Room{"b", "r1", "r2"}) {
			t.Fatalf("rooms of b = %v", rooms)
		}
		a.Del("b", "r1")
		if got := sorted(a.Sockets([]adapter.Room{"r1"})); !slices.Equal(got, ids("a")) {
			t.Fatalf("r1 after Del = %v", got)
		}
		a.DelAll("a")
		if got := a.Sockets([]adapter.Room{"r1"}); len(got) != 0 {
			t.Fatalf("r1 after DelAll = %v", got)
		}
		if slices.Contains(a.Rooms(), "r1") {
			t.Fatal("empty room r1 still listed")
		}
		if len(a.SocketRooms("a")) != 0 {
			t.Fatal("a still has rooms")
		}
	})

	t.Run("own rooms", func(t *testing.T) {
		_, a := setup(t)
		// Every socket's own room is a room; listed once even when another socket joins it.
		a.AddAll("c", []adapter.Room{"d", "r2"}) // c joins d's own room; r2 again is no duplicate
		rooms := a.Rooms()
		slices.Sort(rooms)
		if !slices.Equal(rooms, []adapter.Room{"a", "b", "c", "d", "r1", "r2"}) {
			t.Fatalf("rooms = %v", rooms)
		}
		if got := sorted(a.Sockets([]adapter.Room{"d"})); !slices.Equal(got, ids("c", "d")) {
			t.Fatalf("room d = %v", got)
		}
		if got := sorted(a.Sockets([]adapter.Room{"d", "c"})); !slices.Equal(got, ids("c", "d")) {
			t.Fatalf("rooms d+c = %v", got)
		}
		cr := a.SocketRooms("c")
		slices.Sort(cr)
		if !slices.Equal(cr, []adapter.Room{"c", "d", "r2"}) {
			t.Fatalf("rooms of c = %v", cr)
		}
		// Leaving its own room: no longer reached through it, still reached by everyone-broadcasts.
		a.Del("d", "d")
		if got := a.Sockets([]adapter.Room{"d"}); !slices.Equal(got, ids("c")) {
			t.Fatalf("room d after d left it = %v", got)
		}
		if got := sorted(a.Sockets(nil)); !slices.Equal(got, ids("a", "b", "c", "d")) {
			t.Fatalf("all after d left its own room = %v", got)
		}
		if len(a.SocketRooms("d")) != 0 {
			t.Fatalf("d still has rooms %v", a.SocketRooms("d"))
		}
		a.DelAll("c")
		if slices.Contains(a.Rooms(), "d") || slices.Contains(a.Rooms(), "c") {
			t.Fatalf("rooms after d left and c disconnected = %v", a.Rooms())
		}
	})

	t.Run("broadcast targets", func(t *testing.T) {
		tt := []struct {
			name string
			opts adapter.BroadcastOptions
			want []adapter.SocketID
		}{
			{"everyone", adapter.BroadcastOptions{}, ids("a", "b", "c", "d")},
			{"one room", adapter.BroadcastOptions{Rooms: []adapter.Room{"r1"}}, ids("a", "b")},
			{"two rooms, b once", adapter.BroadcastOptions{Rooms: []adapter.Room{"r1", "r2"}}, ids("a", "b", "c")},
			{"except a room", adapter.BroadcastOptions{Except: []adapter.Room{"r2"}}, ids("a", "d")},
			{"rooms and except", adapter.BroadcastOptions{Rooms: []adapter.Room{"r1", "r2"}, Except: []adapter.Room{"a"}}, ids("b", "c")},
			{"socket's own room", adapter.BroadcastOptions{Rooms: []adapter.Room{"d"}}, ids("d")},
			{"unknown room", adapter.BroadcastOptions{Rooms: []adapter.Room{"nope"}}, nil},
		}
		for _, tc := range tt {
			for _, counted := range []bool{false, true} {
				name := tc.name
				if counted {
					name += ", counted"
				}
				t.Run(name, func(t *testing.T) {
					n, a := setup(t)
					p := event("x")
					if counted {
						c, err := a.BroadcastCount(ctx, p, tc.opts)
						if err != nil {
							t.Fatal(err)
						}
						if c != len(tc.want) {
							t.Fatalf("count %d, want %d", c, len(tc.want))
						}
					} else if err := a.Broadcast(ctx, p, tc.opts); err != nil {
						t.Fatal(err)
					}
					var got []adapter.SocketID
					for _, id := range ids("a", "b", "c", "d") {
						r := n.received(id)
						if len(r) > 1 {
							t.Fatalf("%s got the packet %d times", id, len(r))
						}
						if len(r) == 1 {
							if r[0] != p {
								t.Fatalf("%s got another packet", id)
							}
							got = append(got, id)
						}
					}
					if !slices.Equal(got, tc.want) {
						t.Fatalf("targets %v, want %v", got, tc.want)
					}
				})
			}
		}
	})

	t.Run("broadcast with ack", func(t *testing.T) {
		n, a := setup(t)
		p := event("q")
		p.ID, p.HasID = 7, true
		var expected int
		var answers []adapter.SocketID
		err := a.BroadcastWithAck(ctx, p, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}},
			func(c int) { expected += c },
			func(id adapter.SocketID, _ socketio.Args) { answers = append(answers, id) })
		if err != nil {
			t.Fatal(err)
		}
		if expected != 2 {
			t.Fatalf("expected %d answers, want 2", expected)
		}
		for _, id := range ids("b", "c") {
			n.mu.Lock()
			ack := n.acks[id]
			n.mu.Unlock()
			if ack == nil {
				t.Fatalf("%s has no ack route", id)
			}
			ack(id, socketio.Args{})
		}
		if !slices.Equal(sorted(answers), ids("b", "c")) {
			t.Fatalf("answers %v", answers)
		}
	})

	t.Run("fetch sockets", func(t *testing.T) {
		_, a := setup(t)
		infos, err := a.FetchSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(infos, func(x, y adapter.SocketInfo) int {
			if x.ID < y.ID {
				return -1
			}
			return 1
		})
		if len(infos) != 2 || infos[0].ID != "b" || infos[1].ID != "c" ||
			!slices.Equal(infos[0].Rooms, []adapter.Room{"b", "r1", "r2"}) {
			t.Fatalf("infos %+v", infos)
		}
	})

	t.Run("add and del sockets", func(t *testing.T) {
		_, a := setup(t)
		if err := a.AddSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r1"}}, []adapter.Room{"r3"}); err != nil {
			t.Fatal(err)
		}
		if got := sorted(a.Sockets([]adapter.Room{"r3"})); !slices.Equal(got, ids("a", "b")) {
			t.Fatalf("r3 = %v", got)
		}
		if err := a.DelSockets(ctx, adapter.BroadcastOptions{Except: []adapter.Room{"a"}}, []adapter.Room{"r3"}); err != nil {
			t.Fatal(err)
		}
		if got := a.Sockets([]adapter.Room{"r3"}); !slices.Equal(got, ids("a")) {
			t.Fatalf("r3 after DelSockets = %v", got)
		}
	})

	t.Run("disconnect sockets", func(t *testing.T) {
		n, a := setup(t)
		if err := a.DisconnectSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"r2"}}, true); err != nil {
			t.Fatal(err)
		}
		n.mu.Lock()
		closedB, closedC, left := n.closed["b"], n.closed["c"], len(n.connected)
		n.mu.Unlock()
		if !closedB || !closedC || left != 2 {
			t.Fatalf("closed b=%v c=%v, %d left", closedB, closedC, left)
		}
		if got := sorted(a.Sockets(nil)); !slices.Equal(got, ids("a", "d")) {
			t.Fatalf("remaining %v", got)
		}
	})

	t.Run("server count", func(t *testing.T) {
		_, a := setup(t)
		if c, err := a.ServerCount(ctx); err != nil || c < 1 {
			t.Fatalf("ServerCount = %d, %v", c, err)
		}
	})

	t.Run("closed", func(t *testing.T) {
		_, a := setup(t)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Broadcast(ctx, event("x"), adapter.BroadcastOptions{}); !errors.Is(err, adapter.ErrClosed) {
			t.Fatalf("Broadcast after Close: %v", err)
		}
	})
}
