package adapter_test

import (
	"fmt"
	"runtime"
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

// BenchmarkMemoryHeld reports the heap the adapter holds per socket that is in
// its own room and one shared room of ten (the Drupal channel shape).
func BenchmarkMemoryHeld(b *testing.B) {
	const n = 10000
	ids := make([]adapter.SocketID, n)
	for i := range ids {
		ids[i] = adapter.SocketID(fmt.Sprintf("sock-%015d", i))
	}
	rooms := make([]adapter.Room, n/10)
	for i := range rooms {
		rooms[i] = adapter.Room(fmt.Sprintf("channel:ch_%d", i))
	}
	var perSocket float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := adapter.NewMemory(&countingLocal{})
		for i, id := range ids {
			m.AddAll(id, []adapter.Room{adapter.Room(id)})
			m.AddAll(id, []adapter.Room{rooms[i%len(rooms)]})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSocket = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perSocket, "B/socket")
}
