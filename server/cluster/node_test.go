package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	if cfg.Interval == 0 {
		cfg.TTL, cfg.Interval = time.Second, 20*time.Millisecond
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n
}

// changes records OnChange calls.
type changes struct {
	mu     sync.Mutex
	joined []Member
	left   []Member
	ch     chan struct{}
}

func newChanges() *changes { return &changes{ch: make(chan struct{}, 100)} }

func (c *changes) on(joined, left []Member) {
	c.mu.Lock()
	c.joined = append(c.joined, joined...)
	c.left = append(c.left, left...)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *changes) waitLeft(t *testing.T, id string)   { c.wait(t, id, &c.left, "left") }
func (c *changes) waitJoined(t *testing.T, id string) { c.wait(t, id, &c.joined, "joined") }

func (c *changes) wait(t *testing.T, id string, list *[]Member, what string) {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		c.mu.Lock()
		for _, m := range *list {
			if m.ID == id {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-c.ch:
		case <-timer.C:
			t.Fatalf("no OnChange reported %s %s within 5s", id, what)
		}
	}
}

func TestNodesSeeEachOther(t *testing.T) {
	reg := NewMemory()
	ch := newChanges()
	a := startNode(t, Config{URL: "http://10.0.0.1:8080", Registry: reg, OnChange: ch.on})
	b := startNode(t, Config{URL: "http://10.0.0.2:8080", Registry: reg, ID: "adapterUID"})
	if b.ID() != "adapterUID" || b.Self().ID != "adapterUID" {
		t.Fatalf("b's id %q, want the one configured", b.ID())
	}
	if len(a.Tag()) != 3 || a.Tag() == b.Tag() || a.ID() == b.ID() {
		t.Fatalf("tags %q %q ids %q %q", a.Tag(), b.Tag(), a.ID(), b.ID())
	}
	// a learns of b on a lookup miss, without waiting for its heartbeat.
	m, ok := a.Lookup(context.Background(), b.Tag())
	if !ok || m != b.Self() {
		t.Fatalf("lookup of b: %+v %v", m, ok)
	}
	if u, ok := b.NodeURL(context.Background(), a.Tag()); !ok || u != "http://10.0.0.1:8080" {
		t.Fatalf("b's view of a: %q %v", u, ok)
	}
	if !a.Alive(b.ID()) || a.Alive("nobody") {
		t.Fatal("Alive")
	}
	if got := a.Members(); len(got) != 2 {
		t.Fatalf("members %v", got)
	}
	// Leaving: b withdraws, a's next heartbeat reports it.
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch.waitLeft(t, b.ID())
	if a.Alive(b.ID()) {
		t.Fatal("b still alive after it left")
	}
	if _, ok := a.Lookup(context.Background(), b.Tag()); ok {
		t.Fatal("b still found after it left")
	}
}

// A node that stops renewing (crashed) leaves the others' table when its lease ends.
func TestLeaseEnds(t *testing.T) {
	reg := NewMemory()
	ch := newChanges()
	a := startNode(t, Config{URL: "http://10.0.0.1:8080", Registry: reg, OnChange: ch.on})
	dead := Member{ID: "crashed", Tag: "zzz", URL: "http://10.0.0.9:8080"}
	if err := reg.Announce(context.Background(), dead, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Lookup(context.Background(), "zzz"); !ok {
		t.Fatal("the member was not found while its lease ran")
	}
	ch.waitLeft(t, "crashed")
}

// With one-character tags, 63 of 64 taken: the node finds the free one.
func TestTagCollision(t *testing.T) {
	reg := NewMemory()
	free := byte('Q')
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == free {
			continue
		}
		m := Member{ID: "other" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Tag: alphabet[i : i+1], URL: "http://10.0.0.1:1"}
		if err := reg.Announce(context.Background(), m, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// 16 random picks among 64 may all miss the free tag; a few starts cannot
	// all fail unless the collision handling is wrong.
	var n *Node
	for i := 0; i < 20 && n == nil; i++ {
		var err error
		n, err = Start(context.Background(), Config{URL: "http://10.0.0.2:1", Registry: reg, TagLen: 1})
		if err != nil && !errors.Is(err, ErrTagTaken) {
			t.Fatal(err)
		}
	}
	if n == nil {
		t.Fatal("no start found the free tag")
	}
	defer n.Close(context.Background())
	if n.Tag() != string(free) {
		t.Fatalf("tag %q, want the free %q", n.Tag(), string(free))
	}
}

// flaky is a registry that fails while down is set, and counts Members calls.
type flaky struct {
	Registry
	down    atomic.Bool
	members atomic.Int64
}

var errDown = errors.New("registry down")

func (f *flaky) Announce(ctx context.Context, m Member, ttl time.Duration) error {
	if f.down.Load() {
		return errDown
	}
	return f.Registry.Announce(ctx, m, ttl)
}

func (f *flaky) Members(ctx context.Context) ([]Member, error) {
	f.members.Add(1)
	if f.down.Load() {
		return nil, errDown
	}
	return f.Registry.Members(ctx)
}

// A registry down at start is not fatal: the node joins when it is back, and
// keeps the members it knew while it is away.
func TestRegistryOutage(t *testing.T) {
	reg := &flaky{Registry: NewMemory()}
	reg.down.Store(true)
	ch := newChanges()
	a := startNode(t, Config{URL: "http://10.0.0.1:8080", Registry: reg, OnChange: ch.on})
	if len(a.Tag()) != 3 {
		t.Fatalf("no tag while the registry is down: %q", a.Tag())
	}
	reg.down.Store(false)
	ch.waitJoined(t, a.ID()) // a's heartbeat announced it and listed itself
	b := startNode(t, Config{URL: "http://10.0.0.2:8080", Registry: reg})
	if !b.Alive(a.ID()) {
		t.Fatal("b does not see a")
	}
	reg.down.Store(true)
	if u, ok := b.NodeURL(context.Background(), a.Tag()); !ok || u != "http://10.0.0.1:8080" {
		t.Fatalf("known node lost while the registry is down: %q %v", u, ok)
	}
}

// Unknown tags (anyone can send any sid) cost at most one registry call per second.
func TestLookupMissesBounded(t *testing.T) {
	reg := &flaky{Registry: NewMemory()}
	a := startNode(t, Config{URL: "http://10.0.0.1:8080", Registry: reg, TTL: time.Hour, Interval: time.Hour / 3})
	before := reg.members.Load()
	for i := 0; i < 200; i++ {
		if _, ok := a.Lookup(context.Background(), "nope"); ok {
			t.Fatal("found a tag nobody has")
		}
	}
	if calls := reg.members.Load() - before; calls > 2 {
		t.Fatalf("%d registry calls for 200 misses, want at most 2", calls)
	}
}

func TestConfigChecks(t *testing.T) {
	reg := NewMemory()
	for _, c := range []Config{
		{URL: "http://h:1"},
		{URL: "", Registry: reg},
		{URL: "http://h:1/socket.io", Registry: reg},
		{URL: "tcp://h:1", Registry: reg},
		{URL: "http://h:1", Registry: reg, TagLen: 9},
		{URL: "http://h:1", Registry: reg, ID: "has space"},
		{URL: "http://h:1", Registry: reg, TTL: time.Second, Interval: 2 * time.Second},
	} {
		if n, err := Start(context.Background(), c); err == nil {
			_ = n.Close(context.Background())
			t.Errorf("Start(%+v) accepted", c)
		}
	}
}
