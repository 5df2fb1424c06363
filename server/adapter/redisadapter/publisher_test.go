package redisadapter_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
)

// newFastClient is a client with the timeouts cmd/socketd gives the
// adapter's: one dial attempt of at most 1 s, reads and writes failing after
// 1 s, no command retries.
func newFastClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:        addr,
		DialTimeout: time.Second, DialerRetries: 1,
		ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, PoolTimeout: time.Second,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitGoroutines waits (bounded) until the goroutine count is back to
// base: nothing a test started may outlive it.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	// No event marks a goroutine's end; poll, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitResumed broadcasts from a until socket id of n gets one, bounded:
// after Redis returns, the first publishes may still fail and be dropped
// (go-redis's pool refuses to dial for up to a second after a run of failed
// dials, while the subscription, on its own pool, is back).
func waitResumed(t *testing.T, c *redisadapter.Cluster, a adapter.Adapter, n *adaptertest.Namespace, id adapter.SocketID, nsp string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		name := fmt.Sprint("resumed", i)
		if err := a.Broadcast(context.Background(), event(nsp, name), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
		// A miss is not an event; poll each attempt briefly.
		for wait := time.Now().Add(300 * time.Millisecond); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			if n.Received(id, name) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cross-node delivery within 20 s of Redis' return: %+v", c.Stats())
		}
	}
}

// TestPublishWhileRedisFrozen: with Redis frozen (SIGSTOP: connections stay
// open, nothing answers) broadcasts return at once, reach this node's
// sockets, and fill the publish queue no further than its limit, the rest
// dropped and counted; an Ordered broadcast returns within RequestTimeout
// and is applied here; the failing publish takes the node off the bus long
// before the health check would have. When Redis is back the nodes talk
// again, and once closed nothing they started remains.
func TestPublishWhileRedisFrozen(t *testing.T) {
	srv := redistest.Start(t)
	base := runtime.NumGoroutine()
	const (
		// Above the client's 1 s read timeout, so an Ordered broadcast
		// normally learns its failure; its half is below it, so a
		// broadcast that waited for Redis would break the bound.
		requestTimeout = 1500 * time.Millisecond
		queueBytes     = 64 << 10
	)
	var clusters []*redisadapter.Cluster
	var clients []*redis.Client
	for range 2 {
		cl := newFastClient(t, srv.Addr)
		clients = append(clients, cl)
		c, err := redisadapter.New(redisadapter.Config{
			Client:            cl,
			RequestTimeout:    requestTimeout,
			PublishQueueBytes: queueBytes,
			MaxBackoff:        200 * time.Millisecond,
			// The default 15 s: noticing the freeze within seconds is the
			// publisher's doing, not the quiet connection's health check.
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		waitUp(t, c)
		clusters = append(clusters, c)
	}
	c0 := clusters[0]
	nss, ads := twoNodes(t, clusters, "/frozen")
	ctx := context.Background()

	srv.Freeze()
	orderedTook := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		_ = ads[0].Broadcast(ctx, event("/frozen", "ordered"), adapter.BroadcastOptions{Flags: adapter.Flags{Ordered: true}})
		orderedTook <- time.Since(start)
	}()
	// Until the queue is full; bounded by the count and by the time (the
	// node stays on the bus for at least the client's 1 s read timeout).
	var st redisadapter.Stats
	for i := 0; st.QueueFull == 0; i++ {
		if i == 100000 {
			t.Fatalf("the publish queue never filled: %+v", st)
		}
		name := fmt.Sprint("frozen", i)
		start := time.Now()
		if err := ads[0].Broadcast(ctx, event("/frozen", name), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
		// Not a speed assertion: a bound only a broadcast waiting on Redis breaks.
		if d := time.Since(start); d > requestTimeout/2 {
			t.Fatalf("broadcast %d with Redis frozen took %v", i, d)
		}
		if !nss[0].Received("s0", name) {
			t.Fatalf("local socket missed %s", name)
		}
		st = c0.Stats()
		if st.QueueBytes > queueBytes {
			t.Fatalf("publish queue holds %d bytes, limit %d", st.QueueBytes, queueBytes)
		}
		if !st.Up {
			t.Fatalf("off the bus before the queue filled (%d broadcasts): %+v", i, st)
		}
	}
	if st.Dropped < st.QueueFull {
		t.Fatalf("drops not counted: %+v", st)
	}
	// Generous: the promise is RequestTimeout.
	if d := <-orderedTook; d > requestTimeout+time.Second {
		t.Fatalf("ordered broadcast with Redis frozen took %v", d)
	}
	waitEvent(t, nss[0], "s0", "ordered") // applied here when its publish failed
	// The state has no event; poll, bounded far below the health check's
	// 2 x 15 s.
	deadline := time.Now().Add(10 * time.Second)
	for c0.Stats().Up {
		if time.Now().After(deadline) {
			t.Fatalf("still on the bus 10 s after a publish failed: %+v", c0.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}

	srv.Thaw()
	for _, c := range clusters {
		waitUp(t, c)
	}
	waitResumed(t, c0, ads[0], nss[1], "s1", "/frozen")
	waitResumed(t, clusters[1], ads[1], nss[0], "s0", "/frozen")
	if st := c0.Stats(); st.QueueBytes > queueBytes || st.Reconnects == 0 {
		t.Fatalf("stats after the thaw: %+v", st)
	}

	for i, c := range clusters {
		_ = ads[i].Close()
		_ = c.Close()
		_ = clients[i].Close()
	}
	waitGoroutines(t, base)
}

// TestPublishWhileRedisKilled: right after Redis dies, before the node has
// noticed, broadcasts return at once (Ordered ones within RequestTimeout)
// and reach this node's sockets, even with go-redis's default options,
// whose dial and command retries take about 1.7 s to give up; the node
// rejoins when Redis is back.
func TestPublishWhileRedisKilled(t *testing.T) {
	srv := redistest.Start(t)
	const requestTimeout = 2 * time.Second
	var clusters []*redisadapter.Cluster
	for range 2 {
		cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = cl.Close() })
		c, err := redisadapter.New(redisadapter.Config{Client: cl, RequestTimeout: requestTimeout, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		waitUp(t, c)
		clusters = append(clusters, c)
	}
	nss, ads := twoNodes(t, clusters, "/killed")
	ctx := context.Background()
	srv.Kill()
	const rounds = 200
	for i := range rounds {
		name := fmt.Sprint("killed", i)
		ordered := i%2 == 1
		start := time.Now()
		if err := ads[0].Broadcast(ctx, event("/killed", name), adapter.BroadcastOptions{Flags: adapter.Flags{Ordered: ordered}}); err != nil {
			t.Fatal(err)
		}
		// Not speed assertions: bounds only a broadcast waiting on Redis
		// (beyond RequestTimeout when Ordered) breaks.
		bound := requestTimeout / 2
		if ordered {
			bound = requestTimeout + time.Second
		}
		if d := time.Since(start); d > bound {
			t.Fatalf("broadcast %d (ordered %v) after Redis died took %v", i, ordered, d)
		}
		if !ordered && !nss[0].Received("s0", name) {
			t.Fatalf("local socket missed %s", name)
		}
	}
	// An Ordered broadcast is applied here when its publish fails, which
	// may come after its caller stopped waiting.
	waitEvent(t, nss[0], "s0", fmt.Sprint("killed", rounds-1))
	srv.Restart()
	for _, c := range clusters {
		waitUp(t, c)
	}
	waitResumed(t, clusters[0], ads[0], nss[1], "s1", "/killed")
}

// TestPublishOrder: a socketsJoin and a broadcast to the room it joins,
// issued back to back without waiting, reach the other node in that order:
// its socket gets every broadcast.
func TestPublishOrder(t *testing.T) {
	for name, cfg := range map[string]redisadapter.Config{
		"classic":        {},
		"sharded static": {Sharded: true, SubscriptionMode: redisadapter.Static},
	} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			clusters := []*redisadapter.Cluster{newCluster(t, srv.Addr, cfg), newCluster(t, srv.Addr, cfg)}
			for _, c := range clusters {
				waitUp(t, c)
			}
			nss, ads := twoNodes(t, clusters, "/order")
			ctx := context.Background()
			const rounds = 300
			for i := range rounds {
				room := adapter.Room(fmt.Sprint("r", i))
				if err := ads[0].AddSockets(ctx, adapter.BroadcastOptions{Rooms: []adapter.Room{"s1"}}, []adapter.Room{room}); err != nil {
					t.Fatal(err)
				}
				if err := ads[0].Broadcast(ctx, event("/order", string(room)), adapter.BroadcastOptions{Rooms: []adapter.Room{room}}); err != nil {
					t.Fatal(err)
				}
			}
			// A last broadcast to the whole namespace: node 1 applies
			// messages in order, so once it has this one it has applied
			// every earlier one.
			if err := ads[0].Broadcast(ctx, event("/order", "end"), adapter.BroadcastOptions{}); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, nss[1], "s1", "end")
			for i := range rounds {
				if !nss[1].Received("s1", fmt.Sprint("r", i)) {
					t.Fatalf("round %d: the broadcast reached node 1 before the join (stats %+v)", i, clusters[0].Stats())
				}
			}
			if st := clusters[0].Stats(); st.Dropped != 0 {
				t.Fatalf("dropped: %+v", st)
			}
		})
	}
}

// TestPublishBurst: a tight loop of broadcasts far larger than the publish
// queue, with Redis healthy, is slowed to Redis's pace (Config.PublishFullWait)
// rather than losing its tail: every broadcast reaches the other node. With
// PublishFullWait negative the same burst drops, which is what the wait is for.
func TestPublishBurst(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wait      time.Duration
		wantDrops bool
	}{
		{"waits for room", 0, false},
		{"never waits", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := redisadapter.Config{PublishQueueBytes: 16 << 10, PublishFullWait: tc.wait}
			clusters := []*redisadapter.Cluster{newCluster(t, srv.Addr, cfg), newCluster(t, srv.Addr, cfg)}
			for _, c := range clusters {
				waitUp(t, c)
			}
			nss, ads := twoNodes(t, clusters, "/burst")
			ctx := context.Background()
			const n = 3000
			for i := range n {
				if err := ads[0].Broadcast(ctx, event("/burst", fmt.Sprint("b", i)), adapter.BroadcastOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			// Node 1 applies in order: once it has "end" it has everything
			// that was published before it. "end" goes once the queue has
			// drained, so that it is not dropped itself (no event marks the
			// drain: poll, bounded).
			for deadline := time.Now().Add(10 * time.Second); clusters[0].Stats().QueueBytes != 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the publish queue never drained: %+v", clusters[0].Stats())
				}
			}
			if err := ads[0].Broadcast(ctx, event("/burst", "end"), adapter.BroadcastOptions{}); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, nss[1], "s1", "end")
			missed := 0
			for i := range n {
				if !nss[1].Received("s1", fmt.Sprint("b", i)) {
					missed++
				}
			}
			st := clusters[0].Stats()
			if tc.wantDrops {
				if missed == 0 || st.QueueFull == 0 {
					t.Fatalf("a burst of %d into a %d-byte queue that never waits dropped nothing (missed %d): %+v", n, cfg.PublishQueueBytes, missed, st)
				}
				return
			}
			if missed != 0 || st.Dropped != 0 {
				t.Fatalf("node 1 missed %d of %d broadcasts: %+v", missed, n, st)
			}
		})
	}
}
