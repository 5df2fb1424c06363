package engine

import (
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/internal/clientip"
)

// Limits bound the sessions clients may open. A handshake past one is
// refused before a session exists, with an Engine.IO error body
// ({"code":4,"message":...}, the code engine.io gives a request its
// allowRequest refuses): the client's reconnection backoff takes it from
// there. Sessions already open are never touched by these limits, and one
// address at its limit does not change what another may do. The zero value
// sets no limit.
//
// The per-address limits count clients by Config.TrustedProxies' view of
// their address, an IPv6 client by its /64 (clientip.LimitKey). They are
// per server: behind a balancer, each node counts what it receives.
type Limits struct {
	// MaxSessions caps the sessions open at once; a handshake past it gets
	// HTTP 503 "Too many connections". Zero: no cap.
	MaxSessions int
	// MaxSessionsPerIP caps the sessions one address may have open at
	// once; past it, HTTP 429 "Too many connections from this address".
	// Zero: no cap. Many users can share one address (an office, a school,
	// a carrier's NAT), so set it well above what such a place may hold.
	MaxSessionsPerIP int
	// HandshakeRatePerIP is how many handshakes per second one address may
	// make, on average; HandshakeBurstPerIP how many at once (zero means
	// ten seconds' worth, at least 1). Past it, HTTP 429 "Too many
	// handshakes from this address" with Retry-After. Zero: no limit.
	HandshakeRatePerIP  float64
	HandshakeBurstPerIP int
	// MaxTrackedIPs bounds the addresses the per-address limits remember
	// that have no session open (their handshake rate is remembered until
	// it has recovered). Past it the table forgets the oldest-looking such
	// entries early (Stats.AddressesEvicted), so a flood of new addresses
	// cannot grow it; addresses with sessions open are never forgotten and
	// are bounded by the sessions. Zero means 65536 (about 4 MB at most:
	// some 60 bytes an address).
	MaxTrackedIPs int
}

// Limit names a limit a handshake was refused at (Stats.Limited).
type Limit uint8

// Limits a handshake can be refused at.
const (
	LimitSessions Limit = iota
	LimitSessionsPerIP
	LimitHandshakeRatePerIP
	NumLimits
)

var limitNames = [NumLimits]string{"connections", "connections per address", "handshake rate per address"}

func (l Limit) String() string {
	if l < NumLimits {
		return limitNames[l]
	}
	return "Limit(" + strconv.Itoa(int(l)) + ")"
}

// The answers to a refused handshake: engine.io's code 4 (FORBIDDEN), the
// code its allowRequest refusals carry, with a message saying which limit.
var limitErrors = [NumLimits]struct {
	err    *HandshakeError
	status int
}{
	LimitSessions:           {&HandshakeError{4, "Too many connections"}, http.StatusServiceUnavailable},
	LimitSessionsPerIP:      {&HandshakeError{4, "Too many connections from this address"}, http.StatusTooManyRequests},
	LimitHandshakeRatePerIP: {&HandshakeError{4, "Too many handshakes from this address"}, http.StatusTooManyRequests},
}

func (l Limits) withDefaults() (Limits, bool) {
	if l.MaxSessions < 0 || l.MaxSessionsPerIP < 0 || l.HandshakeRatePerIP < 0 || l.HandshakeBurstPerIP < 0 || l.MaxTrackedIPs < 0 {
		return l, false
	}
	if l.HandshakeRatePerIP > 0 && l.HandshakeBurstPerIP == 0 {
		l.HandshakeBurstPerIP = max(1, int(10*l.HandshakeRatePerIP))
	}
	if l.MaxTrackedIPs == 0 {
		l.MaxTrackedIPs = 1 << 16
	}
	return l, true
}

// limiter applies Limits. Every session passes admit before it exists and
// release once when it is gone (unregister, or a WebSocket handshake that
// failed before the session was registered).
type limiter struct {
	max     int64
	total   atomic.Int64 // sessions admitted, not released
	ips     *ipTable     // nil without a per-address limit
	refused [NumLimits]atomic.Uint64
	logged  [NumLimits]logGate
}

func newLimiter(l Limits) *limiter {
	lim := &limiter{max: int64(l.MaxSessions)}
	if l.MaxSessionsPerIP > 0 || l.HandshakeRatePerIP > 0 {
		lim.ips = newIPTable(l)
	}
	return lim
}

// admit counts a new session from client; refused, it says at which limit
// and, for the rate, how long until a handshake would pass. key is the
// session's entry in the address table (0 without one).
func (l *limiter) admit(client netip.Addr) (key uint64, at Limit, retry time.Duration, ok bool) {
	if n := l.total.Add(1); l.max > 0 && n > l.max {
		l.total.Add(-1)
		return 0, LimitSessions, 0, false
	}
	if l.ips == nil || !client.IsValid() {
		return 0, 0, 0, true
	}
	key, at, retry, ok = l.ips.admit(clientip.LimitKey(client))
	if !ok {
		l.total.Add(-1)
	}
	return key, at, retry, ok
}

// release uncounts a session admitted with key.
func (l *limiter) release(key uint64) {
	l.total.Add(-1)
	if key != 0 && l.ips != nil {
		l.ips.release(key)
	}
}

// limitRefusalLogEvery spaces the warnings about refused handshakes: a flood
// logs one line a minute per limit, with the count, not one per request.
const limitRefusalLogEvery = time.Minute

// refuseHandshake answers a handshake refused at a limit.
func (srv *Server) refuseHandshake(w http.ResponseWriter, r *http.Request, client netip.Addr, at Limit, retry time.Duration) {
	l := srv.limits
	l.refused[at].Add(1)
	if n, ok := l.logged[at].note(time.Now(), limitRefusalLogEvery); ok {
		srv.log.Warn("engine.io: handshakes refused at a limit", slog.String("limit", at.String()),
			slog.String("client", client.String()), slog.Uint64("refused", n))
	}
	srv.log.Debug("engine.io handshake refused at a limit", slog.String("limit", at.String()), slog.String("client", client.String()))
	e := limitErrors[at]
	h := w.Header()
	srv.corsHeaders(h, r)
	h.Set("Content-Type", "application/json")
	if retry > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(errorBody(e.err))
}

// logGate lets one log line through per period and counts the events in
// between.
type logGate struct {
	last  atomic.Int64 // UnixNano of the last line
	count atomic.Uint64
}

// note counts an event and reports whether to log now, with the events
// since the last line (this one included).
func (g *logGate) note(now time.Time, every time.Duration) (uint64, bool) {
	g.count.Add(1)
	last, t := g.last.Load(), now.UnixNano()
	if t-last < int64(every) || !g.last.CompareAndSwap(last, t) {
		return 0, false
	}
	return g.count.Swap(0), true
}

// ipShards spreads the address table over locks, so that handshakes from
// different addresses rarely wait on each other.
const ipShards = 32

// ipTable holds, per client address (by a keyed hash of it), the sessions it
// has open and the state of its handshake rate: 16 bytes and a map slot per
// address, nothing per session.
type ipTable struct {
	maxPerIP  int32
	interval  int64 // ns between handshakes at the rate; 0: no rate limit
	tolerance int64 // how far ahead of now the rate's schedule may run: the burst
	capShard  int   // sessionless entries a shard keeps before it sweeps
	epoch     time.Time
	seed      maphash.Seed

	size    atomic.Int64
	evicted atomic.Uint64
	shards  [ipShards]ipShard
}

type ipShard struct {
	mu   sync.Mutex
	m    map[uint64]ipEntry
	idle int // entries with no session
}

// ipEntry is one address. The handshake rate is a GCRA (the generic cell
// rate algorithm, a token bucket kept as one time): tat is when the
// address's schedule of handshakes at the rate would next allow one; a
// handshake passes while tat is at most the burst's tolerance ahead of now,
// and moves it one interval on.
type ipEntry struct {
	sessions int32
	tat      int64 // ns since the table's epoch
}

func newIPTable(l Limits) *ipTable {
	t := &ipTable{
		maxPerIP: int32(min(l.MaxSessionsPerIP, 1<<30)),
		capShard: max(1, l.MaxTrackedIPs/ipShards),
		epoch:    time.Now(),
		seed:     maphash.MakeSeed(),
	}
	if l.HandshakeRatePerIP > 0 {
		t.interval = max(1, int64(float64(time.Second)/l.HandshakeRatePerIP))
		t.tolerance = int64(l.HandshakeBurstPerIP-1) * t.interval
	}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]ipEntry)
	}
	return t
}

func (t *ipTable) now() int64 { return int64(time.Since(t.epoch)) }

// key is the table's key of an address: never 0, which stands for none.
func (t *ipTable) key(a netip.Addr) uint64 {
	k := maphash.Comparable(t.seed, a)
	if k == 0 {
		k = 1
	}
	return k
}

func (t *ipTable) admit(a netip.Addr) (uint64, Limit, time.Duration, bool) {
	key := t.key(a)
	now := t.now()
	sh := &t.shards[key%ipShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, found := sh.m[key]
	if t.maxPerIP > 0 && e.sessions >= t.maxPerIP {
		return 0, LimitSessionsPerIP, 0, false
	}
	if t.interval > 0 {
		tat := max(e.tat, now)
		if ahead := tat - now; ahead > t.tolerance {
			return 0, LimitHandshakeRatePerIP, time.Duration(ahead - t.tolerance), false
		}
		e.tat = tat + t.interval
	}
	switch {
	case !found:
		if sh.idle >= t.capShard {
			t.sweepLocked(sh, now)
		}
		t.size.Add(1)
	case e.sessions == 0:
		sh.idle--
	}
	e.sessions++
	sh.m[key] = e
	return key, 0, 0, true
}

func (t *ipTable) release(key uint64) {
	now := t.now()
	sh := &t.shards[key%ipShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok || e.sessions <= 0 {
		return // cannot happen: entries with sessions are never evicted
	}
	e.sessions--
	switch {
	case e.sessions > 0:
		sh.m[key] = e
	case e.tat <= now:
		// Its rate has recovered: the entry says nothing a new one would not.
		delete(sh.m, key)
		t.size.Add(-1)
	default:
		sh.m[key] = e
		sh.idle++
	}
}

// sweepLocked drops a full shard's sessionless entries whose rate has
// recovered; if that frees less than a quarter of the shard's allowance,
// sessionless entries are dropped in map order (random) until it does: their
// addresses start afresh, which under a flood of addresses is the price of
// a bounded table.
func (t *ipTable) sweepLocked(sh *ipShard, now int64) {
	for k, e := range sh.m {
		if e.sessions == 0 && e.tat <= now {
			delete(sh.m, k)
			sh.idle--
			t.size.Add(-1)
		}
	}
	keep := t.capShard * 3 / 4
	for k, e := range sh.m {
		if sh.idle <= keep {
			break
		}
		if e.sessions == 0 {
			delete(sh.m, k)
			sh.idle--
			t.size.Add(-1)
			t.evicted.Add(1)
		}
	}
}
