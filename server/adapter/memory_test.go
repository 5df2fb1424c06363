package adapter_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
)

func TestMemoryConformance(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, local adapter.Local) adapter.Adapter {
		return adapter.NewMemory(local)
	})
}

type countingLocal struct{ adaptertest.Namespace }

func (c *countingLocal) Deliver(_ *socketio.Packet, ids []adapter.SocketID, _ adapter.Flags, _ adapter.AckFunc) int {
	return len(ids)
}

// BenchmarkMemoryBroadcastTargets measures computing the targets of a broadcast
// (the adapter's share of a broadcast; writing is the namespace's).
func BenchmarkMemoryBroadcastTargets(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := adapter.NewMemory(&countingLocal{})
			for i := 0; i < n; i++ {
				id := adapter.SocketID(fmt.Sprintf("s%05d", i))
				m.AddAll(id, []adapter.Room{adapter.Room(id), "room"})
			}
			p := socketio.NewEvent("/", "x", socketio.Args{})
			opts := adapter.BroadcastOptions{Rooms: []adapter.Room{"room"}}
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Broadcast(b.Context(), &p, opts)
			}
		})
	}
}

// TestMemoryRoomGrowsAndShrinks takes a room across the size where its members
// move from a slice to a set, and back down to empty, checking its members at
// each step.
func TestMemoryRoomGrowsAndShrinks(t *testing.T) {
	m := adapter.NewMemory(&countingLocal{})
	const n = 80
	want := map[adapter.SocketID]bool{}
	check := func(step string) {
		t.Helper()
		got := m.Sockets([]adapter.Room{"big"})
		if len(got) != len(want) {
			t.Fatalf("%s: %d members, want %d", step, len(got), len(want))
		}
		for _, id := range got {
			if !want[id] {
				t.Fatalf("%s: unexpected member %s", step, id)
			}
		}
	}
	for i := range n {
		id := adapter.SocketID(fmt.Sprintf("s%d", i))
		m.AddAll(id, []adapter.Room{adapter.Room(id), "big"})
		m.AddAll(id, []adapter.Room{"big"}) // again: no duplicate
		want[id] = true
		check(fmt.Sprintf("after join %d", i))
	}
	for i := 0; i < n; i += 2 {
		id := adapter.SocketID(fmt.Sprintf("s%d", i))
		m.Del(id, "big")
		delete(want, id)
	}
	check("after every other left")
	for i := 1; i < n; i += 2 {
		id := adapter.SocketID(fmt.Sprintf("s%d", i))
		m.DelAll(id)
		delete(want, id)
	}
	check("after all left")
	for _, r := range m.Rooms() {
		if r == "big" {
			t.Fatal("empty room still listed")
		}
	}
}

// TestMemoryRoomOfOne takes a room between one member (kept inline) and a
// few, in every order of leaving.
func TestMemoryRoomOfOne(t *testing.T) {
	m := adapter.NewMemory(&countingLocal{})
	members := func() string {
		ids := m.Sockets([]adapter.Room{"r"})
		slices.Sort(ids)
		return fmt.Sprint(ids)
	}
	for _, id := range []adapter.SocketID{"a", "b", "c"} {
		m.AddAll(id, []adapter.Room{adapter.Room(id)})
	}
	for _, step := range []struct {
		join  adapter.SocketID
		leave adapter.SocketID
		want  string
	}{
		{join: "a", want: "[a]"},
		{join: "b", want: "[a b]"},
		{leave: "a", want: "[b]"},
		{join: "c", want: "[b c]"},
		{leave: "c", want: "[b]"},
		{leave: "b", want: "[]"},
		{join: "c", want: "[c]"},
		{leave: "a", want: "[c]"}, // not a member
	} {
		if step.join != "" {
			m.AddAll(step.join, []adapter.Room{"r"})
		} else {
			m.Del(step.leave, "r")
		}
		if got := members(); got != step.want {
			t.Fatalf("after join %q leave %q: %s, want %s", step.join, step.leave, got, step.want)
		}
	}
	m.DelAll("c")
	if got := members(); got != "[]" || slices.Contains(m.Rooms(), "r") {
		t.Fatalf("after the last left: %s, rooms %v", got, m.Rooms())
	}
}

// BenchmarkMemoryHeld reports the heap the adapter holds per socket. "channel"
// is a socket in its own room and one shared room of ten; "drupal" is the shape
// of an authenticated Drupal socket: its own room, everyone's room, a channel of
// ten, and three rooms of its own (its user, its auth token, its user channel).
func BenchmarkMemoryHeld(b *testing.B) {
	const n = 10000
	ids := make([]adapter.SocketID, n)
	for i := range ids {
		ids[i] = adapter.SocketID(fmt.Sprintf("sock-%015d", i))
	}
	shared := make([]adapter.Room, n/10)
	for i := range shared {
		shared[i] = adapter.Room(fmt.Sprintf("channel:ch_%d", i))
	}
	own := func(format string) []adapter.Room {
		out := make([]adapter.Room, n)
		for i := range out {
			out[i] = adapter.Room(fmt.Sprintf(format, i))
		}
		return out
	}
	uids, tokens, userChannels := own("uid:%d"), own("token:tok-%d"), own("channel:nodejs_user_%d")
	cases := []struct {
		name  string
		rooms func(i int) []adapter.Room
	}{
		{"channel", func(i int) []adapter.Room { return []adapter.Room{shared[i%len(shared)]} }},
		{"drupal", func(i int) []adapter.Room {
			return []adapter.Room{"drupal:authenticated", uids[i], tokens[i], "channel:nodejs_notify", userChannels[i], shared[i%len(shared)]}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var perSocket float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				m := adapter.NewMemory(&countingLocal{})
				for i, id := range ids {
					m.AddAll(id, []adapter.Room{adapter.Room(id)})
					m.AddAll(id, c.rooms(i))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSocket = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(m)
			}
			b.ReportMetric(perSocket, "B/socket")
		})
	}
}
