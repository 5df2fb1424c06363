package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// Offsets returns the offsets (adapter.Flags.Offset) of the packets socket id
// received, in order.
func (n *Namespace) Offsets(id adapter.SocketID) []adapter.Offset {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.offsets[id])
}

// RunRecovery is the conformance suite of connection-state recovery
// (adapter.Recoverer) on nodes nodes made by factory (1 for a single-node
// adapter): stored broadcasts reach every node with one offset, offsets
// grow, sessions saved on one node are taken once on any node, and the
// packets a session missed are told from any node.
func RunRecovery(t *testing.T, nodes int, factory ClusterFactory) {
	t.Helper()
	const nsp = "/recovery"
	locals := make([]*Namespace, nodes)
	ls := make([]adapter.Local, nodes)
	for i := range locals {
		locals[i] = NewNamespace()
		ls[i] = locals[i]
	}
	ads := factory(t, nsp, ls)
	recs := make([]adapter.Recoverer, nodes)
	for i, a := range ads {
		r, ok := a.(adapter.Recoverer)
		if !ok {
			t.Fatalf("%T is not an adapter.Recoverer", a)
		}
		if err := r.EnableRecovery(adapter.RecoveryConfig{MaxDisconnection: time.Minute}); err != nil {
			t.Fatal(err)
		}
		recs[i] = r
		locals[i].SetAdapter(a)
		locals[i].Connect(sock(i), "r")
	}
	syncAll(t, ads)
	first, last := ads[0], ads[nodes-1]
	ctx := context.Background()
	// emit broadcasts from a; Ordered, so that broadcasts issued one after
	// the other through different nodes are stored in that order.
	emit := func(a adapter.Adapter, name string, opts adapter.BroadcastOptions) {
		t.Helper()
		opts.Flags.Ordered = true
		p := socketio.NewEvent(nsp, name, argsOf(`{"n":"`+name+`"}`))
		if err := a.Broadcast(ctx, &p, opts); err != nil {
			t.Fatal(err)
		}
	}
	// waitAll waits until every node's socket got the event name.
	waitAll := func(name string) {
		t.Helper()
		for i, l := range locals {
			l.Wait(t, fmt.Sprintf("node %d: %s", i, name), func() bool { return l.Received(sock(i), name) })
		}
	}
	// offsetOf is the offset node i's socket got name with.
	offsetOf := func(i int, name string) adapter.Offset {
		t.Helper()
		pkts, offs := locals[i].Packets(sock(i)), locals[i].Offsets(sock(i))
		for j, p := range pkts {
			if n, _, _ := p.Event(); n == name {
				return offs[j]
			}
		}
		t.Fatalf("node %d: no %s", i, name)
		return adapter.Offset{}
	}

	t.Run("offsets", func(t *testing.T) {
		emit(first, "o1", adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}})
		emit(last, "o2", adapter.BroadcastOptions{})
		emit(first, "volatile", adapter.BroadcastOptions{Flags: adapter.Flags{Volatile: true}})
		waitAll("o1")
		waitAll("o2")
		waitAll("volatile")
		for i := range locals {
			o1, o2 := offsetOf(i, "o1"), offsetOf(i, "o2")
			if o1.IsZero() || o2.Compare(o1) <= 0 {
				t.Fatalf("node %d: offsets %v then %v, want growing", i, o1, o2)
			}
			if o1 != offsetOf(0, "o1") || o2 != offsetOf(0, "o2") {
				t.Fatalf("node %d: offsets differ from node 0's", i)
			}
			if o := offsetOf(i, "volatile"); !o.IsZero() {
				t.Fatalf("node %d: a volatile packet stored at %v", i, o)
			}
		}
		// A stored packet's offset parses back from its text form.
		if o, ok := adapter.ParseOffset(offsetOf(0, "o2").String()); !ok || o != offsetOf(0, "o2") {
			t.Fatalf("offset %v does not round-trip", offsetOf(0, "o2"))
		}
	})

	t.Run("sessions", func(t *testing.T) {
		off := offsetOf(0, "o2")
		s := adapter.Session{SID: "gone-1", PID: "pid-1", Rooms: []adapter.Room{"gone-1", "r", "é 𝄞"},
			Data: []byte(`{"user":{"id":7,"name":"zoë"},"list":[1,2.5,-3,"x",null,true],"big":9007199254740991}`)}
		// Saved in this order: a store that saves in the background keeps
		// it, so once pid-1 is there pid-2 is too.
		if err := recs[0].SaveSession(ctx, adapter.Session{SID: "gone-2", PID: "pid-2", Rooms: []adapter.Room{"gone-2"}}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := recs[0].SaveSession(ctx, s, time.Minute); err != nil {
			t.Fatal(err)
		}
		var got *adapter.Session
		var err error
		waitFor(t, "the session saved", func() bool {
			got, err = recs[nodes-1].TakeSession(ctx, "pid-1", off)
			return err != nil || got != nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.SID != s.SID || got.PID != s.PID || !slices.Equal(got.Rooms, s.Rooms) || !jsonEqual(got.Data, s.Data) {
			t.Fatalf("took %+v (data %s), want %+v (data %s)", got, got.Data, s, s.Data)
		}
		if again, err := recs[0].TakeSession(ctx, "pid-1", off); err != nil || again != nil {
			t.Fatalf("taken twice: %+v, %v", again, err)
		}
		if none, err := recs[0].TakeSession(ctx, "nobody", off); err != nil || none != nil {
			t.Fatalf("unknown pid: %+v, %v", none, err)
		}
		// An offset the store never had: not restored, and taken all the same.
		if s2, err := recs[0].TakeSession(ctx, "pid-2", adapter.Offset{Hi: 1, Lo: 1}); err != nil || s2 != nil {
			t.Fatalf("an unknown offset restored %+v, %v", s2, err)
		}
		if s2, err := recs[0].TakeSession(ctx, "pid-2", off); err != nil || s2 != nil {
			t.Fatalf("taken after a refusal: %+v, %v", s2, err)
		}
		// A session without data keeps none.
		if err := recs[0].SaveSession(ctx, adapter.Session{SID: "gone-4", PID: "pid-4", Rooms: []adapter.Room{"gone-4"}}, time.Minute); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the data-less session saved", func() bool {
			got, err = recs[nodes-1].TakeSession(ctx, "pid-4", off)
			return err != nil || got != nil
		})
		if err != nil || got.Data != nil || !slices.Equal(got.Rooms, []adapter.Room{"gone-4"}) {
			t.Fatalf("took %+v, %v", got, err)
		}
	})

	t.Run("missed", func(t *testing.T) {
		from := offsetOf(0, "o2")
		rooms := []adapter.Room{"gone-3", "r"}
		emit(first, "m1", adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}})
		emit(first, "m2", adapter.BroadcastOptions{Rooms: []adapter.Room{"other"}})
		emit(last, "m3", adapter.BroadcastOptions{Except: []adapter.Room{"r"}})
		emit(first, "m4", adapter.BroadcastOptions{Flags: adapter.Flags{Volatile: true}})
		emit(last, "m5", adapter.BroadcastOptions{Rooms: []adapter.Room{"gone-3"}})
		emit(first, "m6", adapter.BroadcastOptions{})
		waitAll("m6")
		for i, r := range recs {
			missed, top, err := r.MissedPackets(ctx, from, rooms)
			if err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
			var names []string
			prev := from
			for _, m := range missed {
				name, args, err := m.Packet.Event()
				if err != nil || m.Packet.Namespace != nsp || args.Len() != 1 || !jsonEqual(args.Values[0], []byte(`{"n":"`+name+`"}`)) {
					t.Fatalf("node %d: missed packet %+v (%v)", i, m.Packet, err)
				}
				if m.Offset.Compare(prev) <= 0 {
					t.Fatalf("node %d: offsets not growing: %v after %v", i, m.Offset, prev)
				}
				prev = m.Offset
				names = append(names, name)
			}
			if want := []string{"m1", "m5", "m6"}; !slices.Equal(names, want) {
				t.Fatalf("node %d: missed %v, want %v", i, names, want)
			}
			if top.Compare(offsetOf(0, "m6")) < 0 {
				t.Fatalf("node %d: last offset %v before m6's %v", i, top, offsetOf(0, "m6"))
			}
			if more, _, err := r.MissedPackets(ctx, top, rooms); err != nil || len(more) != 0 {
				t.Fatalf("node %d: after the last offset: %d packets, %v", i, len(more), err)
			}
		}
		if _, _, err := recs[0].MissedPackets(ctx, adapter.Offset{Hi: 1, Lo: 1}, rooms); err == nil {
			t.Fatal("an offset the store never had was accepted")
		}
	})
}

func sock(i int) adapter.SocketID { return adapter.SocketID(fmt.Sprintf("sock-%d", i)) }

func argsOf(values ...string) socketio.Args {
	var a socketio.Args
	for _, v := range values {
		a.AddJSON(json.RawMessage(v))
	}
	return a
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
