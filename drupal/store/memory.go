package store

import (
	"context"
	"slices"
	"sync"
	"time"
)

// sweepInterval is how often Memory drops expired cache entries and unused
// content tokens.
const sweepInterval = time.Minute

// MemoryConfig configures a Memory store. The zero value works.
type MemoryConfig struct {
	// OfflineGrace is how long a user with no socket stays online. Zero
	// means DefaultOfflineGrace.
	OfflineGrace time.Duration
	// Clock drives expiries and the grace timers. Nil means RealClock.
	Clock Clock
}

// Memory is the Store of a single node: Drupal's data in this process, as
// drupal-node.js kept it in its Node process. Its records are laid out for
// many idle sockets: one per auth token and one per online user, no map or
// list per socket.
type Memory struct {
	grace time.Duration
	clock Clock
	epoch time.Time // New's time; expiries count from it

	mu       sync.Mutex
	h        Handler
	closed   bool
	sweeper  Stopper
	tokens   map[string]*tokenRecord
	cached   int   // tokens with a cached authentication
	sockets  int   // authenticated sockets
	anon     int32 // authenticated sockets of uid 0
	users    map[int64]*presence
	channels map[string]bool // name -> client writable
	contents map[string]*contentChannel
}

// tokenRecord is an auth token's: its cached authentication and how many
// sockets it authenticated. The record outlives the cache entry (expiry,
// logout) while sockets use the token.
type tokenRecord struct {
	auth *Auth // nil when not cached
	// expires is a time since Memory.epoch: 8 bytes where a time.Time takes 24.
	expires time.Duration
	sockets int32
}

// presence is an online user (uid != 0): with a socket, or within the grace
// period after its last one left.
type presence struct {
	// list holds the users told when this one comes online or goes offline.
	// It is never modified in place (it is the auth reply's, shared).
	list    []int64
	sockets int32
	// gen tells a grace timer that fired late from the current one.
	gen   uint32
	timer Stopper
}

type contentChannel struct {
	tokens  map[string]*contentToken // unused one-time tokens
	members map[string]*contentMember
	// left: user (contentUser) -> socket id of its latest notifying
	// leave whose grace period has not ended; made on the first.
	left map[string]string
}

type contentToken struct {
	t       ContentToken
	expires time.Duration // since epoch
}

type contentMember struct {
	m   Member
	tok *ContentToken // the token it redeemed
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.OfflineGrace == 0 {
		cfg.OfflineGrace = DefaultOfflineGrace
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	return &Memory{
		grace:    cfg.OfflineGrace,
		clock:    cfg.Clock,
		epoch:    cfg.Clock.Now(),
		tokens:   make(map[string]*tokenRecord),
		users:    make(map[int64]*presence),
		channels: make(map[string]bool),
		contents: make(map[string]*contentChannel),
	}
}

// Start implements Store.
func (m *Memory) Start(h Handler) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.h = h
	m.sweeper = m.clock.AfterFunc(sweepInterval, m.sweepTick)
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.sweeper != nil {
		m.sweeper.Stop()
	}
	for _, p := range m.users {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	return nil
}

func (m *Memory) since() time.Duration { return m.clock.Now().Sub(m.epoch) }

// CachedAuth implements AuthCache.
func (m *Memory) CachedAuth(_ context.Context, token string) (*Auth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.tokens[token]
	if r == nil || r.auth == nil {
		return nil, nil
	}
	if m.since() >= r.expires {
		m.uncacheLocked(token, r)
		return nil, nil
	}
	return r.auth, nil
}

// uncacheLocked drops r's cached authentication, and r with it when no socket
// uses the token.
func (m *Memory) uncacheLocked(token string, r *tokenRecord) {
	if r.auth != nil {
		r.auth = nil
		m.cached--
	}
	if r.sockets <= 0 {
		delete(m.tokens, token)
	}
}

// CacheAuth implements AuthCache.
func (m *Memory) CacheAuth(_ context.Context, a *Auth, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.tokens[a.Token]
	if r == nil {
		r = &tokenRecord{}
		m.tokens[a.Token] = r
	}
	if r.auth == nil {
		m.cached++
	}
	r.auth = a
	r.expires = m.since() + ttl
	return nil
}

// ForgetUser implements AuthCache.
func (m *Memory) ForgetUser(_ context.Context, uid int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tok, r := range m.tokens {
		if r.auth != nil && r.auth.UID == uid {
			m.uncacheLocked(tok, r)
		}
	}
	return nil
}

// ForgetToken implements AuthCache.
func (m *Memory) ForgetToken(_ context.Context, token string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.tokens[token]
	if r == nil || r.auth == nil {
		return false, nil
	}
	m.uncacheLocked(token, r)
	return true, nil
}

// EditUserAuths implements AuthCache.
func (m *Memory) EditUserAuths(_ context.Context, uid int64, edit func(*Auth) *Auth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.tokens {
		if r.auth != nil && r.auth.UID == uid {
			if a := edit(r.auth); a != nil {
				r.auth = a
			}
		}
	}
	return nil
}

// EditTokenAuth implements AuthCache.
func (m *Memory) EditTokenAuth(_ context.Context, token string, edit func(*Auth) *Auth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.tokens[token]; r != nil && r.auth != nil {
		if a := edit(r.auth); a != nil {
			r.auth = a
		}
	}
	return nil
}

// AddChannel implements Channels.
func (m *Memory) AddChannel(_ context.Context, name string, clientWritable bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.channels[name]; ok {
		return false, nil
	}
	m.channels[name] = clientWritable
	return true, nil
}

// EnsureChannels implements Channels.
func (m *Memory) EnsureChannels(_ context.Context, names []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range names {
		if _, ok := m.channels[name]; !ok {
			m.channels[name] = false
		}
	}
	return nil
}

// Channel implements Channels.
func (m *Memory) Channel(_ context.Context, name string) (exists, clientWritable bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clientWritable, exists = m.channels[name]
	return exists, clientWritable, nil
}

// RemoveChannel implements Channels.
func (m *Memory) RemoveChannel(_ context.Context, name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.channels[name]; !ok {
		return false, nil
	}
	delete(m.channels, name)
	return true, nil
}

// Connected implements Presence.
func (m *Memory) Connected(_ context.Context, a *Auth, list []int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	m.sockets++
	r := m.tokens[a.Token]
	if r == nil {
		r = &tokenRecord{}
		m.tokens[a.Token] = r
	}
	r.sockets++
	if a.UID == 0 {
		m.anon++
		return false, nil
	}
	p := m.users[a.UID]
	if p != nil {
		p.sockets++
		if p.timer != nil { // back within the grace period: still online
			p.timer.Stop()
			p.timer = nil
			p.gen++
		}
		return false, nil
	}
	m.users[a.UID] = &presence{list: list, sockets: 1}
	return true, nil
}

// Disconnected implements Presence.
func (m *Memory) Disconnected(_ context.Context, a *Auth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sockets--
	if r := m.tokens[a.Token]; r != nil {
		if r.sockets--; r.sockets <= 0 && r.auth == nil {
			delete(m.tokens, a.Token)
		}
	}
	if a.UID == 0 {
		m.anon--
		return nil
	}
	p := m.users[a.UID]
	if p == nil {
		return nil
	}
	if p.sockets--; p.sockets > 0 || m.closed {
		return nil
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.gen++
	gen, uid := p.gen, a.UID
	p.timer = m.clock.AfterFunc(m.grace, func() { m.graceEnded(uid, p, gen) })
	return nil
}

// graceEnded runs when a user's grace period ends: with no socket back, the
// user goes offline.
func (m *Memory) graceEnded(uid int64, p *presence, gen uint32) {
	m.mu.Lock()
	if m.closed || m.users[uid] != p || p.gen != gen || p.sockets > 0 {
		m.mu.Unlock()
		return
	}
	delete(m.users, uid)
	h := m.h
	m.mu.Unlock()
	if h != nil {
		h.UserOffline(uid, p.list)
	}
}

// SetPresenceList implements Presence.
func (m *Memory) SetPresenceList(_ context.Context, uid int64, list []int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.users[uid]
	if p == nil {
		return false, nil
	}
	p.list = slices.Clone(list)
	return true, nil
}

// UserSessions implements Presence.
func (m *Memory) UserSessions(_ context.Context, uid int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uid == 0 {
		return int(m.anon), nil
	}
	if p := m.users[uid]; p != nil {
		return int(p.sockets), nil
	}
	return 0, nil
}

// TokenSessions implements Presence.
func (m *Memory) TokenSessions(_ context.Context, token string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.tokens[token]; r != nil {
		return int(r.sockets), nil
	}
	return 0, nil
}

// Stats implements Store.
func (m *Memory) Stats(context.Context) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{AuthenticatedClients: m.cached, Sockets: m.sockets, OnlineUsers: len(m.users), TokenChannels: len(m.contents)}, nil
}

// sweepTick drops expired cache entries and stale content tokens, then re-arms
// itself.
func (m *Memory) sweepTick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	now := m.since()
	for tok, r := range m.tokens {
		if r.auth != nil && now >= r.expires {
			m.uncacheLocked(tok, r)
		}
	}
	m.sweepContentLocked(now)
	m.sweeper = m.clock.AfterFunc(sweepInterval, m.sweepTick)
}
