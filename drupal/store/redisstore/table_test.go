package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/store/storetest"
	"github.com/socketd/socketd/internal/redistest"
	nodetable "github.com/socketd/socketd/server/cluster"
)

// cutRegistry is a nodetable.Registry that a test can cut off: the node then
// stops renewing its lease, as a killed node does, while its process lives on.
type cutRegistry struct {
	nodetable.Registry
	cut atomic.Bool
}

var errCut = errors.New("cut off")

func (r *cutRegistry) Announce(ctx context.Context, m nodetable.Member, ttl time.Duration) error {
	if r.cut.Load() {
		return errCut
	}
	return r.Registry.Announce(ctx, m, ttl)
}

func (r *cutRegistry) Members(ctx context.Context) ([]nodetable.Member, error) {
	if r.cut.Load() {
		return nil, errCut
	}
	return r.Registry.Members(ctx)
}

// tableNode is a node as socketd assembles it: server/cluster's table on
// Redis, its OnChange telling the store, the store following it.
type tableNode struct {
	reg *cutRegistry
	st  *Store
	rec *storetest.Recorder
}

func startTableNode(t *testing.T, srv *redistest.Server, id string, ttl, interval time.Duration) *tableNode {
	t.Helper()
	n := &tableNode{reg: &cutRegistry{Registry: nodetable.NewRedis(client(t, srv), "site#nodes")}, rec: storetest.NewRecorder(10)}
	var st atomic.Pointer[Store]
	tab, err := nodetable.Start(t.Context(), nodetable.Config{
		URL: "http://127.0.0.1:1", Registry: n.reg, ID: id, TTL: ttl, Interval: interval,
		OnChange: func(_, left []nodetable.Member) {
			if s := st.Load(); s != nil && len(left) > 0 {
				s.NodesLeft()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tab.Close(context.Background()) })
	s, err := New(Config{Client: client(t, srv), Prefix: "site", Nodes: tab, NodeID: id, Interval: interval, OfflineGrace: storetest.Grace})
	if err != nil {
		t.Fatal(err)
	}
	st.Store(s)
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Start(n.rec); err != nil {
		t.Fatal(err)
	}
	n.st = s
	return n
}

// With server/cluster's table as the one notion of live nodes (real time,
// Redis's clock, short leases): a node whose lease ends has its users taken
// offline through another node's OnChange, once; a user it shared with a
// live node stays online.
func TestClusterTableKill(t *testing.T) {
	srv := redistest.Start(t)
	const ttl, interval = 900 * time.Millisecond, 300 * time.Millisecond
	a := startTableNode(t, srv, "nodeA", ttl, interval)
	b := startTableNode(t, srv, "nodeB", ttl, interval)
	ctx := t.Context()
	for _, c := range []struct {
		n      *tableNode
		token  string
		uid    int64
		online bool
	}{{a, "t1", 1, true}, {a, "t2", 2, true}, {b, "t2b", 2, false}} {
		if online, err := c.n.st.Connected(ctx, auth(c.token, c.uid), nil); err != nil || online != c.online {
			t.Fatalf("Connected(%s) = %v, %v", c.token, online, err)
		}
	}
	a.reg.cut.Store(true) // its lease runs out
	a.st.kill()
	killed := time.Now()
	select {
	case e := <-b.rec.Events:
		if e.Online || e.UID != 1 {
			t.Fatalf("event %+v, want uid 1 offline", e)
		}
		t.Logf("offline %v after the kill (lease %v, heartbeat %v, store tick %v)",
			time.Since(killed).Round(time.Millisecond), ttl, interval, interval)
	case <-time.After(30 * time.Second):
		t.Fatal("the killed node's user is still online after 30 s")
	}
	// uid 1 is no longer online anywhere, so no node can report it again.
	st, err := b.st.Stats(ctx)
	if err != nil || st.OnlineUsers != 1 || st.Sockets != 1 {
		t.Fatalf("stats %+v, %v; want uid 2 alone, on node B", st, err)
	}
	a.rec.Expect(t)
}
