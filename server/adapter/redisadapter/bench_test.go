package redisadapter_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

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

// benchBroadcast runs b.N broadcasts from node 0 to a socket on node 1
// through a local redis-server, from one caller or, with parallel, from
// GOMAXPROCS callers: node 0 encodes and publishes, node 1 decodes and
// delivers. The timer stops when node 1 has delivered every broadcast or,
// with publishOnly, when Redis has taken every one from node 0 (node 1
// still reads them meanwhile).
func benchBroadcast(b *testing.B, flags adapter.Flags, parallel, publishOnly bool) {
	srv := redistest.Start(b)
	// The queue holds every broadcast of the run: a producer faster than
	// Redis fills the default one and drops (TestPublishQueueBounded).
	c0 := newCluster(b, srv.Addr, redisadapter.Config{PublishQueueBytes: 1 << 30})
	c1 := newCluster(b, srv.Addr, redisadapter.Config{})
	waitUp(b, c0)
	waitUp(b, c1)
	sender := makeAdapter(b, c0, "/bench", adaptertest.NewNamespace())
	recv := &countingLocal{done: make(chan struct{})}
	a1 := makeAdapter(b, c1, "/bench", recv)
	a1.AddAll("s", []adapter.Room{"s", "room"})
	var args socketio.Args
	args.AddJSON(json.RawMessage(`{"type":"message","channel":"nodejs_notify","data":{"subject":"New comment","body":"<p>Someone replied</p>","count":42}}`))
	pkt := socketio.NewEvent("/bench", "message", args)
	opts := adapter.BroadcastOptions{Rooms: []adapter.Room{"room"}, Flags: flags}
	recv.want = int64(b.N)
	published := c0.Stats().Published
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := sender.Broadcast(b.Context(), &pkt, opts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for range b.N {
			if err := sender.Broadcast(b.Context(), &pkt, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	if publishOnly {
		// No event marks the queue drained; poll the counter (bounded).
		deadline := time.Now().Add(time.Minute)
		for st := c0.Stats(); st.Published-published < uint64(b.N) && st.Dropped == 0; st = c0.Stats() {
			if time.Now().After(deadline) {
				b.Fatalf("published %d of %d: %+v", st.Published-published, b.N, st)
			}
			time.Sleep(50 * time.Microsecond)
		}
		b.StopTimer()
	}
	select {
	case <-recv.done:
	case <-time.After(time.Minute):
		b.Fatalf("node 1 got %d of %d broadcasts; node 0: %+v", recv.n.Load(), b.N, c0.Stats())
	}
	b.StopTimer()
	st := c0.Stats()
	if st.Dropped != 0 {
		b.Fatalf("%d broadcasts dropped", st.Dropped)
	}
	b.ReportMetric(float64(st.Published)/float64(max(st.Batches, 1)), "msgs/roundtrip")
}

// BenchmarkClusterBroadcast is one caller broadcasting (socket.io's emit),
// until node 1 has delivered.
func BenchmarkClusterBroadcast(b *testing.B) { benchBroadcast(b, adapter.Flags{}, false, false) }

// BenchmarkClusterPublish is one caller broadcasting, until Redis took
// every broadcast: the publisher's throughput.
func BenchmarkClusterPublish(b *testing.B) { benchBroadcast(b, adapter.Flags{}, false, true) }

// BenchmarkClusterPublishParallel is GOMAXPROCS callers broadcasting at
// once through one node, until Redis took every broadcast.
func BenchmarkClusterPublishParallel(b *testing.B) { benchBroadcast(b, adapter.Flags{}, true, true) }

// BenchmarkClusterBroadcastOrdered is the Drupal API's broadcast: Ordered,
// so each call waits until its message is on the bus.
func BenchmarkClusterBroadcastOrdered(b *testing.B) {
	benchBroadcast(b, adapter.Flags{Ordered: true}, false, true)
}
