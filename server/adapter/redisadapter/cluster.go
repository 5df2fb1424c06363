package redisadapter

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter/wire"
)

// Config configures a Cluster. The zero value of every field but Client
// works.
type Config struct {
	// Client is the Redis connection (a *redis.Client, *redis.ClusterClient
	// or *redis.Ring). It publishes and asks PUBSUB NUMSUB; the Cluster
	// takes one more connection from it for its subscriptions. The Cluster
	// does not close it. Its timeouts decide how soon a frozen or
	// unreachable Redis is noticed (see "Faults" in the package doc for the
	// options socketd uses).
	Client redis.UniversalClient
	// Prefix is the key prefix of every channel. Zero means "socket.io",
	// the Node adapter's default, so a mixed cluster needs no setting.
	Prefix string
	// RequestTimeout bounds how long a request (fetchSockets,
	// serverSideEmit with answers, a counted broadcast) waits for the
	// other nodes, and how long an operation that waits for its publish
	// (Ordered ones, requests) waits for it. Zero means 5 s (the Node
	// adapter's requestsTimeout).
	RequestTimeout time.Duration
	// PublishQueueBytes bounds the messages waiting to be published: their
	// encoded bytes (buffer capacity), channel names and 256 bytes each.
	// When it is full, a broadcast is delivered to this node's sockets
	// only and counted (Stats.Dropped, Stats.QueueFull), an Ordered
	// operation is applied here at once, a request returns ErrBusDown.
	// Zero means 8 MiB.
	PublishQueueBytes int
	// PublishFullWait is how long a publish waits for room in a full
	// queue before it is dropped as above: a burst faster than Redis takes
	// it is slowed to Redis's pace rather than losing its tail. A bus known
	// to be down drops at once. Zero means 100 ms; negative never waits.
	PublishFullWait time.Duration
	// Sharded speaks the sharded adapter's wire (createShardedAdapter:
	// SPUBLISH/SSUBSCRIBE, Redis 7 or later) instead of the classic one.
	Sharded bool
	// SubscriptionMode is the sharded wire's subscriptionMode; every node
	// of a cluster must use the same. Zero is Dynamic, Node's default.
	SubscriptionMode SubscriptionMode
	// PublishOnSpecificResponseChannel answers requests on the requester's
	// own response channel (<prefix>-response#<nsp>#<uid>#), as the Node
	// option of that name does; by default answers go to the shared
	// response channel, which every Node adapter version reads.
	PublishOnSpecificResponseChannel bool
	// NodeID is this node's uid on the bus. Zero means 6 random
	// characters, as uid2(6) gives a Node node. It must differ from every
	// other node's and from "emitter".
	NodeID string
	// MaxBackoff bounds the wait between two attempts to reach Redis.
	// Zero means 5 s.
	MaxBackoff time.Duration
	// HealthCheckInterval is how long the subscription connection may stay
	// quiet before it is pinged; without an answer within another interval
	// it is replaced (Redis frozen, or a network that drops packets without
	// resetting the connection). A publish that fails on the network pings
	// it at once, and it is replaced when the answer takes longer than half
	// a second (or this interval, if shorter). Zero means 15 s.
	HealthCheckInterval time.Duration
	// Logger receives the bus's state changes (Info, Warn) and dropped
	// messages (Debug). Nil means no logging.
	Logger *slog.Logger
}

// SubscriptionMode is how many channels a namespace uses on the sharded
// wire (createShardedAdapter's subscriptionMode).
type SubscriptionMode uint8

const (
	// Dynamic adds a channel per public room (one whose name is not 20
	// characters long, the length of a socket id): a broadcast to exactly
	// one such room reaches only the nodes that have it.
	Dynamic SubscriptionMode = iota
	// Static uses the namespace's channel and one per node.
	Static
	// DynamicPrivate adds a channel per room, socket ids included.
	DynamicPrivate
)

// ErrBusDown is returned (wrapped) by operations that need the other nodes
// while Redis cannot be reached; what they could do on this node is done.
var ErrBusDown = errors.New("redisadapter: Redis is unreachable")

// ErrTimeout is returned (wrapped) by a request some nodes did not answer
// within Config.RequestTimeout; the answers received are returned with it.
var ErrTimeout = errors.New("redisadapter: request timed out")

// Stats are a Cluster's counters since New.
type Stats struct {
	Published  uint64 // messages published
	Received   uint64 // messages received from the bus
	Malformed  uint64 // received messages that did not decode (ignored)
	Dropped    uint64 // messages not published (bus down, publish failed, publish queue full)
	Reconnects uint64 // times the subscription connection came back after a loss
	Up         bool   // whether the subscription connection is up

	QueueFull  uint64 // of Dropped, messages refused because the publish queue was full
	QueueBytes uint64 // bytes the publish queue holds now (at most Config.PublishQueueBytes)
	Batches    uint64 // round trips the publisher made (Published/Batches: messages per round trip)
}

// Cluster is one node's presence on the bus: ONE subscription connection
// for all its namespaces, read by one goroutine that applies messages in
// the order Redis delivers them. Its Factory makes the namespaces'
// adapters.
type Cluster struct {
	cfg    Config
	client redis.UniversalClient
	uid    string
	log    *slog.Logger
	// ps is the subscription connection; replaced when it goes silent.
	ps atomic.Pointer[redis.PubSub]

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	out    outbox // every message this node publishes, FIFO, bounded

	// A probe (publisher.go) waits for the next PONG on the subscription
	// connection: probing tells the reader to close probeCh.
	probing atomic.Bool
	probeMu sync.Mutex // a leaf
	probeCh chan struct{}

	up atomic.Bool

	// routes maps a subscribed channel or pattern to its namespace; it is
	// replaced, never changed, so the reader looks it up without a lock.
	routes atomic.Pointer[map[string]route]

	mu      sync.Mutex // nsps, closed, waiters, upCh (a leaf: no I/O under it)
	nsps    map[string]*Adapter
	closed  bool
	waiters map[string][]chan struct{}
	upCh    chan struct{} // closed while the bus is up
	unsub   []channels    // channels of closed namespaces, to unsubscribe
	subKick chan struct{} // wakes the subscriber goroutine

	reqs requests
	ord  ordered

	// dyn maps the sharded wire's per-room channels to their namespace.
	// The subscriber goroutine changes it; the reader reads it.
	dynMu sync.RWMutex
	dyn   map[string]*Adapter
	dirty map[*Adapter][]adapter.Room // rooms created or emptied; under mu
	// dirtyGen counts roomsChanged calls, doneGen those whose channels are
	// (un)subscribed and confirmed; genCh is closed when doneGen moves.
	// Under mu.
	dirtyGen, doneGen uint64
	genCh             chan struct{}

	ackSeq atomic.Uint64 // ack ids of broadcasts other nodes ask for

	published, received, malformed, dropped, reconnects atomic.Uint64
	queueFull, batches                                  atomic.Uint64
}

type routeKind uint8

const (
	routeBroadcast routeKind = iota
	routeRequest
	routeResponse
	routeSocketd
)

type route struct {
	ns   *Adapter
	kind routeKind
}

// remoteAckBase is where the ack ids of broadcasts asked by other nodes
// start: far above the namespace's own ids (which count from 0), below 2^53
// so JavaScript clients read them back exactly.
const remoteAckBase = 1 << 52

// New starts a node's presence on the bus. It does not wait for Redis: while
// Redis is unreachable the adapters serve this node's sockets and the
// Cluster retries with backoff, joining the bus when Redis answers.
func New(cfg Config) (*Cluster, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisadapter: Config.Client is nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "socket.io"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.HealthCheckInterval <= 0 {
		cfg.HealthCheckInterval = 15 * time.Second
	}
	if cfg.PublishQueueBytes <= 0 {
		cfg.PublishQueueBytes = 8 << 20
	}
	if cfg.PublishFullWait == 0 {
		cfg.PublishFullWait = 100 * time.Millisecond
	}
	if cfg.NodeID == "" {
		cfg.NodeID = randomID(6)
	}
	if cfg.NodeID == wire.EmitterUID {
		return nil, fmt.Errorf("redisadapter: NodeID %q is the emitter's", cfg.NodeID)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		cfg:     cfg,
		client:  cfg.Client,
		uid:     cfg.NodeID,
		log:     log.With("node", cfg.NodeID),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		out:     outbox{limit: cfg.PublishQueueBytes, kick: make(chan struct{}, 1)},
		nsps:    make(map[string]*Adapter),
		waiters: make(map[string][]chan struct{}),
		upCh:    make(chan struct{}),
		subKick: make(chan struct{}, 1),
		dyn:     make(map[string]*Adapter),
		dirty:   make(map[*Adapter][]adapter.Room),
		genCh:   make(chan struct{}),
	}
	c.reqs.m = make(map[string]*pending)
	c.ord.ops = make(map[uint64]*orderedOp)
	c.ackSeq.Store(remoteAckBase)
	empty := map[string]route{}
	c.routes.Store(&empty)
	c.ps.Store(c.newPubSub())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.read() }()
	go func() { defer wg.Done(); c.publisher() }()
	go func() { defer wg.Done(); c.subscriber() }()
	go func() { wg.Wait(); close(c.done) }()
	return c, nil
}

// NodeID is this node's uid on the bus.
func (c *Cluster) NodeID() string { return c.uid }

// WaitUp waits until the node is on the bus, every namespace made so far
// subscribed, or ctx ends. Nothing requires it: adapters work before, for this node.
func (c *Cluster) WaitUp(ctx context.Context) error {
	for {
		c.mu.Lock()
		ch := c.upCh
		c.mu.Unlock()
		select {
		case <-ch:
			if c.up.Load() {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Factory returns the adapter.Factory to give socketio.Config.Adapter.
func (c *Cluster) Factory() adapter.Factory {
	return func(nsp string, local adapter.Local) (adapter.Adapter, error) {
		return c.newAdapter(nsp, local)
	}
}

// Stats returns the counters.
func (c *Cluster) Stats() Stats {
	return Stats{
		Published:  c.published.Load(),
		Received:   c.received.Load(),
		Malformed:  c.malformed.Load(),
		Dropped:    c.dropped.Load(),
		Reconnects: c.reconnects.Load(),
		Up:         c.up.Load(),
		QueueFull:  c.queueFull.Load(),
		QueueBytes: uint64(c.out.queued()),
		Batches:    c.batches.Load(),
	}
}

// Close leaves the bus: the subscription connection closes and the
// adapters stop publishing (they keep serving this node's sockets until
// their namespaces close them). The Redis client stays open.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.up.Store(false)
	c.cancel()
	// Closing the connection wakes the reader (reads wait on deadlines, not
	// on the context); it closes whichever connection is current as it ends.
	err := c.ps.Load().Close()
	<-c.done
	return err
}

// randomID returns n characters from [A-Za-z0-9], as uid2 does.
func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// channels of one namespace (classic wire).
type channels struct {
	broadcast string // <prefix>#<nsp># (+ <room># for one room)
	pattern   string // <prefix>#<nsp>#*
	request   string // <prefix>-request#<nsp>#
	response  string // <prefix>-response#<nsp>#
	mine      string // <prefix>-response#<nsp>#<uid>#
	socketd   string // <prefix>-socketd#<nsp>#: socketd nodes only, counted by NUMSUB
}

func (c *Cluster) channelsOf(nsp string) channels {
	p := c.cfg.Prefix
	ch := channels{
		broadcast: p + "#" + nsp + "#",
		request:   p + "-request#" + nsp + "#",
		response:  p + "-response#" + nsp + "#",
		socketd:   p + "-socketd#" + nsp + "#",
	}
	ch.pattern = escapeGlob(ch.broadcast) + "*"
	ch.mine = ch.response + c.uid + "#"
	if c.cfg.Sharded {
		// The sharded adapter's per-node channel: <prefix>#<nsp>#<uid>#.
		ch.mine = ch.broadcast + c.uid + "#"
	}
	return ch
}

// escapeGlob escapes the characters PSUBSCRIBE patterns give a meaning to,
// so a namespace named "/a*" subscribes to its own channels only (the Node
// adapter does not escape them).
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// subscriptions lists what the node subscribes to, as Redis commands want
// them: patterns, channels, and the channel whose confirmation comes last.
func (c *Cluster) subscriptions(ch channels) (patterns, chans []string) {
	if c.cfg.Sharded {
		return nil, []string{ch.broadcast, ch.mine, ch.socketd}
	}
	return []string{ch.pattern}, []string{ch.request, ch.response, ch.mine, ch.socketd}
}

func (c *Cluster) setRoutes(fn func(map[string]route)) {
	// Callers hold c.mu, so replacements do not race.
	next := maps.Clone(*c.routes.Load())
	fn(next)
	c.routes.Store(&next)
}

// subscribe asks the subscriber goroutine to send the subscriptions of ch
// and returns at once: it may run under the caller's locks (socketio makes
// adapters under its server lock), so it does no I/O. done is closed when
// Redis has confirmed the last subscription; while the bus is down that
// happens when it comes back.
func (c *Cluster) subscribe(ch channels, done chan struct{}) {
	_, chans := c.subscriptions(ch)
	last := chans[len(chans)-1]
	c.mu.Lock()
	c.waiters[last] = append(c.waiters[last], done)
	c.mu.Unlock()
	c.kick()
}

func (c *Cluster) kick() {
	select {
	case c.subKick <- struct{}{}:
	default:
	}
}

// roomsChanged records rooms of a that were created or emptied, for the
// subscriber goroutine to (un)subscribe their channels (sharded wire,
// dynamic modes).
func (c *Cluster) roomsChanged(a *Adapter, rooms []adapter.Room) {
	c.mu.Lock()
	c.dirty[a] = append(c.dirty[a], rooms...)
	c.dirtyGen++
	c.mu.Unlock()
	c.kick()
}

// syncRooms waits until every room change made so far has its channel
// subscribed (or dropped) and confirmed, or ctx ends.
func (c *Cluster) syncRooms(ctx context.Context) error {
	c.mu.Lock()
	gen := c.dirtyGen
	c.mu.Unlock()
	for {
		c.mu.Lock()
		done, ch := c.doneGen, c.genCh
		c.mu.Unlock()
		if done >= gen {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// roomsDone records that the changes up to gen are applied.
func (c *Cluster) roomsDone(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen > c.doneGen {
		c.doneGen = gen
		close(c.genCh)
		c.genCh = make(chan struct{})
	}
}

// updateRooms brings c.dyn in line with the rooms that exist now and
// returns the channels to subscribe and to drop.
func (c *Cluster) updateRooms(dirty map[*Adapter][]adapter.Room) (add, drop []string) {
	if len(dirty) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	live := func(a *Adapter) bool { return c.nsps[a.nsp] == a }
	alive := make(map[*Adapter]bool, len(dirty))
	for a := range dirty {
		alive[a] = live(a)
	}
	c.mu.Unlock()
	c.dynMu.Lock()
	defer c.dynMu.Unlock()
	for a, rooms := range dirty {
		for _, r := range rooms {
			ch := a.ch.broadcast + string(r) + "#"
			want := alive[a] && a.HasRoom(r)
			switch have := c.dyn[ch] == a; {
			case want && !have:
				c.dyn[ch] = a
				add = append(add, ch)
			case !want && have:
				delete(c.dyn, ch)
				drop = append(drop, ch)
			}
		}
	}
	return add, drop
}

// subscribeRooms subscribes per-room channels and waits (bounded) for
// Redis's confirmation of the last one.
func (c *Cluster) subscribeRooms(chans []string) {
	last := chans[len(chans)-1]
	done := make(chan struct{})
	c.mu.Lock()
	c.waiters[last] = append(c.waiters[last], done)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	if err := c.ps.Load().SSubscribe(ctx, chans...); err != nil {
		c.log.Debug("redis adapter: subscribe failed; retried on reconnect", "err", err)
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// dropRooms forgets the per-room channels of a closed namespace.
func (c *Cluster) dropRooms(a *Adapter) (drop []string) {
	c.dynMu.Lock()
	defer c.dynMu.Unlock()
	for ch, owner := range c.dyn {
		if owner == a {
			delete(c.dyn, ch)
			drop = append(drop, ch)
		}
	}
	return drop
}

// subscriber sends subscription changes, off the callers' goroutines.
func (c *Cluster) subscriber() {
	for {
		select {
		case <-c.subKick:
		case <-c.ctx.Done():
			return
		}
		c.mu.Lock()
		gone := c.unsub
		c.unsub = nil
		var dirty map[*Adapter][]adapter.Room
		if len(c.dirty) > 0 {
			dirty = c.dirty
			c.dirty = make(map[*Adapter][]adapter.Room)
		}
		gen := c.dirtyGen
		c.mu.Unlock()
		add, drop := c.updateRooms(dirty)
		if !c.up.Load() {
			c.roomsDone(gen) // nothing to wait for: the reader subscribes on reconnect
			continue
		}
		for _, ch := range gone {
			c.unsubscribe(ch)
		}
		if len(drop) > 0 {
			_ = c.ps.Load().SUnsubscribe(c.ctx, drop...)
		}
		if len(add) > 0 {
			c.subscribeRooms(add)
		}
		c.roomsDone(gen)
		if dirty != nil {
			continue // only rooms changed
		}
		if _, err := c.resubscribeAll(); err != nil {
			c.log.Debug("redis adapter: subscribe failed; retried on reconnect", "err", err)
		}
	}
}

func (c *Cluster) sendSubscribe(ctx context.Context, patterns, chans []string) error {
	if len(patterns) > 0 {
		if err := c.ps.Load().PSubscribe(ctx, patterns...); err != nil {
			return err
		}
	}
	if c.cfg.Sharded {
		return c.ps.Load().SSubscribe(ctx, chans...)
	}
	return c.ps.Load().Subscribe(ctx, chans...)
}

func (c *Cluster) unsubscribe(ch channels) {
	patterns, chans := c.subscriptions(ch)
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	if len(patterns) > 0 {
		_ = c.ps.Load().PUnsubscribe(ctx, patterns...)
	}
	if c.cfg.Sharded {
		_ = c.ps.Load().SUnsubscribe(ctx, chans...)
	} else {
		_ = c.ps.Load().Unsubscribe(ctx, chans...)
	}
}

func (c *Cluster) newPubSub() *redis.PubSub {
	if c.cfg.Sharded {
		return c.client.SSubscribe(c.ctx)
	}
	return c.client.Subscribe(c.ctx)
}

// read is the ordered path: the only reader of the subscription connection.
// It applies every message before reading the next.
func (c *Cluster) read() {
	defer func() { _ = c.ps.Load().Close() }()
	backoff := 100 * time.Millisecond
	everUp := false
	for c.ctx.Err() == nil {
		ps := c.ps.Load()
		// Ping (re)connects; then every namespace's subscriptions are sent
		// again (Redis ignores a subscription the connection already has).
		if err := ps.Ping(c.ctx); err != nil {
			c.busDown(err)
			if !c.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, c.cfg.MaxBackoff)
			continue
		}
		// Up before the snapshot of namespaces: one created meanwhile
		// either is in it or sees the bus up and subscribes itself.
		c.up.Store(true)
		last, err := c.resubscribeAll()
		if err != nil {
			c.busDown(err)
			continue
		}
		backoff = 100 * time.Millisecond
		if everUp {
			c.reconnects.Add(1)
		}
		everUp = true
		c.log.Info("redis adapter: on the bus")
		if last == "" {
			c.signalUp()
		} else {
			c.mu.Lock()
			c.waiters[last] = append(c.waiters[last], c.upCh)
			c.mu.Unlock()
		}
		c.receive(ps)
	}
}

// receive applies messages until the connection fails. A connection quiet
// for a HealthCheckInterval is pinged; quiet for another one (Redis frozen,
// or the network dropping packets without a reset), it is replaced.
func (c *Cluster) receive(ps *redis.PubSub) {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(c.ctx, c.cfg.HealthCheckInterval)
		if err == nil {
			pinged = false
			if _, ok := msg.(*redis.Pong); ok {
				c.pong()
			}
			c.handle(msg)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && c.ctx.Err() == nil {
			if !pinged && ps.Ping(c.ctx) == nil {
				pinged = true
				continue
			}
			err = fmt.Errorf("no answer to PING within %v", c.cfg.HealthCheckInterval)
			c.replacePubSub(ps, err)
		}
		c.busDown(err)
		return
	}
}

// signalUp wakes WaitUp: the bus is up and every namespace subscribed.
func (c *Cluster) signalUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.upCh:
	default:
		close(c.upCh)
	}
}

func (c *Cluster) sleep(d time.Duration) bool {
	t := time.NewTimer(d/2 + time.Duration(randUint64()%uint64(d/2+1)))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// resubscribeAll sends every namespace's subscriptions and returns the
// channel whose confirmation comes last ("" when there are none).
func (c *Cluster) resubscribeAll() (last string, err error) {
	c.mu.Lock()
	nsps := slices.Collect(maps.Values(c.nsps))
	c.mu.Unlock()
	var patterns, chans []string
	for _, ns := range nsps {
		p, ch := c.subscriptions(ns.ch)
		patterns = append(patterns, p...)
		chans = append(chans, ch...)
	}
	if len(chans) == 0 {
		return "", nil
	}
	last = chans[len(chans)-1]
	c.dynMu.RLock()
	for ch := range c.dyn {
		chans = append(chans, ch)
	}
	c.dynMu.RUnlock()
	// The namespaces' channels come first: the confirmation of the last of
	// them is what WaitUp waits for.
	return last, c.sendSubscribe(c.ctx, patterns, chans)
}

// busDown records the loss of the subscription connection: publishing
// stops (operations act on this node only) and ordered operations whose
// echo can no longer arrive are applied here at once.
func (c *Cluster) busDown(err error) {
	if c.ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	select {
	case <-c.upCh:
		c.upCh = make(chan struct{})
	default:
	}
	c.mu.Unlock()
	if c.up.Swap(false) {
		c.log.Warn("redis adapter: off the bus; serving this node's sockets only", "err", err)
	}
	c.ord.flush()
	c.failPending(fmt.Errorf("%w: %w", ErrBusDown, err))
}

func (c *Cluster) handle(msg any) {
	switch m := msg.(type) {
	case *redis.Message:
		c.received.Add(1)
		key := m.Channel
		if m.Pattern != "" {
			key = m.Pattern
		}
		r, ok := (*c.routes.Load())[key]
		if !ok {
			c.dynMu.RLock()
			a := c.dyn[key]
			c.dynMu.RUnlock()
			if a == nil {
				return // a namespace or a room closed since
			}
			r = route{a, routeBroadcast}
		}
		payload := []byte(m.Payload)
		switch r.kind {
		case routeBroadcast:
			if c.cfg.Sharded {
				c.onShardedMessage(r.ns, m.Channel, payload)
			} else {
				r.ns.onBroadcast(m.Channel, payload)
			}
		case routeRequest:
			r.ns.onRequest(payload)
		case routeResponse:
			if c.cfg.Sharded {
				c.onShardedMessage(r.ns, m.Channel, payload)
			} else {
				c.onResponse(payload)
			}
		}
	case *redis.Subscription:
		c.mu.Lock()
		ws := c.waiters[m.Channel]
		delete(c.waiters, m.Channel)
		c.mu.Unlock()
		for _, w := range ws {
			select {
			case <-w:
			default:
				close(w)
			}
		}
	}
}

func (c *Cluster) bad(what string, err error) {
	c.malformed.Add(1)
	c.log.Debug("redis adapter: ignoring malformed message", "what", what, "err", err)
}

// numSub counts the subscribers of a channel across the deployment
// (summed over the masters of a Redis Cluster, as the Node adapter does).
func (c *Cluster) numSub(ctx context.Context, channel string) (int, error) {
	if !c.up.Load() {
		return 1, ErrBusDown
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	count := func(ctx context.Context, cl redis.UniversalClient) (int64, error) {
		if c.cfg.Sharded {
			m, err := cl.PubSubShardNumSub(ctx, channel).Result()
			return m[channel], err
		}
		m, err := cl.PubSubNumSub(ctx, channel).Result()
		return m[channel], err
	}
	if cc, ok := c.client.(*redis.ClusterClient); ok && !c.cfg.Sharded {
		var total atomic.Int64
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			n, err := count(ctx, m)
			total.Add(n)
			return err
		})
		return int(total.Load()), err
	}
	n, err := count(ctx, c.client)
	return int(n), err
}
