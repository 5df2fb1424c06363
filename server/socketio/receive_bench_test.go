package socketio

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/server/engine"
)

// BenchmarkOnMessage is a client's inbound path without the transport: decode
// a small event and dispatch it to its handler, on every core at once, each
// goroutine for its own client. This is where the shared receive counters
// (Stats.PacketsIn, BytesIn) would show contention. rate has the message
// rate on (Config.MessageRate, too high to be reached): its cost per message.
func BenchmarkOnMessage(b *testing.B) {
	b.Run("nolimit", func(b *testing.B) { benchOnMessage(b, 0) })
	b.Run("rate", func(b *testing.B) { benchOnMessage(b, 1e12) })
}

func benchOnMessage(b *testing.B, rate float64) {
	srv, err := New(Config{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}, MessageRate: rate})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_ = srv.Close(ctx)
	})
	n := srv.Of("/")
	n.On("x", func(*Socket, *Event) {})
	var (
		mu      sync.Mutex
		clients []*client
	)
	n.OnConnection(func(s *Socket) {
		mu.Lock()
		clients = append(clients, s.client)
		mu.Unlock()
	})
	for range 16 {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling", nil))
		body := w.Body.String()
		start := strings.Index(body, `"sid":"`) + 7
		sid := body[start : start+20]
		w = httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader("40")))
	}
	if len(clients) != 16 {
		b.Fatalf("%d clients connected", len(clients))
	}
	msg := []byte(`2["x",{"n":1}]`)
	var next int
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		c := clients[next%len(clients)]
		next++
		mu.Unlock()
		for pb.Next() {
			c.OnMessage(c.sess, msg, false)
		}
	})
}
