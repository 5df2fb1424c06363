package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Config configures a Node. URL and Registry are required; every other zero
// field takes the default written beside it.
type Config struct {
	// URL is where the other nodes reach this one: http://host:port or
	// https://host:port (socketd's -advertise).
	URL string
	// Registry is the shared table of live nodes.
	Registry Registry
	// ID is this node's id: up to 64 characters of [A-Za-z0-9_-], unique per
	// process run (a node id of the Redis adapter, so that one id names the
	// node everywhere). Empty means 16 random characters.
	ID string
	// TagLen is the length of the node tag. Every node of a cluster must use
	// the same. Zero means 3: 262,144 tags, so a random pick rarely collides.
	TagLen int
	// TTL is the lease a node takes in the registry: a node that stops renewing
	// it (crashed, or cut off from the registry) is gone from the table TTL
	// after its last renewal. Zero means 15s.
	TTL time.Duration
	// Interval is the heartbeat: how often the lease is renewed and the table of
	// live members refreshed. Zero means TTL/3. A dead node is therefore seen
	// gone by the others at most TTL+Interval after its last heartbeat.
	Interval time.Duration
	// OnChange, when not nil, is called after a refresh that changed the table
	// (on the heartbeat, or when a lookup of an unknown tag refreshed it), with
	// the members that appeared and those that disappeared (withdrawn, or lease
	// ended). Calls never overlap; the first reports every live member, this
	// node included, as joined. Every node calls it for itself: whatever must
	// happen once in the cluster needs its own agreement. It must not block for
	// long: it holds up the next heartbeat.
	OnChange func(joined, left []Member)
	// Logger receives joins, tag changes and registry outages. Nil: nothing.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.TagLen == 0 {
		c.TagLen = 3
	}
	if c.TTL == 0 {
		c.TTL = 15 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = c.TTL / 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case c.Registry == nil:
		return c, errors.New("cluster: nil Registry")
	case c.ID != "" && !validToken(c.ID, maxIDLen):
		return c, fmt.Errorf("cluster: bad node id %q", c.ID)
	case c.TagLen < 1 || c.TagLen > maxTagLen:
		return c, fmt.Errorf("cluster: TagLen %d out of 1..%d", c.TagLen, maxTagLen)
	case c.TTL < 0 || c.Interval <= 0 || c.Interval >= c.TTL:
		return c, errors.New("cluster: want 0 < Interval < TTL")
	}
	return c, CheckURL(c.URL)
}

// Node is this process's membership: its identity, its lease in the registry,
// and a copy of the live members refreshed on every heartbeat.
type Node struct {
	cfg Config
	log *slog.Logger
	id  string

	mu      sync.RWMutex
	tag     string
	members map[string]Member // by tag, as of the last refresh
	down    bool              // the last registry call failed (logged once per outage)

	// refreshing is a one-slot semaphore (a lock that gives up with a
	// context) serialising refreshes, so OnChange calls never overlap and see
	// each change once. lastMiss, guarded by it, keeps sids with unknown tags,
	// which anyone can send, from costing more than one registry call per
	// missInterval.
	refreshing chan struct{}
	lastMiss   time.Time

	stop chan struct{}
	done chan struct{}
}

// missInterval bounds how often a lookup of an unknown tag refreshes the table.
const missInterval = time.Second

// announceAttempts bounds the tag picks at start when tags are taken.
const announceAttempts = 16

// Start joins the cluster: it picks a free tag, announces this node and starts
// the heartbeat. ctx bounds the first announcement. A registry that cannot be
// reached is not an error: the node keeps a random tag, serves alone, logs the
// outage and joins when the registry answers (this node then notices if its
// tag was taken meanwhile, and picks another for the sessions it makes next).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger,
		id:         cfg.ID,
		members:    map[string]Member{},
		refreshing: make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if n.id == "" {
		n.id = randomString(16)
	}
	n.tag = randomString(cfg.TagLen)
	switch err := n.claim(ctx); {
	case errors.Is(err, ErrTagTaken):
		return nil, err
	case err != nil:
		n.registryDown(err)
	default:
		n.log.Info("cluster node joined", slog.String("tag", n.Tag()), slog.String("id", n.id), slog.String("url", cfg.URL))
		n.refresh(ctx)
	}
	go n.run()
	return n, nil
}

// claim announces this node under its tag, picking new tags while the current
// one is taken. It returns ErrTagTaken only when every attempt found its tag taken.
func (n *Node) claim(ctx context.Context) error {
	for i := 0; i < announceAttempts; i++ {
		m := n.Self()
		err := n.cfg.Registry.Announce(ctx, m, n.cfg.TTL)
		if !errors.Is(err, ErrTagTaken) {
			return err
		}
		tag := randomString(n.cfg.TagLen)
		n.log.Debug("cluster tag taken, trying another", slog.String("taken", m.Tag), slog.String("tag", tag))
		n.mu.Lock()
		n.tag = tag
		n.mu.Unlock()
	}
	return ErrTagTaken
}

// ID is this node's id, unique per process run.
func (n *Node) ID() string { return n.id }

// Tag is this node's tag now. It changes only if the registry was lost long
// enough for another node to take it.
func (n *Node) Tag() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.tag
}

// Self is this node as the registry lists it.
func (n *Node) Self() Member { return Member{ID: n.id, Tag: n.Tag(), URL: n.cfg.URL} }

// Members returns the live members as of the last heartbeat, this node
// included once it has announced itself, ordered by tag.
func (n *Node) Members() []Member {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

// Alive reports whether the member with the given id was live at the last heartbeat.
func (n *Node) Alive(id string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, m := range n.members {
		if m.ID == id {
			return true
		}
	}
	return false
}

// Lookup returns the live member whose tag is tag. A tag not in the copy
// refreshes it from the registry (a node that started since the last
// heartbeat), at most once per second whatever the callers ask.
func (n *Node) Lookup(ctx context.Context, tag string) (Member, bool) {
	if m, ok := n.cached(tag); ok {
		return m, true
	}
	if !n.lockRefresh(ctx) {
		return Member{}, false
	}
	defer n.unlockRefresh()
	if m, ok := n.cached(tag); ok { // refreshed while we waited
		return m, true
	}
	if time.Since(n.lastMiss) < missInterval {
		return Member{}, false
	}
	n.lastMiss = time.Now()
	n.refreshLocked(ctx)
	return n.cached(tag)
}

// NodeURL returns the URL of the live node whose tag is tag: what the engine
// asks to forward a request for a session of another node.
func (n *Node) NodeURL(ctx context.Context, tag string) (string, bool) {
	m, ok := n.Lookup(ctx, tag)
	return m.URL, ok
}

func (n *Node) cached(tag string) (Member, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	m, ok := n.members[tag]
	return m, ok
}

// Close stops the heartbeat and withdraws this node from the registry, so the
// others see it gone at their next heartbeat rather than when its lease ends.
func (n *Node) Close(ctx context.Context) error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
	return n.cfg.Registry.Withdraw(ctx, n.Self())
}

func (n *Node) run() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.heartbeat()
	}
}

// heartbeat renews the lease (picking a new tag if ours was taken while the
// registry was out of reach) and refreshes the table. Each registry call is
// bounded by the interval, so a hung registry cannot stall the heartbeat.
func (n *Node) heartbeat() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Interval)
	defer cancel()
	old := n.Tag()
	switch err := n.claim(ctx); {
	case errors.Is(err, ErrTagTaken):
		n.log.Error("cluster: no free tag found; retrying at the next heartbeat")
		return
	case err != nil:
		n.registryDown(err)
		return
	}
	if tag := n.Tag(); tag != old {
		n.log.Warn("cluster tag taken by another node while the registry was out of reach; new sessions get a new tag",
			slog.String("old", old), slog.String("tag", tag))
	}
	n.refresh(ctx)
}

func (n *Node) lockRefresh(ctx context.Context) bool {
	select {
	case n.refreshing <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (n *Node) unlockRefresh() { <-n.refreshing }

// refresh replaces the copy of the table and reports the changes.
func (n *Node) refresh(ctx context.Context) {
	if n.lockRefresh(ctx) {
		n.refreshLocked(ctx)
		n.unlockRefresh()
	}
}

func (n *Node) refreshLocked(ctx context.Context) {
	list, err := n.cfg.Registry.Members(ctx)
	if err != nil {
		n.registryDown(err)
		return
	}
	next := make(map[string]Member, len(list))
	for _, m := range list {
		next[m.Tag] = m
	}
	n.mu.Lock()
	prev := n.members
	n.members = next
	wasDown := n.down
	n.down = false
	n.mu.Unlock()
	if wasDown {
		n.log.Info("cluster registry reachable again", slog.Int("members", len(next)))
	}
	var joined, left []Member
	for tag, m := range next {
		if p, ok := prev[tag]; !ok || p.ID != m.ID {
			joined = append(joined, m)
		}
	}
	for tag, p := range prev {
		if m, ok := next[tag]; !ok || m.ID != p.ID {
			left = append(left, p)
		}
	}
	if len(joined)+len(left) == 0 {
		return
	}
	sortMembers(joined)
	sortMembers(left)
	for _, m := range left {
		n.log.Info("cluster node left", slog.String("tag", m.Tag), slog.String("id", m.ID), slog.String("url", m.URL))
	}
	if n.cfg.OnChange != nil {
		n.cfg.OnChange(joined, left)
	}
}

// registryDown logs the first failure of an outage; the table copy is kept,
// so forwarding to nodes already known goes on while the registry is away.
func (n *Node) registryDown(err error) {
	n.mu.Lock()
	first := !n.down
	n.down = true
	n.mu.Unlock()
	if first {
		n.log.Warn("cluster registry unreachable; serving with the last known nodes", slog.String("error", err.Error()))
	}
}
