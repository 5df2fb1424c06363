package adapter_test

import (
	"fmt"
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
