package redisadapter_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
)

// countingLocal counts deliveries and signals when want is reached.
type countingLocal struct {
	adaptertest.Namespace
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countingLocal) Deliver(_ *socketio.Packet, ids []adapter.SocketID, _ adapter.Flags, _ adapter.AckFunc) int {
	if c.n.Add(int64(len(ids))) == c.want {
		close(c.done)
	}
	return len(ids)
}

// BenchmarkClusterBroadcast is one broadcast from node 0 to a socket on
// node 1 through a local redis-server: node 0 encodes and publishes (the
// caller waits for Redis's reply), node 1 decodes and delivers. The timer
// stops when node 1 has delivered every broadcast.
func BenchmarkClusterBroadcast(b *testing.B) {
	srv := redistest.Start(b)
	c0, c1 := newCluster(b, srv.Addr, redisadapter.Config{}), newCluster(b, srv.Addr, redisadapter.Config{})
	waitUp(b, c0)
	waitUp(b, c1)
	sender := makeAdapter(b, c0, "/bench", adaptertest.NewNamespace())
	recv := &countingLocal{done: make(chan struct{})}
	a1 := makeAdapter(b, c1, "/bench", recv)
	a1.AddAll("s", []adapter.Room{"s", "room"})
	var args socketio.Args
	args.AddJSON(json.RawMessage(`{"type":"message","channel":"nodejs_notify","data":{"subject":"New comment","body":"<p>Someone replied</p>","count":42}}`))
	pkt := socketio.NewEvent("/bench", "message", args)
	opts := adapter.BroadcastOptions{Rooms: []adapter.Room{"room"}}
	recv.want = int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := sender.Broadcast(b.Context(), &pkt, opts); err != nil {
			b.Fatal(err)
		}
	}
	<-recv.done
}
