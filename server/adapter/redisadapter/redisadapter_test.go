package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
)

func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newCluster(t testing.TB, addr string, cfg redisadapter.Config) *redisadapter.Cluster {
	t.Helper()
	cfg.Client = newClient(t, addr)
	c, err := redisadapter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitUp(t testing.TB, c *redisadapter.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitUp(ctx); err != nil {
		t.Fatalf("node %s not on the bus: %v", c.NodeID(), err)
	}
}

// makeAdapter makes the adapter of nsp on c and waits until it is
// subscribed.
func makeAdapter(t testing.TB, c *redisadapter.Cluster, nsp string, local adapter.Local) adapter.Adapter {
	t.Helper()
	a, err := c.Factory()(nsp, local)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.(*redisadapter.Adapter).WaitSubscribed(ctx); err != nil {
		t.Fatalf("%s not subscribed: %v", nsp, err)
	}
	return a
}

func clusterFactory(clusters []*redisadapter.Cluster) adaptertest.ClusterFactory {
	return func(t *testing.T, nsp string, locals []adapter.Local) []adapter.Adapter {
		out := make([]adapter.Adapter, len(locals))
		for i, l := range locals {
			out[i] = makeAdapter(t, clusters[i], nsp, l)
		}
		return out
	}
}

func TestConformance(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprint("sharded=", sharded), func(t *testing.T) {
			srv := redistest.Start(t)
			c := newCluster(t, srv.Addr, redisadapter.Config{Sharded: sharded})
			waitUp(t, c)
			var seq int
			adaptertest.Run(t, func(t *testing.T, local adapter.Local) adapter.Adapter {
				seq++
				return makeAdapter(t, c, fmt.Sprint("/single", seq), local)
			})
		})
	}
}

func TestCluster(t *testing.T) {
	for name, cfg := range map[string]redisadapter.Config{
		"classic":         {},
		"sharded dynamic": {Sharded: true},
		"sharded static":  {Sharded: true, SubscriptionMode: redisadapter.Static},
		"sharded private": {Sharded: true, SubscriptionMode: redisadapter.DynamicPrivate},
	} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			var clusters []*redisadapter.Cluster
			for range 3 {
				c := newCluster(t, srv.Addr, cfg)
				waitUp(t, c)
				clusters = append(clusters, c)
			}
			adaptertest.RunCluster(t, 3, clusterFactory(clusters))
		})
	}
}

// TestSpecificResponseChannel runs the requests with answers published on
// the requester's own channel.
func TestSpecificResponseChannel(t *testing.T) {
	srv := redistest.Start(t)
	var clusters []*redisadapter.Cluster
	for range 2 {
		c := newCluster(t, srv.Addr, redisadapter.Config{PublishOnSpecificResponseChannel: true, Prefix: "other"})
		waitUp(t, c)
		clusters = append(clusters, c)
	}
	adaptertest.RunCluster(t, 2, clusterFactory(clusters))
}

func event(nsp, name string) *socketio.Packet {
	p := socketio.NewEvent(nsp, name, socketio.Args{})
	return &p
}

// twoNodes makes nsp on two nodes, each with one socket ("s0", "s1"). With
// the bus down it does not wait for the subscriptions.
func twoNodes(t *testing.T, clusters []*redisadapter.Cluster, nsp string) ([]*adaptertest.Namespace, []adapter.Adapter) {
	var nss []*adaptertest.Namespace
	var ads []adapter.Adapter
	for i, c := range clusters {
		n := adaptertest.NewNamespace()
		var a adapter.Adapter
		if c.Stats().Up {
			a = makeAdapter(t, c, nsp, n)
		} else {
			var err error
			if a, err = c.Factory()(nsp, n); err != nil {
				t.Fatal(err)
			}
		}
		n.SetAdapter(a)
		t.Cleanup(func() { _ = a.Close() })
		n.Connect(adapter.SocketID(fmt.Sprint("s", i)))
		nss, ads = append(nss, n), append(ads, a)
	}
	return nss, ads
}

// waitEvent waits until socket id of n got event name.
func waitEvent(t *testing.T, n *adaptertest.Namespace, id adapter.SocketID, name string) {
	t.Helper()
	n.Wait(t, string(id)+" to get "+name, func() bool { return n.Received(id, name) })
}

// TestRedisLateStart: Redis is not there when the node starts; the node
// serves its own sockets, then joins the bus when Redis appears.
func TestRedisLateStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill() // the port is chosen; nothing listens on it until Restart
	c0 := newCluster(t, srv.Addr, redisadapter.Config{MaxBackoff: 200 * time.Millisecond})
	c1 := newCluster(t, srv.Addr, redisadapter.Config{MaxBackoff: 200 * time.Millisecond})
	nss, ads := twoNodes(t, []*redisadapter.Cluster{c0, c1}, "/late")
	ctx := context.Background()
	if err := ads[0].Broadcast(ctx, event("/late", "early"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	if !nss[0].Received("s0", "early") {
		t.Fatal("local socket did not get the broadcast while Redis was down")
	}
	if n, err := ads[0].ServerCount(ctx); n != 1 || err != nil {
		t.Fatalf("ServerCount while down = %d, %v", n, err)
	}
	if _, err := ads[0].FetchSockets(ctx, adapter.BroadcastOptions{}); !errors.Is(err, redisadapter.ErrBusDown) {
		t.Fatalf("FetchSockets while down: %v", err)
	}
	if st := c0.Stats(); st.Up || st.Dropped == 0 {
		t.Fatalf("stats while down: %+v", st)
	}
	srv.Restart()
	waitUp(t, c0)
	waitUp(t, c1)
	for _, a := range ads {
		subCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := a.(*redisadapter.Adapter).WaitSubscribed(subCtx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	if err := ads[0].Broadcast(ctx, event("/late", "joined"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, nss[1], "s1", "joined")
	if nss[1].Received("s1", "early") {
		t.Fatal("a broadcast made while Redis was down reached the other node")
	}
}

// TestRedisRestart: Redis dies under running nodes; each keeps serving its
// own sockets without growing, and the cluster works again once Redis is
// back.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	cfg := redisadapter.Config{MaxBackoff: 200 * time.Millisecond}
	c0, c1 := newCluster(t, srv.Addr, cfg), newCluster(t, srv.Addr, cfg)
	waitUp(t, c0)
	waitUp(t, c1)
	nss, ads := twoNodes(t, []*redisadapter.Cluster{c0, c1}, "/restart")
	ctx := context.Background()
	if err := ads[0].Broadcast(ctx, event("/restart", "before"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, nss[1], "s1", "before")

	srv.Kill()
	goroutines := runtime.NumGoroutine()
	for i := range 2000 {
		name := fmt.Sprint("down", i)
		if err := ads[0].Broadcast(ctx, event("/restart", name), adapter.BroadcastOptions{Flags: adapter.Flags{Ordered: i%2 == 0}}); err != nil {
			t.Fatal(err)
		}
		if !nss[0].Received("s0", name) {
			t.Fatalf("local socket missed %s while Redis was down", name)
		}
	}
	if n := runtime.NumGoroutine(); n > goroutines+5 {
		t.Fatalf("goroutines grew from %d to %d during the outage", goroutines, n)
	}

	srv.Restart()
	waitUp(t, c0)
	waitUp(t, c1)
	if err := ads[1].Broadcast(ctx, event("/restart", "after"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, nss[0], "s0", "after")
	if st := c0.Stats(); st.Reconnects == 0 || !st.Up {
		t.Fatalf("stats after the restart: %+v", st)
	}
}

// TestDeadNode: a node counted by PUBSUB NUMSUB that never answers makes
// requests wait no longer than RequestTimeout.
func TestDeadNode(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv.Addr, redisadapter.Config{RequestTimeout: 300 * time.Millisecond})
	waitUp(t, c)
	nss, ads := twoNodes(t, []*redisadapter.Cluster{c}, "/dead")
	_ = nss
	// The dead node: subscribed to the request channel, silent.
	dead := newClient(t, srv.Addr).Subscribe(context.Background(), "socket.io-request#/dead#")
	t.Cleanup(func() { _ = dead.Close() })
	if _, err := dead.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	infos, err := ads[0].FetchSockets(context.Background(), adapter.BroadcastOptions{})
	if !errors.Is(err, redisadapter.ErrTimeout) || len(infos) != 1 {
		t.Fatalf("FetchSockets = %v, %v", infos, err)
	}
	if _, err := ads[0].ServerSideEmit(context.Background(), "x", socketio.Args{}, true); !errors.Is(err, redisadapter.ErrTimeout) {
		t.Fatalf("ServerSideEmit: %v", err)
	}
	// Not a timing assertion on speed: a bound that only a missing timeout
	// would break.
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("requests took %v", d)
	}
}

// TestMalformed: garbage on every channel is counted and ignored, and the
// node keeps working.
func TestMalformed(t *testing.T) {
	srv := redistest.Start(t)
	c0, c1 := newCluster(t, srv.Addr, redisadapter.Config{}), newCluster(t, srv.Addr, redisadapter.Config{})
	waitUp(t, c0)
	waitUp(t, c1)
	nss, ads := twoNodes(t, []*redisadapter.Cluster{c0, c1}, "/bad")
	pub := newClient(t, srv.Addr)
	ctx := context.Background()
	bad := []struct{ channel, msg string }{
		{"socket.io#/bad#", "\x93\xa1x"},
		{"socket.io#/bad#", "\x93\xa1x\x81\xa4type\x02\x80"},
		{"socket.io#/bad#s1#", "\xc1"},
		{"socket.io-request#/bad#", "{"},
		{"socket.io-request#/bad#", `{"type":6,"data":{}}`},
		{"socket.io-request#/bad#", "\x85"},
		{"socket.io-response#/bad#", "{]"},
		{"socket.io-response#/bad#", "\xde\xff"},
	}
	for _, b := range bad {
		if err := pub.Publish(ctx, b.channel, b.msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ads[0].Broadcast(ctx, event("/bad", "good"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, nss[1], "s1", "good")
	// The response-channel garbage only costs a decode when it could answer
	// a request of ours, so only the broadcast and request ones count.
	if m := c1.Stats().Malformed; m < 6 {
		t.Fatalf("malformed = %d, want at least 6", m)
	}
}

// TestRedisFrozen: Redis stops answering without closing the connection
// (SIGSTOP); the node notices within its health check, serves its own
// sockets meanwhile, and rejoins when Redis answers again.
func TestRedisFrozen(t *testing.T) {
	srv := redistest.Start(t)
	c0 := newCluster(t, srv.Addr, redisadapter.Config{HealthCheckInterval: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, RequestTimeout: 200 * time.Millisecond})
	waitUp(t, c0)
	srv.Freeze()
	defer srv.Thaw()
	// No event tells a frozen peer from a quiet one; poll the state, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for c0.Stats().Up {
		if time.Now().After(deadline) {
			t.Fatal("a frozen Redis went unnoticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := adaptertest.NewNamespace()
	a, err := c0.Factory()("/frozen", n)
	if err != nil {
		t.Fatal(err)
	}
	n.SetAdapter(a)
	n.Connect("s")
	if err := a.Broadcast(context.Background(), event("/frozen", "local"), adapter.BroadcastOptions{}); err != nil || !n.Received("s", "local") {
		t.Fatalf("local delivery while Redis is frozen: %v", err)
	}
	srv.Thaw()
	waitUp(t, c0)
	if c0.Stats().Reconnects == 0 {
		t.Fatal("no reconnect counted")
	}
}

// TestRequestEndsWithTheBus: a request waiting for a silent node ends with
// ErrBusDown as soon as Redis goes away, not at its timeout.
func TestRequestEndsWithTheBus(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv.Addr, redisadapter.Config{RequestTimeout: time.Hour})
	waitUp(t, c)
	_, ads := twoNodes(t, []*redisadapter.Cluster{c}, "/gone")
	dead := newClient(t, srv.Addr).Subscribe(context.Background(), "socket.io-request#/gone#")
	t.Cleanup(func() { _ = dead.Close() })
	if _, err := dead.Receive(context.Background()); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := ads[0].FetchSockets(context.Background(), adapter.BroadcastOptions{})
		result <- err
	}()
	// The silent node sees the request: it is pending now.
	if _, err := dead.ReceiveMessage(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := <-result; !errors.Is(err, redisadapter.ErrBusDown) {
		t.Fatalf("FetchSockets: %v", err)
	}
}
