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
	DefaultPrefix  = "socketd:drupal"
	DefaultNodeTTL = 15 * time.Second
)

// slowSweepInterval is how often expired cache entries and content tokens
// are dropped (as store.Memory does).
const slowSweepInterval = time.Minute

// ErrUnavailable is returned while Redis cannot be reached: the store does not
// wait for it on every call, it probes it on its heartbeat.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// Config configures a Store. The zero value of every field but Client works.
type Config struct {
	// Client reaches Redis; required. The store does not close it. Give it
	// short dial and read timeouts: a call made while Redis is lost waits
	// for them before the store notices.
	Client redis.UniversalClient
	// Prefix names the store's keys, all in one hash slot ("{prefix}:...").
	// Nodes of one site share it; sites sharing a Redis need their own.
	// Default DefaultPrefix.
	Prefix string
	// NodeID names this node; default a random one. Two live nodes must not
	// share one.
	NodeID string
	// NodeTTL is how long this node counts as alive after its last
	// heartbeat; it heartbeats every NodeTTL/3. When a node stops (killed,
	// cut off), another takes its users offline within NodeTTL + NodeTTL/3
	// after its last heartbeat. Default DefaultNodeTTL.
	NodeTTL time.Duration
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
// sweep finds that tells Drupal, once. Nodes renew a lease (NodeTTL); a node
// whose lease ended is dropped by the next node that sweeps, and its users go
// offline.
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
	ttl     time.Duration
	grace   time.Duration
	clock   store.Clock
	redisTS bool // deadlines on Redis's clock
	log     *slog.Logger

	down atomic.Bool // the last call to Redis failed; only the heartbeat tries

	// announce orders presence calls against an announcement after an
	// outage: they hold it shared, an announcement exclusively.
	announce sync.RWMutex

	mu      sync.Mutex
	h       store.Handler
	closed  bool
	killed  bool // tests: stopped without leaving
	timers  [3]store.Stopper
	users   map[int64]*localUser
	tokens  map[string]int32
	sockets int32
	dirty   bool   // counts changed while Redis did not hear of them
	epoch   string // Redis's epoch when this node last announced itself
	sweepAt time.Time
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
	timerHeartbeat = iota
	timerSweep     // a grace period ends
	timerSlow      // expired cache entries and tokens
)

var _ store.Store = (*Store)(nil)

// New returns a store on cfg.Client. It starts with Start.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisstore: Config.Client is nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q: braces are added by the store", cfg.Prefix)
	}
	if cfg.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.NodeID = hex.EncodeToString(b[:])
	}
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = DefaultNodeTTL
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
		ttl:     cfg.NodeTTL,
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
// keeps trying on its heartbeat) and starts its timers.
func (s *Store) Start(h store.Handler) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.h = h
	s.dirty = true // announce on the first heartbeat
	s.timers[timerSlow] = s.clock.AfterFunc(slowSweepInterval, s.slowTick)
	s.mu.Unlock()
	s.heartbeatTick()
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
	ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
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
// failure other than a missing value marks it away until the heartbeat gets
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

// heartbeatTick renews the lease, announces this node again when Redis
// forgot it or missed its changes, drops dead nodes and sweeps, then re-arms.
func (s *Store) heartbeatTick() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
	s.heartbeat(ctx)
	cancel()
	s.mu.Lock()
	if !s.closed {
		s.timers[timerHeartbeat] = s.clock.AfterFunc(s.ttl/3, s.heartbeatTick)
	}
	s.mu.Unlock()
}

func (s *Store) heartbeat(ctx context.Context) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	res, err := heartbeatScript.Run(ctx, s.rdb, s.keys, s.node, s.nowArg(), s.ttl.Milliseconds(), hex.EncodeToString(b[:])).Slice()
	if err != nil {
		if !s.down.Swap(true) {
			s.log.Warn("redisstore: Redis unavailable; serving from this node until it answers", slog.String("error", err.Error()))
		}
		return
	}
	added, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	s.mu.Lock()
	lost := s.epoch != "" && epoch != s.epoch
	announce := s.dirty || added == 1 || lost
	s.mu.Unlock()
	if announce {
		if err := s.announceAll(ctx, epoch, lost); err != nil {
			s.log.Warn("redisstore: announcing this node failed; trying again on the next heartbeat", slog.String("error", err.Error()))
			return
		}
	}
	if s.down.Swap(false) {
		s.log.Info("redisstore: Redis answers again")
	}
	if err := reapScript.Run(ctx, s.rdb, s.keys, s.node, s.nowArg()).Err(); err != nil {
		s.log.Warn("redisstore: dropping dead nodes failed", slog.String("error", err.Error()))
	}
	s.sweep(ctx)
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
		ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
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
		ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
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
