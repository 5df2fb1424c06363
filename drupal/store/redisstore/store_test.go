package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/drupal/store/storetest"
	"github.com/socketd/socketd/internal/redistest"
)

// testInterval is the stores' tick; testSettle is how long a new
// registration is safe from reaping (3 ticks).
const (
	testInterval = 5 * time.Second
	testSettle   = 3 * testInterval
)

// client is a go-redis client of srv that gives up fast when it is gone.
func client(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newNode is a started store on srv under prefix, with its own client,
// following table.
func newNode(t *testing.T, srv *redistest.Server, prefix, id string, table Nodes, clk *storetest.Clock, h store.Handler) *Store {
	t.Helper()
	s, err := New(Config{Client: client(t, srv), Prefix: prefix, Nodes: table, NodeID: id, Interval: testInterval, OfflineGrace: storetest.Grace, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if h != nil {
		if err := s.Start(h); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T, clk *storetest.Clock) store.Store {
		n++
		return newNode(t, srv, fmt.Sprintf("conformance%d", n), "n1", storetest.NewTable("n1"), clk, nil)
	})
}

func auth(token string, uid int64) *store.Auth {
	return &store.Auth{Token: token, UID: uid, Reply: json.RawMessage(fmt.Sprintf(`{"uid":%d}`, uid))}
}

// cluster is nodes on one Redis, one clock and one table of live nodes, each
// with its recorder.
type cluster struct {
	t     *testing.T
	srv   *redistest.Server
	clk   *storetest.Clock
	table *storetest.Table
	nodes []*Store
	recs  []*storetest.Recorder
	ctx   context.Context
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, srv: redistest.Start(t), clk: storetest.NewClock(), table: storetest.NewTable(), ctx: t.Context()}
	for range n {
		c.add()
	}
	return c
}

// add starts another node, listed in the table first as server/cluster
// lists a node before its store starts.
func (c *cluster) add() *Store {
	id := fmt.Sprintf("node%d", len(c.nodes))
	c.table.Join(id)
	rec := storetest.NewRecorder(100)
	c.recs = append(c.recs, rec)
	s := newNode(c.t, c.srv, "site", id, c.table, c.clk, rec)
	c.nodes = append(c.nodes, s)
	return s
}

// kill stops node i as SIGKILL would: no more ticks, no leaving; the table
// drops it when its lease ends, which the caller says with Leave.
func (c *cluster) kill(i int) { c.nodes[i].kill() }

func (c *cluster) connected(node int, a *store.Auth, want bool) {
	c.t.Helper()
	online, err := c.nodes[node].Connected(c.ctx, a, []int64{99})
	if err != nil || online != want {
		c.t.Fatalf("node %d Connected(uid %d) = %v, %v; want %v", node, a.UID, online, err, want)
	}
}

func (c *cluster) disconnected(node int, a *store.Auth) {
	c.t.Helper()
	if err := c.nodes[node].Disconnected(c.ctx, a); err != nil {
		c.t.Fatalf("node %d Disconnected: %v", node, err)
	}
}

// events takes every handler call so far, from every node.
func (c *cluster) events() []string {
	var out []string
	for i, r := range c.recs {
		for {
			select {
			case e := <-r.Events:
				kind := "offline"
				if e.Online {
					kind = "online"
				}
				out = append(out, fmt.Sprintf("node%d %s %d", i, kind, e.UID))
				continue
			default:
			}
			break
		}
	}
	return out
}

func (c *cluster) expectEvents(want ...string) {
	c.t.Helper()
	got := c.events()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		c.t.Fatalf("handler calls %v, want %v", got, want)
	}
}

func (c *cluster) stats(node int) store.Stats {
	c.t.Helper()
	st, err := c.nodes[node].Stats(c.ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// A user with sockets on two nodes is online once, and offline once, when
// the last one leaves, whichever node it was on; counts are the cluster's.
func TestClusterPresenceOnce(t *testing.T) {
	c := newCluster(t, 2)
	a := auth("t1", 1)
	c.connected(0, a, true)
	c.connected(1, a, false)
	c.connected(1, auth("anon", 0), false)
	if st := c.stats(0); st.Sockets != 3 || st.OnlineUsers != 1 {
		t.Fatalf("stats %+v", st)
	}
	for node := range 2 {
		if n, err := c.nodes[node].UserSessions(c.ctx, 1); err != nil || n != 2 {
			t.Fatalf("node %d: sessions of uid 1: %d, %v", node, n, err)
		}
	}
	c.disconnected(0, a)
	c.clk.Advance(2 * storetest.Grace)
	c.expectEvents() // still on node 1
	c.disconnected(1, a)
	c.clk.Advance(storetest.Grace - time.Millisecond)
	c.expectEvents()
	c.clk.Advance(time.Millisecond)
	c.expectEvents("node1 offline 1")
	c.clk.Advance(testSettle)
	c.expectEvents()
	// Back through the other node: online again, once.
	c.connected(0, a, true)
	c.connected(1, a, false)
}

// A node that dies has its users taken offline once the table of live nodes
// no longer lists it (server/cluster: when its lease ends), once, by the
// first live node whose tick notices; a user it shared with a live node
// stays online. While the table lists it, nothing happens.
func TestClusterNodeDies(t *testing.T) {
	c := newCluster(t, 3)
	c.clk.Advance(testSettle) // the nodes are no longer new
	c.connected(0, auth("t1", 1), true)
	c.connected(0, auth("t2", 2), true)
	c.connected(2, auth("t2b", 2), false)
	c.connected(0, auth("anon", 0), false)
	c.connected(1, auth("t3", 3), true)
	c.nodes[0].kill()
	c.clk.Advance(4 * testInterval) // its lease runs: still listed
	c.expectEvents()
	c.table.Leave("node0")
	c.clk.Advance(testInterval)
	c.expectEvents("node1 offline 1") // node 1's tick came first
	if st := c.stats(1); st.Sockets != 2 || st.OnlineUsers != 2 {
		t.Fatalf("stats after the death %+v", st)
	}
	c.clk.Advance(4 * testInterval)
	c.expectEvents()
}

// NodesLeft (server/cluster's OnChange) drops the nodes the table no longer
// lists at once, without waiting for a tick: the offline bound is the
// table's.
func TestClusterNodesLeft(t *testing.T) {
	c := newCluster(t, 2)
	c.clk.Advance(testSettle)
	c.connected(0, auth("t1", 1), true)
	c.connected(1, auth("t2", 2), true)
	c.kill(0)
	c.nodes[1].NodesLeft() // the table still lists node 0: nothing
	c.table.Leave("node0")
	c.nodes[1].NodesLeft()
	select {
	case e := <-c.recs[1].Events:
		if e.Online || e.UID != 1 {
			t.Fatalf("event %+v, want uid 1 offline", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no offline after NodesLeft")
	}
	c.expectEvents()
	if st := c.stats(1); st.Sockets != 1 || st.OnlineUsers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The table's copies lag behind it: a node that registered in the store less
// than 3 ticks ago is spared though a copy does not list it yet, and a node
// whose own copy does not list itself (its registry never answered) judges
// nobody.
func TestClusterNewNodeSpared(t *testing.T) {
	c := newCluster(t, 1)
	c.clk.Advance(testSettle)
	c.add()
	c.table.Leave("node1") // node 0's copy does not list it yet
	c.connected(1, auth("t1", 1), true)
	c.clk.Advance(testSettle - testInterval)
	c.expectEvents()
	c.table.Join("node1") // now it does
	c.clk.Advance(2 * testSettle)
	c.expectEvents()

	rec := storetest.NewRecorder(10)
	lonely := newNode(t, c.srv, "site", "lonely", storetest.NewTable(), c.clk, rec)
	c.clk.Advance(2 * testSettle) // lonely's copy lists neither node
	c.expectEvents()
	rec.Expect(t)
	if n, err := lonely.UserSessions(c.ctx, 1); err != nil || n != 1 {
		t.Fatalf("node 1's socket, seen from lonely: %d, %v", n, err)
	}
}

// A node cut off long enough for the table to drop it announces itself when
// it gets through again: its users come back online, once.
func TestClusterNodeReturns(t *testing.T) {
	c := newCluster(t, 2)
	c.connected(0, auth("t1", 1), true)
	c.nodes[0].pauseTick()
	c.table.Leave("node0")
	c.clk.Advance(testSettle)
	c.expectEvents("node1 offline 1")
	c.table.Join("node0")
	c.nodes[0].resumeTick()
	c.expectEvents("node0 online 1")
	if st := c.stats(1); st.Sockets != 1 || st.OnlineUsers != 1 {
		t.Fatalf("stats %+v", st)
	}
	c.clk.Advance(2 * testSettle) // registered anew: listed, not reaped
	c.expectEvents()
}

// A node that closes leaves the store, then the table: its users go offline
// after the grace period unless their pages reconnect to another node
// meanwhile. The table dropping it changes nothing.
func TestClusterNodeCloses(t *testing.T) {
	c := newCluster(t, 2)
	c.clk.Advance(testSettle)
	c.connected(0, auth("t1", 1), true)
	c.connected(0, auth("t2", 2), true)
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	c.table.Leave("node0")
	c.nodes[1].reapNow() // what NodesLeft runs
	c.clk.Advance(storetest.Grace / 2)
	c.connected(1, auth("t1", 1), false) // reconnected elsewhere
	c.expectEvents()
	c.clk.Advance(storetest.Grace)
	c.expectEvents("node1 offline 2")
}

// A content token issued through one node is redeemed once, through another,
// and refused after; the members are the cluster's.
func TestClusterContentToken(t *testing.T) {
	c := newCluster(t, 2)
	tok := store.ContentToken{Channel: "w", Token: "k1", Body: json.RawMessage(`{"channel":"w","token":"k1","n":1.50}`), Notify: true}
	if err := c.nodes[0].AddContentToken(c.ctx, tok, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := c.nodes[1].RedeemContentToken(c.ctx, "w", "k1", store.Member{SocketID: "s1", UID: 5, AuthToken: "a5"})
	if err != nil || got == nil || string(got.Body) != string(tok.Body) || !got.Notify {
		t.Fatalf("redeem through node 1: %+v, %v", got, err)
	}
	for node := range 2 {
		if again, err := c.nodes[node].RedeemContentToken(c.ctx, "w", "k1", store.Member{SocketID: "s2", UID: 6}); err != nil || again != nil {
			t.Fatalf("second redeem through node %d: %+v, %v", node, again, err)
		}
	}
	uids, _, err := c.nodes[0].ContentChannelUsers(c.ctx, "w")
	if err != nil || fmt.Sprint(uids) != "[5]" {
		t.Fatalf("users seen from node 0: %v, %v", uids, err)
	}
	// A dead node's members leave with it.
	c.kill(1)
	c.table.Leave("node1")
	c.clk.Advance(testSettle)
	if in, err := c.nodes[0].InContentChannel(c.ctx, "w", 5, ""); err != nil || in {
		t.Fatalf("a dead node's member is still in: %v, %v", in, err)
	}
}

// Kick and logout through one node drop the cached authentication for every
// node.
func TestClusterAuthCacheShared(t *testing.T) {
	c := newCluster(t, 2)
	for _, a := range []*store.Auth{auth("t1", 1), auth("t1b", 1), auth("t2", 2)} {
		if err := c.nodes[0].CacheAuth(c.ctx, a, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if a, err := c.nodes[1].CachedAuth(c.ctx, "t1"); err != nil || a == nil || a.UID != 1 {
		t.Fatalf("node 1 reads %+v, %v", a, err)
	}
	if err := c.nodes[1].ForgetUser(c.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.nodes[1].ForgetToken(c.ctx, "t2"); err != nil || !ok {
		t.Fatalf("logout: %v, %v", ok, err)
	}
	for _, tok := range []string{"t1", "t1b", "t2"} {
		if a, err := c.nodes[0].CachedAuth(c.ctx, tok); err != nil || a != nil {
			t.Fatalf("node 0 still has %s: %+v, %v", tok, a, err)
		}
	}
}

// Redis killed and started again empty: every node keeps its counts while it
// is away (calls fail at once), and announces them when it is back. Users
// Drupal knew online stay online without a second userOnline; a user who came
// meanwhile is announced once; a user who left meanwhile goes offline once.
func TestRedisLostAndBack(t *testing.T) {
	c := newCluster(t, 2)
	a1, a2, a3 := auth("t1", 1), auth("t2", 2), auth("t3", 3)
	c.connected(0, a1, true)
	c.connected(1, a2, true)
	c.connected(1, auth("t1b", 1), false)
	c.srv.Kill()

	// Away: the calls fail, the counts are kept.
	if _, err := c.nodes[0].Connected(c.ctx, a3, nil); err == nil {
		t.Fatal("Connected with Redis gone did not fail")
	}
	if err := c.nodes[0].Disconnected(c.ctx, a1); err == nil {
		t.Fatal("Disconnected with Redis gone did not fail")
	}
	c.clk.Advance(testInterval) // ticks fail
	if _, err := c.nodes[1].Stats(c.ctx); err == nil {
		t.Fatal("Stats with Redis gone did not fail")
	}
	start := time.Now()
	if _, err := c.nodes[1].CachedAuth(c.ctx, "t1"); err != ErrUnavailable {
		t.Fatalf("CachedAuth while away: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("a call while Redis is away waited for it")
	}
	c.expectEvents()

	c.srv.Restart()
	c.clk.Advance(testInterval) // both nodes announce themselves
	c.expectEvents("node0 online 3")
	if st := c.stats(0); st.Sockets != 3 || st.OnlineUsers != 3 {
		t.Fatalf("stats after the announcements %+v", st)
	}
	// uid 1 left node 0 meanwhile but has a socket on node 1: it stays.
	c.clk.Advance(2 * testSettle)
	c.expectEvents()
	c.disconnected(1, auth("t1b", 1))
	c.clk.Advance(storetest.Grace)
	c.expectEvents("node1 offline 1")
	if st := c.stats(1); st.OnlineUsers != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// A user who left while Redis was away goes offline once it is back, after
// the others have had their time to announce theirs.
func TestRedisLostUserLeft(t *testing.T) {
	c := newCluster(t, 2)
	a1 := auth("t1", 1)
	c.connected(0, a1, true)
	c.connected(1, auth("t2", 2), true)
	c.srv.Kill()
	_ = c.nodes[0].Disconnected(c.ctx, a1)
	c.srv.Restart()
	c.clk.Advance(testInterval)
	c.expectEvents()
	if st := c.stats(1); st.OnlineUsers != 2 {
		t.Fatalf("restored %+v", st)
	}
	c.clk.Advance(testSettle + testInterval)
	c.expectEvents("node0 offline 1")
	c.clk.Advance(2 * testSettle)
	c.expectEvents()
}

// Redis away longer than the table's leases and back with its data (frozen,
// then thawed): the table lists the other nodes again only as their
// heartbeats renew their leases, so a node back first must not take them for
// dead meanwhile. A node that did die during the outage goes once the others
// have had that time.
func TestRedisBackNoFlap(t *testing.T) {
	c := newCluster(t, 3)
	c.clk.Advance(testSettle)
	c.connected(0, auth("t1", 1), true)
	c.connected(1, auth("t2", 2), true)
	c.connected(2, auth("t3", 3), true)
	c.srv.Freeze()
	c.clk.Advance(testInterval) // every tick fails (the clients' 1 s read timeout)
	c.kill(2)
	c.table.Leave("node1") // leases lapsed; node 1's comes back below
	c.table.Leave("node2") // node 2's never does
	c.srv.Thaw()
	c.clk.Advance(testInterval)
	c.expectEvents()
	c.table.Join("node1") // its heartbeat renewed its lease
	c.clk.Advance(testSettle - testInterval)
	c.expectEvents()
	c.clk.Advance(testInterval) // 3 ticks after Redis came back
	c.expectEvents("node0 offline 3")
	c.clk.Advance(2 * testSettle)
	c.expectEvents()
	if st := c.stats(0); st.OnlineUsers != 2 || st.Sockets != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// A kick or logout made while Redis is away (here frozen, keeping its data)
// drops its cached authentications when Redis answers again, at the node's
// next tick: a kicked user's token does not authenticate from a stale entry
// for the rest of the cache's time to live.
func TestForgetsWhileAway(t *testing.T) {
	c := newCluster(t, 2)
	for _, a := range []*store.Auth{auth("t1", 1), auth("t1b", 1), auth("t2", 2), auth("t3", 3)} {
		if err := c.nodes[0].CacheAuth(c.ctx, a, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	c.srv.Freeze()
	if err := c.nodes[0].ForgetUser(c.ctx, 1); err == nil {
		t.Fatal("ForgetUser with Redis frozen did not fail")
	}
	if _, err := c.nodes[0].ForgetToken(c.ctx, "t2"); err == nil {
		t.Fatal("ForgetToken with Redis away did not fail")
	}
	if u, k, all := c.nodes[0].pendingForgets(); u != 1 || k != 1 || all {
		t.Fatalf("pending %d users, %d tokens, all %v", u, k, all)
	}
	c.srv.Thaw()
	if a, err := c.nodes[1].CachedAuth(c.ctx, "t2"); err != nil || a == nil {
		t.Fatalf("before node 0's tick: %+v, %v (the entry is still there)", a, err)
	}
	c.clk.Advance(testInterval)
	for tok, want := range map[string]bool{"t1": false, "t1b": false, "t2": false, "t3": true} {
		if a, err := c.nodes[1].CachedAuth(c.ctx, tok); err != nil || (a != nil) != want {
			t.Fatalf("%s after Redis came back: %+v, %v; want cached %v", tok, a, err, want)
		}
	}
	if u, k, all := c.nodes[0].pendingForgets(); u != 0 || k != 0 || all {
		t.Fatalf("still pending: %d users, %d tokens, all %v", u, k, all)
	}
}

// Past maxPendingForgets of a kind, the whole cache is dropped when Redis
// answers again.
func TestForgetsOverflow(t *testing.T) {
	c := newCluster(t, 1)
	s := c.nodes[0]
	for _, a := range []*store.Auth{auth("t1", 1), auth("t2", 2)} {
		if err := s.CacheAuth(c.ctx, a, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range maxPendingForgets + 1 {
		s.forgetLater(func(f *forgets) { f.tokens[fmt.Sprint("x", i)] = struct{}{} })
	}
	if u, k, all := s.pendingForgets(); u != 0 || k != 0 || !all {
		t.Fatalf("pending %d users, %d tokens, all %v; want the whole cache", u, k, all)
	}
	c.clk.Advance(testInterval)
	for _, tok := range []string{"t1", "t2"} {
		if a, err := s.CachedAuth(c.ctx, tok); err != nil || a != nil {
			t.Fatalf("%s still cached: %+v, %v", tok, a, err)
		}
	}
	if st := c.stats(0); st.AuthenticatedClients != 0 {
		t.Fatalf("stats %+v", st)
	}
}
