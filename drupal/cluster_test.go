package drupal

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/drupal/store/redisstore"
	"github.com/socketd/socketd/drupal/store/storetest"
	"github.com/socketd/socketd/internal/redistest"
)

// twoNodes are two bridges, each with its own Socket.IO server (and adapter:
// their sockets do not hear each other's broadcasts) and stand-in Drupal,
// sharing one store in Redis and one clock: the store's side of a cluster.
func twoNodes(t *testing.T) (*env, *env) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	table := storetest.NewTable("a", "b")
	node := func(id string) *env {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = rdb.Close() })
		st, err := redisstore.New(redisstore.Config{Client: rdb, Nodes: table, NodeID: id, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		return newEnvStore(t, nil, clk, st)
	}
	return node("a"), node("b")
}

// waitStats waits until the store counts what want says: the bridge tells a
// shared store on goroutines of its own.
func (e *env) waitStats(want func(store.Stats) bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitTime)
	for {
		st := e.stats()
		if want(st) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("store counts %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// messages takes what Drupal got so far (not authenticate).
func (d *fakeDrupal) messages() []string {
	var out []string
	for {
		select {
		case m := <-d.msgs:
			out = append(out, string(m["messageType"])+" "+string(m["uid"]))
		default:
			return out
		}
	}
}

// On a shared store a user is online once and offline once across the nodes,
// the auth cache of one node serves the other, a content token issued through
// one node is redeemed through the other, and every node counts them all.
func TestBridgeOnSharedStore(t *testing.T) {
	a, b := twoNodes(t)
	for _, e := range []*env{a, b} {
		e.drupal.setUser("t1", user{uid: 1})
		e.drupal.setUser("t2", user{uid: 2, presence: []int64{1}})
	}
	a.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k1"}`, 200, `{"status":"success"}`)
	ca := a.dial()
	ca.authenticate(a, "t1")
	a.expectPresence("userOnline", "1")
	cb := b.dial()
	cb.authenticateWith(b, "t1", `{"w":"k1"}`) // from a's cache; the token a issued
	if n := b.drupal.authN.Load(); n != 0 {
		t.Fatalf("node b asked Drupal %d times; the cache is shared", n)
	}
	b.waitStats(func(st store.Stats) bool { return st.Sockets == 2 })
	b.expectAPI("POST", "/nodejs/content/token/users", `{"channel":"w"}`, 200, `{"users":{"uids":[1],"authTokens":[]}}`)
	a.expectAPI("GET", "/nodejs/health/check", ``, 200, fmt.Sprintf(
		`{"authenticatedClients":1,"sockets":2,"onlineUsers":1,"tokenChannels":1,"contentTokens":{"w":{"tokens":{},"sockets":{%q:{"channel":"w","token":"k1"}}}},"status":"success","version":"1.0.13"}`, cb.id))

	// uid 1 leaves node a, then node b: offline once.
	a.closeAndWait(ca)
	a.waitStats(func(st store.Stats) bool { return st.Sockets == 1 })
	a.clk.Advance(2 * store.DefaultOfflineGrace)
	b.closeAndWait(cb)
	b.waitStats(func(st store.Stats) bool { return st.Sockets == 0 })
	a.clk.Advance(store.DefaultOfflineGrace)
	a.waitStats(func(st store.Stats) bool { return st.OnlineUsers == 0 })
	deadline := time.Now().Add(waitTime)
	var got []string
	for len(got) < 1 && time.Now().Before(deadline) {
		got = append(got, a.drupal.messages()...)
		got = append(got, b.drupal.messages()...)
		time.Sleep(5 * time.Millisecond)
	}
	if fmt.Sprint(got) != `["userOffline" 1]` {
		t.Fatalf("Drupal got %v", got)
	}
	// Kick through node b drops node a's cache entry: the next socket asks
	// Drupal again.
	b.expectAPI("POST", "/nodejs/user/kick/1", ``, 200, `{"status":"success"}`)
	a.dial().authenticate(a, "t1")
	if n := a.drupal.authN.Load(); n != 2 {
		t.Fatalf("node a asked Drupal %d times, want 2", n)
	}
}

// With its shared store away, a node keeps serving with local reach: pages
// authenticate through Drupal, publishes and channel changes reach its own
// sockets, health/check says the store is unavailable, and what needs the
// store alone answers 503. When Redis is back the node's counts are there.
func TestBridgeStoreAway(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(redisstore.Config{Client: rdb, Nodes: storetest.NewTable("n1"), NodeID: "n1", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvStore(t, nil, clk, st)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"c"}})
	e.drupal.setUser("t2", user{uid: 2})
	a := e.dial()
	a.authenticate(e, "t1")
	e.expectPresence("userOnline", "1")
	srv.Kill()

	st2, body := e.api("GET", "/nodejs/health/check", ``)
	if st2 != 200 || body != `{"authenticatedClients":0,"sockets":0,"onlineUsers":0,"tokenChannels":0,"contentTokens":{},"status":"success","version":"1.0.13","store":"unavailable"}` {
		t.Fatalf("health: %d %s", st2, body)
	}
	b := e.dial()
	b.authenticate(e, "t2") // the cache is away: Drupal answers
	e.expectAPI("POST", "/nodejs/publish", `{"broadcast":true}`, 200, `{"status":"success","sent":2}`)
	a.expectMessage(`{"broadcast":true}`)
	b.expectMessage(`{"broadcast":true}`)
	e.expectAPI("POST", "/nodejs/user/channel/add/x/2", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"x"}`, 200, `{"status":"success","sent":1}`)
	b.expectMessage(`{"channel":"x"}`)
	e.expectAPI("POST", "/nodejs/channel/add/y", ``, 503, `{"status":"failed","error":"Service unavailable: the cluster store did not answer."}`)

	srv.Restart()
	e.clk.Advance(redisstore.DefaultInterval) // the tick gets through
	e.waitStats(func(st store.Stats) bool { return st.Sockets == 2 && st.OnlineUsers == 2 })
	e.expectPresence("userOnline", "2") // came while Redis was away: once
	e.expectAPI("POST", "/nodejs/channel/add/y", ``, 200, `{"status":"success"}`)
}
