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

const testTTL = 15 * time.Second

// client is a go-redis client of srv that gives up fast when it is gone.
func client(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newNode is a started store on srv under prefix, with its own client.
func newNode(t *testing.T, srv *redistest.Server, prefix, id string, clk *storetest.Clock, h store.Handler) *Store {
	t.Helper()
	s, err := New(Config{Client: client(t, srv), Prefix: prefix, NodeID: id, NodeTTL: testTTL, OfflineGrace: storetest.Grace, Clock: clk})
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
		return newNode(t, srv, fmt.Sprintf("conformance%d", n), "n1", clk, nil)
	})
}

func auth(token string, uid int64) *store.Auth {
	return &store.Auth{Token: token, UID: uid, Reply: json.RawMessage(fmt.Sprintf(`{"uid":%d}`, uid))}
}

// cluster is nodes on one Redis and one clock, each with its recorder.
type cluster struct {
	t     *testing.T
	srv   *redistest.Server
	clk   *storetest.Clock
	nodes []*Store
	recs  []*storetest.Recorder
	ctx   context.Context
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, srv: redistest.Start(t), clk: storetest.NewClock(), ctx: t.Context()}
	for i := range n {
		rec := storetest.NewRecorder(100)
		c.recs = append(c.recs, rec)
		c.nodes = append(c.nodes, newNode(t, c.srv, "site", fmt.Sprintf("node%d", i), c.clk, rec))
	}
	return c
}

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
	c.clk.Advance(testTTL)
	c.expectEvents()
	// Back through the other node: online again, once.
	c.connected(0, a, true)
	c.connected(1, a, false)
}

// A node that dies (stops renewing its lease) takes its users offline within
// NodeTTL + NodeTTL/3 of its last heartbeat, once, through another node; a
// user it shared with a live node stays online.
func TestClusterNodeDies(t *testing.T) {
	c := newCluster(t, 3)
	c.connected(0, auth("t1", 1), true)
	c.connected(0, auth("t2", 2), true)
	c.connected(2, auth("t2b", 2), false)
	c.connected(0, auth("anon", 0), false)
	c.connected(1, auth("t3", 3), true)
	c.nodes[0].kill() // its last heartbeat was at the clock's start
	c.clk.Advance(testTTL)
	c.expectEvents()
	c.clk.Advance(testTTL / 3)
	c.expectEvents("node1 offline 1") // node 1's heartbeat came first
	if st := c.stats(1); st.Sockets != 2 || st.OnlineUsers != 2 {
		t.Fatalf("stats after the death %+v", st)
	}
	c.clk.Advance(2 * testTTL)
	c.expectEvents()
}

// A node cut off long enough to be taken for dead announces itself when it
// gets through again: its users come back online, once.
func TestClusterNodeReturns(t *testing.T) {
	c := newCluster(t, 2)
	c.connected(0, auth("t1", 1), true)
	c.nodes[0].pauseHeartbeat()
	c.clk.Advance(testTTL + testTTL/3)
	c.expectEvents("node1 offline 1")
	c.nodes[0].resumeHeartbeat()
	c.expectEvents("node0 online 1")
	if st := c.stats(1); st.Sockets != 1 || st.OnlineUsers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A node that closes leaves: its users go offline after the grace period
// unless their pages reconnect to another node meanwhile.
func TestClusterNodeCloses(t *testing.T) {
	c := newCluster(t, 2)
	c.connected(0, auth("t1", 1), true)
	c.connected(0, auth("t2", 2), true)
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	c.clk.Advance(storetest.Grace / 2)
	c.connected(1, auth("t1", 1), false) // reconnected elsewhere
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
	c.nodes[1].kill()
	c.clk.Advance(testTTL + testTTL/3)
	if uids, _, err := c.nodes[0].ContentChannelUsers(c.ctx, "w"); err != nil || len(uids) != 0 {
		t.Fatalf("a dead node's member is still in: %v, %v", uids, err)
	}
}

// A user who leaves a content token channel through a socket on each node,
// both with notifying tokens, starts a grace period on each node; the
// channel is told once, by the node of the latest leave, whichever node asks
// first (the e2e cluster test saw both nodes tell it).
func TestClusterContentLeaveOnce(t *testing.T) {
	c := newCluster(t, 2)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		tok := store.ContentToken{Channel: "w", Token: k, Body: json.RawMessage(`{"channel":"w","token":"` + k + `"}`), Notify: true}
		if err := c.nodes[0].AddContentToken(c.ctx, tok, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	redeem := func(node int, k, sid string, uid int64, authToken string) {
		t.Helper()
		if got, err := c.nodes[node].RedeemContentToken(c.ctx, "w", k, store.Member{SocketID: sid, UID: uid, AuthToken: authToken}); err != nil || got == nil {
			t.Fatalf("redeem %s through node %d: %+v, %v", k, node, got, err)
		}
	}
	leave := func(node int, sid string) {
		t.Helper()
		if notify, err := c.nodes[node].LeaveContentChannel(c.ctx, "w", sid); err != nil || !notify {
			t.Fatalf("leave %s through node %d: %v, %v", sid, node, notify, err)
		}
	}
	due := func(node int, sid string, uid int64, authToken string) bool {
		t.Helper()
		ok, err := c.nodes[node].ContentLeaveDue(c.ctx, "w", uid, authToken, sid)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// uid 5: node 0's leave first, then node 1's; node 0 asks first.
	redeem(0, "k1", "a", 5, "t5")
	redeem(1, "k2", "b", 5, "t5b")
	leave(0, "a")
	leave(1, "b")
	if got := [3]bool{due(0, "a", 5, "t5"), due(1, "b", 5, "t5b"), due(1, "b", 5, "t5b")}; got != [3]bool{false, true, false} {
		t.Fatalf("uid 5: due through node 0, node 1, node 1 again: %v, want false, true, false", got)
	}
	// An anonymous user, by its auth token: node 1's leave first; node 0
	// asks last.
	redeem(1, "k3", "c", 0, "anon")
	redeem(0, "k4", "d", 0, "anon")
	leave(1, "c")
	leave(0, "d")
	if got := [2]bool{due(1, "c", 0, "anon"), due(0, "d", 0, "anon")}; got != [2]bool{false, true} {
		t.Fatalf("anonymous: due through node 1, node 0: %v, want false, true", got)
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
	c.clk.Advance(testTTL / 3) // heartbeats fail
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
	c.clk.Advance(testTTL / 3) // both nodes announce themselves
	c.expectEvents("node0 online 3")
	if st := c.stats(0); st.Sockets != 3 || st.OnlineUsers != 3 {
		t.Fatalf("stats after the announcements %+v", st)
	}
	// uid 1 left node 0 meanwhile but has a socket on node 1: it stays.
	c.clk.Advance(2 * testTTL)
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
	c.clk.Advance(testTTL / 3)
	c.expectEvents()
	if st := c.stats(1); st.OnlineUsers != 2 {
		t.Fatalf("restored %+v", st)
	}
	c.clk.Advance(testTTL + testTTL/3)
	c.expectEvents("node0 offline 1")
	c.clk.Advance(2 * testTTL)
	c.expectEvents()
}
