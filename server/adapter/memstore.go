package adapter

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
)

// memStore is Memory's SessionStore: the packets of one namespace in the
// order they were broadcast, and the sessions of its sockets that left.
// Everything is bounded: packets by count, bytes and age, sessions by count
// and age; what a bound drops is counted.
//
// Offsets are {epoch, seq}: the time the store was made (Unix ms) and the
// packet's sequence number from 1. An offset of another epoch (a client
// coming back after a restart) is unknown.
type memStore struct {
	cfg   RecoveryConfig
	epoch uint64
	now   func() time.Time

	mu    sync.Mutex
	seq   uint64     // of the last packet stored
	log   []memEntry // log[first:] are the packets kept, oldest first
	first int
	bytes int

	sessions map[string]memSession
	expiry   []memExpiry // sessions in the order they were saved: expiry order

	droppedPackets, expiredPackets, droppedSessions, expiredSessions uint64
}

type memEntry struct {
	seq  uint64
	at   time.Time
	pkt  *socketio.Packet
	opts BroadcastOptions // rooms and except only
	size int
}

type memSession struct {
	s       Session
	expires time.Time
}

type memExpiry struct {
	pid     string
	expires time.Time
}

// entryOverhead approximates what an entry costs besides its packet's bytes:
// the entry, the packet struct and slice headers (BenchmarkRecoveryHeld: a
// 70-byte message to one room holds 370 bytes).
const entryOverhead = 256

func newMemStore(cfg RecoveryConfig, now func() time.Time) *memStore {
	if now == nil {
		now = time.Now
	}
	return &memStore{cfg: cfg, epoch: uint64(now().UnixMilli()), now: now, sessions: make(map[string]memSession)}
}

// RecoveryStats are the counters of an in-memory recovery store.
type RecoveryStats struct {
	Packets  int // packets kept
	Bytes    int // their approximate size
	Sessions int // sessions kept
	// DroppedPackets and DroppedSessions were dropped by the count or byte
	// bounds before their time (a client that needed one got a new
	// session); Expired* outlived MaxDisconnection.
	DroppedPackets, ExpiredPackets, DroppedSessions, ExpiredSessions uint64
}

func (st *memStore) stats() RecoveryStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	return RecoveryStats{
		Packets: len(st.log) - st.first, Bytes: st.bytes, Sessions: len(st.sessions),
		DroppedPackets: st.droppedPackets, ExpiredPackets: st.expiredPackets,
		DroppedSessions: st.droppedSessions, ExpiredSessions: st.expiredSessions,
	}
}

func packetSize(pkt *socketio.Packet, opts BroadcastOptions) int {
	n := entryOverhead + len(pkt.Data) + len(pkt.Namespace)
	for _, a := range pkt.Attachments {
		n += 24 + len(a)
	}
	for _, r := range opts.Rooms {
		n += 16 + len(r)
	}
	for _, r := range opts.Except {
		n += 16 + len(r)
	}
	return n
}

// append stores pkt and returns its offset. The store keeps pkt: the caller
// must not change it afterwards.
func (st *memStore) append(pkt *socketio.Packet, opts BroadcastOptions) Offset {
	e := memEntry{
		at:   st.now(),
		pkt:  pkt,
		opts: BroadcastOptions{Rooms: slices.Clone(opts.Rooms), Except: slices.Clone(opts.Except)},
		size: packetSize(pkt, opts),
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq++
	e.seq = st.seq
	st.log = append(st.log, e)
	st.bytes += e.size
	st.expireLocked(e.at)
	for len(st.log)-st.first > st.cfg.MaxPackets || (st.bytes > st.cfg.MaxBytes && len(st.log)-st.first > 1) {
		st.dropFirstLocked()
		st.droppedPackets++
	}
	return Offset{st.epoch, e.seq}
}

func (st *memStore) dropFirstLocked() {
	st.bytes -= st.log[st.first].size
	st.log[st.first] = memEntry{}
	st.first++
	// Move the kept entries down once the dropped ones are the larger
	// part, so the slice does not grow for ever.
	if st.first >= 1024 && st.first*2 >= len(st.log) {
		n := copy(st.log, st.log[st.first:])
		clear(st.log[n:])
		st.log = st.log[:n]
		st.first = 0
	}
}

// expireLocked drops the packets and sessions older than MaxDisconnection.
func (st *memStore) expireLocked(now time.Time) {
	limit := now.Add(-st.cfg.MaxDisconnection)
	for st.first < len(st.log) && st.log[st.first].at.Before(limit) {
		st.dropFirstLocked()
		st.expiredPackets++
	}
	n := 0
	for n < len(st.expiry) && !st.expiry[n].expires.After(now) {
		x := st.expiry[n]
		if s, ok := st.sessions[x.pid]; ok && s.expires.Equal(x.expires) {
			delete(st.sessions, x.pid)
			st.expiredSessions++
		}
		n++
	}
	st.trimExpiryLocked(n)
}

func (st *memStore) trimExpiryLocked(n int) {
	if n == 0 {
		return
	}
	clear(st.expiry[:n])
	st.expiry = st.expiry[n:]
	if cap(st.expiry) > 1024 && len(st.expiry) < cap(st.expiry)/4 {
		st.expiry = slices.Clone(st.expiry)
	}
}

// known reports whether the packets after o can be told: o is this store's,
// not in the future, and no packet after it was dropped.
func (st *memStore) knownLocked(o Offset) bool {
	if o.Hi != st.epoch || o.Lo > st.seq {
		return false
	}
	firstSeq := st.seq + 1
	if st.first < len(st.log) {
		firstSeq = st.log[st.first].seq
	}
	return o.Lo+1 >= firstSeq
}

func (st *memStore) saveSession(s Session, ttl time.Duration) {
	now := st.now()
	s.Rooms = slices.Clone(s.Rooms)
	s.Data = slices.Clone(s.Data)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	x := memExpiry{pid: s.PID, expires: now.Add(ttl)}
	st.sessions[s.PID] = memSession{s: s, expires: x.expires}
	st.expiry = append(st.expiry, x)
	n := 0
	for len(st.sessions) > st.cfg.MaxSessions && n < len(st.expiry) {
		x := st.expiry[n]
		if s, ok := st.sessions[x.pid]; ok && s.expires.Equal(x.expires) {
			delete(st.sessions, x.pid)
			st.droppedSessions++
		}
		n++
	}
	st.trimExpiryLocked(n)
}

func (st *memStore) takeSession(pid string, o Offset) *Session {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	s, ok := st.sessions[pid]
	if !ok {
		return nil
	}
	// Taken once, whether or not it can be restored (as GETDEL takes it
	// from Redis); its entry in expiry goes when its time comes.
	delete(st.sessions, pid)
	if !st.knownLocked(o) {
		return nil
	}
	return &s.s
}

func (st *memStore) missed(o Offset, rooms []Room) ([]StoredPacket, Offset, error) {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	if !st.knownLocked(o) {
		return nil, Offset{}, ErrOffsetGone
	}
	var out []StoredPacket
	// Entries are in seq order with no gap: the first after o is at a
	// known index.
	i := st.first
	if st.first < len(st.log) {
		i += int(o.Lo + 1 - st.log[st.first].seq)
	}
	for ; i < len(st.log); i++ {
		e := &st.log[i]
		if Selects(rooms, e.opts) {
			out = append(out, StoredPacket{Offset: Offset{st.epoch, e.seq}, Packet: e.pkt})
		}
	}
	return out, Offset{st.epoch, st.seq}, nil
}

// EnableRecovery implements Recoverer. It must be called before the adapter
// is used.
func (m *Memory) EnableRecovery(cfg RecoveryConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	m.rec.Store(newMemStore(cfg, nil))
	return nil
}

// RecoveryStats returns the counters of the adapter's recovery store (zero
// when recovery is off).
func (m *Memory) RecoveryStats() RecoveryStats {
	if st := m.store(); st != nil {
		return st.stats()
	}
	return RecoveryStats{}
}

func (m *Memory) store() *memStore { return m.rec.Load() }

// storing returns the store a broadcast of pkt with opts goes to, or nil.
func (m *Memory) storing(pkt *socketio.Packet, opts BroadcastOptions) *memStore {
	st := m.rec.Load()
	if st == nil || !Stored(pkt, opts) {
		return nil
	}
	return st
}

// SaveSession implements SessionStore.
func (m *Memory) SaveSession(_ context.Context, s Session, ttl time.Duration) error {
	st := m.store()
	if st == nil {
		return ErrNoRecovery
	}
	st.saveSession(s, ttl)
	return nil
}

// TakeSession implements SessionStore.
func (m *Memory) TakeSession(_ context.Context, pid string, o Offset) (*Session, error) {
	st := m.store()
	if st == nil {
		return nil, ErrNoRecovery
	}
	return st.takeSession(pid, o), nil
}

// MissedPackets implements SessionStore.
func (m *Memory) MissedPackets(_ context.Context, o Offset, rooms []Room) ([]StoredPacket, Offset, error) {
	st := m.store()
	if st == nil {
		return nil, Offset{}, ErrNoRecovery
	}
	return st.missed(o, rooms)
}

// storeAndDeliver stores a broadcast and delivers it with its offset. The
// two happen under recMu so that every socket gets stored packets in offset
// order: a client's last offset then says which packets it has (all before).
// Deliver writes to sessions without waiting; the namespace runs the
// disconnect hooks of sessions a write ends on another goroutine while a
// delivery with an offset is under way (they could broadcast, which would
// wait for recMu).
func (m *Memory) storeAndDeliver(st *memStore, pkt *socketio.Packet, opts BroadcastOptions, deliver func(ids []SocketID, flags Flags)) error {
	m.recMu.Lock()
	defer m.recMu.Unlock()
	opts.Flags.Offset = st.append(pkt, opts)
	return m.withTargets(opts, func(ids []SocketID) { deliver(ids, opts.Flags) })
}
