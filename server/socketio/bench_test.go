package socketio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// benchConfig keeps heartbeats out of the way: benchmark clients never answer pings.
var benchConfig = socketio.Config{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}}

// newBenchServer is a server on benchConfig, closed when tb ends without
// waiting the graceful CloseTimeout: its polling sessions never come back for
// their close packet.
func newBenchServer(tb testing.TB) *socketio.Server {
	tb.Helper()
	io, err := socketio.New(benchConfig)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_ = io.Close(ctx)
	})
	return io
}

// pollingClients connects n EIO=4 polling clients to namespace "/" without a
// network: requests go straight to the handler. Their sessions queue what is
// sent to them, so a broadcast costs what it costs the server (encoding,
// targeting, queueing) and nothing of the kernel's.
func pollingClients(b testing.TB, io *socketio.Server, n int) []string {
	b.Helper()
	sids := make([]string, n)
	for i := range sids {
		w := httptest.NewRecorder()
		io.ServeHTTP(w, httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling", nil))
		body := w.Body.String()
		start := strings.Index(body, `"sid":"`) + 7
		sid := body[start : start+20]
		w = httptest.NewRecorder()
		io.ServeHTTP(w, httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader("40")))
		if w.Body.String() != "ok" {
			b.Fatalf("connect: %q", w.Body.String())
		}
		sids[i] = sid
	}
	drain(b, io, sids)
	return sids
}

// drain empties every client's queue with one poll each.
func drain(b testing.TB, io *socketio.Server, sids []string) {
	b.Helper()
	for _, sid := range sids {
		w := httptest.NewRecorder()
		io.ServeHTTP(w, httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling&sid="+sid, nil))
		if w.Code != 200 {
			b.Fatalf("poll %d: %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkBroadcast measures one namespace-wide broadcast to n connected
// sockets: the packet is encoded once and the same frames are queued on every
// session. Per-op figures divided by n give the cost per delivery.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			io := newBenchServer(b)
			sids := pollingClients(b, io, n)
			nsp := io.Of("/")
			args := psio.Args{}
			args.AddJSON([]byte(`{"subject":"Hello","body":"A message for everyone"}`))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := nsp.EmitArgs("message", args); err != nil {
					b.Fatal(err)
				}
				// Keep the queues short, outside the measurement.
				if i%64 == 63 {
					b.StopTimer()
					drain(b, io, sids)
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkEmitToRoom is the Drupal channel publish: a small room among many
// sockets.
func BenchmarkEmitToRoom(b *testing.B) {
	io := newBenchServer(b)
	pollingClients(b, io, 1000)
	nsp := io.Of("/")
	// Put ten of the thousand sockets into "room"; only their queues fill up
	// (a poll on an empty queue would wait).
	var members []string
	for i, id := range nsp.Adapter().Sockets(nil) {
		if i%100 == 0 {
			if s, ok := nsp.Socket(string(id)); ok {
				s.Join("room")
				members = append(members, s.Session().ID())
			}
		}
	}
	args := psio.Args{}
	args.AddJSON([]byte(`{"channel":"room","data":{"body":"x"}}`))
	b.ReportAllocs()
	b.ResetTimer()
	for j := 0; b.Loop(); j++ {
		if err := nsp.To("room").EmitArgs("message", args); err != nil {
			b.Fatal(err)
		}
		if j%256 == 255 {
			b.StopTimer()
			drain(b, io, members)
			b.StartTimer()
		}
	}
}

// BenchmarkReceive is the inbound path on every core at once: each goroutine
// posts payloads of 16 small events for its own client straight to the
// handler. Per-op figures are per packet; it is where the receive counters
// (one atomic add per message, shared by all clients) would show contention.
func BenchmarkReceive(b *testing.B) {
	io := newBenchServer(b)
	io.Of("/").On("x", func(*socketio.Socket, *socketio.Event) {})
	sids := pollingClients(b, io, 64)
	body := strings.Repeat(`42["x",{"n":1}]`+"\x1e", 15) + `42["x",{"n":1}]`
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sid := sids[int(next.Add(1)-1)%len(sids)]
		for pb.Next() {
			w := httptest.NewRecorder()
			io.ServeHTTP(w, httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader(body)))
			if w.Code != 200 {
				b.Fatalf("post %d: %s", w.Code, w.Body.String())
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/16, "ns/packet")
}
