package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/store"
)

// Defaults of Config.
const (
	DefaultPrefix   = "socketd:drupal"
	DefaultInterval = 5 * time.Second
)

// slowSweepInterval is how often expired cache entries and content tokens
// are dropped (as store.Memory does).
const slowSweepInterval = time.Minute

// ErrUnavailable is returned while Redis cannot be reached: the store does not
// wait for it on every call, it probes it on its tick.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// Nodes is the cluster's table of live nodes: the one notion of which nodes
// are alive, which the store follows rather than keeping leases of its own.
// server/cluster's *Node satisfies it (its copy of the table, refreshed on its
// heartbeat). The store reads it without a round trip, on its ticks.
type Nodes interface {
	// Alive reports whether the table lists the node with this id.
	Alive(id string) bool
}

// Config configures a Store. The zero value of every field but Client, Nodes
// and NodeID works.
type Config struct {
	// Client reaches Redis; required. The store does not close it. Give it
	// short dial and read timeouts: a call made while Redis is lost waits
	// for them before the store notices.
	Client redis.UniversalClient
	// Prefix names the store's keys, all in one hash slot ("{prefix}:...").
	// Nodes of one site share it; sites sharing a Redis need their own.
	// Default DefaultPrefix.
	Prefix string
	// Nodes is the table of live nodes; required. A node whose counts are in
	// the store and that the table no longer lists is dead: the first node
	// to notice (its tick, or NodesLeft) drops its counts, and its users with
	// no socket elsewhere go offline at once. So a killed node's users go
	// offline when the table drops it: with server/cluster, within TTL +
	// Interval of its last renewal (15 s + 5 s by default).
	Nodes Nodes
	// NodeID names this node: the id under which Nodes lists it; required.
	NodeID string
	// Interval is the store's tick: it registers this node's counts again
	// when the others dropped them or Redis lost them, announces what
	// changed while Redis was away, and drops the nodes the table no longer
	// lists. A node that registered less than 3 Intervals ago is never taken
	// for dead (the others' copies of the table may not list it yet): keep
	// Interval at or above the table's heartbeat. Default DefaultInterval.
	Interval time.Duration
	// OfflineGrace is how long a user with no socket on any node stays
	// online. Default store.DefaultOfflineGrace.
	OfflineGrace time.Duration
	// Clock drives the timers. Nil means the real clock, with every deadline
	// taken on Redis's clock (the nodes' clocks need not agree); tests give a
	// hand-driven one, which then also gives the time of the deadlines.
	Clock store.Clock
	// Logger receives the store's log; nil discards it.
	Logger *slog.Logger
}

// Store is the store.Store of a cluster: Drupal's data in Redis, shared by
// every node of a site, each decision taken atomically by a Lua script.
//
// Presence is counted per node: each node keeps the count of its sockets per
// user and auth token in Redis, and a copy in memory. A user is offline when
// no live node counts a socket of it for the grace period; the node whose
// sweep finds that tells Drupal, once. Which nodes are alive is the cluster
// table's (Config.Nodes): a node it no longer lists is dropped by the first
// node that notices, and its users go offline.
//
// When Redis cannot be reached, calls fail at once with ErrUnavailable (the
// bridge then serves with local reach) while the node keeps counting its
// sockets in memory. When Redis answers again the node announces its counts
// again: users who came online meanwhile are announced once (Handler.UserOnline),
// users who left go offline once. If Redis lost its data (a restart without
// persistence), the users this node had reported online are restored without
// telling Drupal again. The auth cache, the channel registry and content tokens
// are not restored: the cache fills again from Drupal, channels come back with
// the sockets that join them, content tokens are issued again with new pages.
type Store struct {
	rdb     redis.UniversalClient
	keys    []string // KEYS of every script: the prefix
	prefix  string   // "{prefix}"
	node    string
	nodes   Nodes
	tick    time.Duration // Config.Interval
	settle  time.Duration // 3 ticks: how long a new registration is safe from reaping
	grace   time.Duration
	clock   store.Clock
	redisTS bool // deadlines on Redis's clock
	log     *slog.Logger

	down atomic.Bool // the last call to Redis failed; only the tick tries

	// announce orders presence calls against an announcement after an
	// outage: they hold it shared, an announcement exclusively.
	announce sync.RWMutex

	mu      sync.Mutex
	h       store.Handler
	closed  bool
	reaping bool // a NodesLeft reap runs
	again   bool // NodesLeft was called while it ran
	killed  bool // tests: stopped without leaving
	timers  [3]store.Stopper
	users   map[int64]*localUser
	tokens  map[string]int32
	sockets int32
	dirty   bool // counts changed while Redis did not hear of them
	// judgeAfter: no node is taken for dead before it (settle after Redis
	// came back).
	judgeAfter time.Time
	pending    forgets // kicks and logouts Redis did not hear
	epoch      string  // Redis's epoch when this node last announced itself
	sweepAt    time.Time
}

// localUser is this node's count of a user's sockets, with what it needs to
// announce the user again after an outage.
type localUser struct {
	sockets int32
	// known: the cluster had the user online while this node had a socket
	// of it (so Drupal was told).
	known bool
	list  []int64
}

// Timers of a Store.
const (
	timerTick  = iota
	timerSweep // a grace period ends
	timerSlow  // expired cache entries and tokens
)

var _ store.Store = (*Store)(nil)

// New returns a store on cfg.Client. It starts with Start.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisstore: Config.Client is nil")
	}
	if cfg.Nodes == nil || cfg.NodeID == "" {
		return nil, errors.New("redisstore: Config.Nodes and Config.NodeID are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q: braces are added by the store", cfg.Prefix)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.OfflineGrace <= 0 {
		cfg.OfflineGrace = store.DefaultOfflineGrace
	}
	redisTS := cfg.Clock == nil
	if redisTS {
		cfg.Clock = store.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	prefix := "{" + cfg.Prefix + "}"
	return &Store{
		rdb:     cfg.Client,
		keys:    []string{prefix},
		prefix:  prefix,
		node:    cfg.NodeID,
		nodes:   cfg.Nodes,
		tick:    cfg.Interval,
		settle:  3 * cfg.Interval,
		grace:   cfg.OfflineGrace,
		clock:   cfg.Clock,
		redisTS: redisTS,
		log:     cfg.Logger,
		users:   make(map[int64]*localUser),
		tokens:  make(map[string]int32),
	}, nil
}

// NodeID is this node's name in Redis.
func (s *Store) NodeID() string { return s.node }

// Start implements store.Store: the node registers (or, with Redis away,
// keeps trying on its tick) and starts its timers.
func (s *Store) Start(h store.Handler) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.h = h
	s.dirty = true // announce on the first tick
	s.timers[timerSlow] = s.clock.AfterFunc(slowSweepInterval, s.slowTick)
	s.mu.Unlock()
	s.tickNow()
	return nil
}

// Close implements store.Store: the node leaves, and its users with no socket
// elsewhere go offline after the grace period (a rolling restart does not
// flap presence when pages reconnect to another node meanwhile).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stopTimersLocked()
	s.mu.Unlock()
	if s.down.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.tick)
	defer cancel()
	err := leaveScript.Run(ctx, s.rdb, s.keys, s.node, s.nowArg(), s.grace.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: leaving: %w", err)
	}
	return nil
}

func (s *Store) stopTimersLocked() {
	for i, t := range s.timers {
		if t != nil {
			t.Stop()
			s.timers[i] = nil
		}
	}
}

// nowArg is the "now" argument of the scripts: the clock's, or -1 for Redis's.
func (s *Store) nowArg() int64 {
	if s.redisTS {
		return -1
	}
	return s.clock.Now().UnixMilli()
}

// call runs a script, failing fast while Redis is known to be away. A
// failure other than a missing value marks it away until the tick gets
// through.
func (s *Store) call(ctx context.Context, sc *redis.Script, args ...any) *redis.Cmd {
	if s.down.Load() {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ErrUnavailable)
		return cmd
	}
	cmd := sc.Run(ctx, s.rdb, s.keys, args...)
	s.check(ctx, cmd.Err())
	return cmd
}

// check marks Redis away after a failed call (not one the caller gave up).
func (s *Store) check(ctx context.Context, err error) {
	if err == nil || errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return
	}
	if !s.down.Swap(true) {
		s.log.Warn("redisstore: Redis unavailable; serving from this node until it answers", slog.String("error", err.Error()))
	}
}

// ready reports ErrUnavailable while Redis is known to be away.
func (s *Store) ready() error {
	if s.down.Load() {
		return ErrUnavailable
	}
	return nil
}

func (s *Store) key(parts ...string) string {
	return s.prefix + ":" + strings.Join(parts, ":")
}

// tickNow registers this node (again, when the others dropped it or Redis
// lost its data), announces what Redis missed, drops the nodes the table no
// longer lists and sweeps, then re-arms.
func (s *Store) tickNow() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.tick)
	s.runTick(ctx)
	cancel()
	s.mu.Lock()
	if !s.closed {
		s.timers[timerTick] = s.clock.AfterFunc(s.tick, s.tickNow)
	}
	s.mu.Unlock()
}

func (s *Store) runTick(ctx context.Context) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	res, err := registerScript.Run(ctx, s.rdb, s.keys, s.node, s.nowArg(), hex.EncodeToString(b[:])).Slice()
	if err != nil {
		if !s.down.Swap(true) {
			s.log.Warn("redisstore: Redis unavailable; serving from this node until it answers", slog.String("error", err.Error()))
		}
		return
	}
	added, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	// Kicks and logouts made while Redis was away drop their cached
	// authentications before anything is served from the cache again.
	if err := s.replayForgets(ctx); err != nil {
		s.log.Warn("redisstore: dropping the cached authentications of kicks and logouts failed; trying again on the next tick", slog.String("error", err.Error()))
		return
	}
	s.mu.Lock()
	lost := s.epoch != "" && epoch != s.epoch
	announce := s.dirty || added == 1 || lost
	s.mu.Unlock()
	if announce {
		if err := s.announceAll(ctx, epoch, lost); err != nil {
			s.log.Warn("redisstore: announcing this node failed; trying again on the next tick", slog.String("error", err.Error()))
			return
		}
	}
	if s.down.Swap(false) {
		s.log.Info("redisstore: Redis answers again")
		// The others' leases in the table may have lapsed while Redis was
		// away; they renew within a heartbeat of its return, and are not
		// dead for lacking it meanwhile.
		s.mu.Lock()
		s.judgeAfter = s.clock.Now().Add(s.settle)
		s.mu.Unlock()
	}
	s.reap(ctx)
	s.sweep(ctx)
}

// NodesLeft tells the store that the table of live nodes dropped some: it
// drops their counts and takes their users offline now, on a goroutine of
// its own, rather than at its next tick. It returns at once (server/cluster's
// OnChange may call it). Calls while one runs make it run once more.
func (s *Store) NodesLeft() {
	s.mu.Lock()
	if s.closed || s.h == nil {
		s.mu.Unlock()
		return
	}
	if s.reaping {
		s.again = true
		s.mu.Unlock()
		return
	}
	s.reaping = true
	s.mu.Unlock()
	go func() {
		for {
			s.reapNow()
			s.mu.Lock()
			if !s.again || s.closed {
				s.reaping, s.again = false, false
				s.mu.Unlock()
				return
			}
			s.again = false
			s.mu.Unlock()
		}
	}()
}

// reapNow is NodesLeft's work: reap, then sweep the users it left with no
// socket.
func (s *Store) reapNow() {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || s.down.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.tick)
	defer cancel()
	s.reap(ctx)
	s.sweep(ctx)
}

// reap drops the counts of the nodes registered in the store that the table
// of live nodes no longer lists. A node that is not in its own copy of the
// table judges nobody: its copy is not current (it has not announced itself
// yet, or its registry is away), and it would take live nodes for dead. A
// node that registered less than settle ago is spared: the copy may predate
// it. And for settle after Redis answers again after an outage, nobody is
// judged: the table lists a node again only once its heartbeat renews its
// lease.
func (s *Store) reap(ctx context.Context) {
	s.mu.Lock()
	wait := s.clock.Now().Before(s.judgeAfter)
	s.mu.Unlock()
	if wait || !s.nodes.Alive(s.node) {
		return
	}
	ids, err := s.rdb.ZRange(ctx, s.key("nodes"), 0, -1).Result()
	if err != nil {
		s.check(ctx, err)
		return
	}
	args := []any{s.nowArg(), s.settle.Milliseconds()}
	for _, id := range ids {
		if id != s.node && !s.nodes.Alive(id) {
			args = append(args, id)
		}
	}
	if len(args) == 2 {
		return
	}
	n, err := reapScript.Run(ctx, s.rdb, s.keys, args...).Int()
	if err != nil {
		s.check(ctx, err)
		s.log.Warn("redisstore: dropping dead nodes failed", slog.String("error", err.Error()))
		return
	}
	if n > 0 {
		s.log.Info("redisstore: dropped the counts of nodes the cluster table no longer lists", slog.Int("nodes", n))
	}
}

// sweep takes the users whose grace period ended offline, telling the
// handler, and arms the timer for the next deadline.
func (s *Store) sweep(ctx context.Context) {
	res, err := sweepScript.Run(ctx, s.rdb, s.keys, s.nowArg()).Slice()
	if err != nil {
		s.check(ctx, err)
		return
	}
	type offline struct {
		uid  int64
		list []int64
	}
	var gone []offline
	for i := 1; i+1 < len(res); i += 2 {
		us, _ := res[i].(string)
		ls, _ := res[i+1].(string)
		uid, err := decodeUID(us)
		if err != nil {
			s.log.Warn("redisstore: skipping a malformed user in the grace set", slog.String("error", err.Error()))
			continue
		}
		list, err := decodeList(ls)
		if err != nil {
			s.log.Warn("redisstore: malformed presence list", slog.Int64("uid", uid), slog.String("error", err.Error()))
		}
		gone = append(gone, offline{uid, list})
	}
	if wait, _ := res[0].(int64); wait >= 0 {
		s.armSweep(time.Duration(wait) * time.Millisecond)
	}
	s.mu.Lock()
	h, closed := s.h, s.closed
	s.mu.Unlock()
	if closed || h == nil {
		return
	}
	for _, o := range gone {
		h.UserOffline(o.uid, o.list)
	}
}

// armSweep makes the sweep run in d unless it is to run sooner.
func (s *Store) armSweep(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	at := s.clock.Now().Add(d)
	if s.timers[timerSweep] != nil && !s.sweepAt.After(at) {
		return
	}
	if s.timers[timerSweep] != nil {
		s.timers[timerSweep].Stop()
	}
	s.sweepAt = at
	s.timers[timerSweep] = s.clock.AfterFunc(d, func() {
		s.mu.Lock()
		s.timers[timerSweep] = nil
		closed := s.closed
		s.mu.Unlock()
		if closed || s.down.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.tick)
		defer cancel()
		s.sweep(ctx)
	})
}

// slowTick drops expired cache entries and content tokens, then re-arms.
func (s *Store) slowTick() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if !s.down.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.tick)
		s.check(ctx, sweepSlowScript.Run(ctx, s.rdb, s.keys, s.nowArg()).Err())
		cancel()
	}
	s.mu.Lock()
	if !s.closed {
		s.timers[timerSlow] = s.clock.AfterFunc(slowSweepInterval, s.slowTick)
	}
	s.mu.Unlock()
}

// Stats implements store.Store: counts for the whole cluster.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	v, err := s.call(ctx, statsScript, s.nowArg()).Int64Slice()
	if err != nil {
		return store.Stats{}, err
	}
	if len(v) != 4 {
		return store.Stats{}, fmt.Errorf("%w: stats", errBadValue)
	}
	return store.Stats{AuthenticatedClients: int(v[0]), Sockets: int(v[1]), OnlineUsers: int(v[2]), TokenChannels: int(v[3])}, nil
}
