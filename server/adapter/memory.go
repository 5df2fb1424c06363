package adapter

import (
	"context"
	"sync"

	"github.com/socketd/socketd/protocol/socketio"
)

// Memory is the single-node Adapter: room membership in maps, broadcasts to the
// local sockets only. The zero value is not usable; use NewMemory.
type Memory struct {
	local Local

	mu     sync.RWMutex
	rooms  map[Room]map[SocketID]struct{}
	sids   map[SocketID]map[Room]struct{}
	closed bool
}

var _ Adapter = (*Memory)(nil)

// NewMemory returns an in-memory adapter acting on local.
func NewMemory(local Local) *Memory {
	return &Memory{
		local: local,
		rooms: make(map[Room]map[SocketID]struct{}),
		sids:  make(map[SocketID]map[Room]struct{}),
	}
}

// MemoryFactory is the Factory of Memory adapters.
func MemoryFactory(_ string, local Local) (Adapter, error) { return NewMemory(local), nil }

// AddAll implements Adapter.
func (m *Memory) AddAll(id SocketID, rooms []Room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mine := m.sids[id]
	if mine == nil {
		mine = make(map[Room]struct{}, len(rooms))
		m.sids[id] = mine
	}
	for _, r := range rooms {
		mine[r] = struct{}{}
		members := m.rooms[r]
		if members == nil {
			members = make(map[SocketID]struct{}, 1)
			m.rooms[r] = members
		}
		members[id] = struct{}{}
	}
}

// Del implements Adapter.
func (m *Memory) Del(id SocketID, room Room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mine := m.sids[id]; mine != nil {
		delete(mine, room)
	}
	m.leaveLocked(id, room)
}

func (m *Memory) leaveLocked(id SocketID, room Room) {
	if members := m.rooms[room]; members != nil {
		delete(members, id)
		if len(members) == 0 {
			delete(m.rooms, room)
		}
	}
}

// DelAll implements Adapter.
func (m *Memory) DelAll(id SocketID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for r := range m.sids[id] {
		m.leaveLocked(id, r)
	}
	delete(m.sids, id)
}

// SocketRooms implements Adapter.
func (m *Memory) SocketRooms(id SocketID) []Room {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mine := m.sids[id]
	out := make([]Room, 0, len(mine))
	for r := range mine {
		out = append(out, r)
	}
	return out
}

// Sockets implements Adapter.
func (m *Memory) Sockets(rooms []Room) []SocketID {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.targetsLocked(nil, BroadcastOptions{Rooms: rooms})
}

// Rooms implements Adapter.
func (m *Memory) Rooms() []Room {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Room, 0, len(m.rooms))
	for r := range m.rooms {
		out = append(out, r)
	}
	return out
}

// targetsLocked appends to dst the local sockets opts selects, each once.
func (m *Memory) targetsLocked(dst []SocketID, opts BroadcastOptions) []SocketID {
	excluded := func(SocketID) bool { return false }
	if len(opts.Except) > 0 {
		except := make(map[SocketID]struct{})
		for _, r := range opts.Except {
			for id := range m.rooms[r] {
				except[id] = struct{}{}
			}
		}
		excluded = func(id SocketID) bool { _, ok := except[id]; return ok }
	}
	switch len(opts.Rooms) {
	case 0:
		for id := range m.sids {
			if !excluded(id) {
				dst = append(dst, id)
			}
		}
	case 1:
		for id := range m.rooms[opts.Rooms[0]] {
			if !excluded(id) {
				dst = append(dst, id)
			}
		}
	default:
		seen := make(map[SocketID]struct{})
		for _, r := range opts.Rooms {
			for id := range m.rooms[r] {
				if _, dup := seen[id]; dup || excluded(id) {
					continue
				}
				seen[id] = struct{}{}
				dst = append(dst, id)
			}
		}
	}
	return dst
}

// targetPool recycles target lists: a broadcast to 10,000 sockets would otherwise
// allocate 160 KB for its list each time.
var targetPool = sync.Pool{New: func() any { s := make([]SocketID, 0, 64); return &s }}

// withTargets snapshots the targets under the read lock and runs fn on them with
// no lock held, so joins and leaves are never stalled behind socket writes.
func (m *Memory) withTargets(opts BroadcastOptions, fn func(ids []SocketID)) error {
	bp := targetPool.Get().(*[]SocketID)
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		targetPool.Put(bp)
		return ErrClosed
	}
	ids := m.targetsLocked((*bp)[:0], opts)
	m.mu.RUnlock()
	fn(ids)
	clear(ids)
	*bp = ids[:0]
	targetPool.Put(bp)
	return nil
}

// Broadcast implements Adapter.
func (m *Memory) Broadcast(_ context.Context, pkt *socketio.Packet, opts BroadcastOptions) error {
	return m.withTargets(opts, func(ids []SocketID) { m.local.Deliver(pkt, ids, opts.Flags, nil) })
}

// BroadcastWithAck implements Adapter.
func (m *Memory) BroadcastWithAck(_ context.Context, pkt *socketio.Packet, opts BroadcastOptions, expect func(int), ack AckFunc) error {
	return m.withTargets(opts, func(ids []SocketID) { expect(m.local.Deliver(pkt, ids, opts.Flags, ack)) })
}

// FetchSockets implements Adapter.
func (m *Memory) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	var out []SocketInfo
	err := m.withTargets(opts, func(ids []SocketID) {
		for _, id := range ids {
			if info, ok := m.local.Info(id); ok {
				out = append(out, info)
			}
		}
	})
	return out, err
}

// AddSockets implements Adapter.
func (m *Memory) AddSockets(_ context.Context, opts BroadcastOptions, rooms []Room) error {
	return m.withTargets(opts, func(ids []SocketID) {
		for _, id := range ids {
			m.local.Join(id, rooms)
		}
	})
}

// DelSockets implements Adapter.
func (m *Memory) DelSockets(_ context.Context, opts BroadcastOptions, rooms []Room) error {
	return m.withTargets(opts, func(ids []SocketID) {
		for _, id := range ids {
			m.local.Leave(id, rooms)
		}
	})
}

// DisconnectSockets implements Adapter.
func (m *Memory) DisconnectSockets(_ context.Context, opts BroadcastOptions, close bool) error {
	// Copy: disconnecting changes the rooms being iterated in the snapshot's source.
	var ids []SocketID
	err := m.withTargets(opts, func(t []SocketID) { ids = append(ids, t...) })
	for _, id := range ids {
		m.local.Disconnect(id, close)
	}
	return err
}

// ServerSideEmit implements Adapter. There are no other nodes: nothing is sent
// and there are no answers.
func (m *Memory) ServerSideEmit(context.Context, string, socketio.Args, bool) ([]socketio.Args, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return nil, nil
}

// ServerCount implements Adapter.
func (m *Memory) ServerCount(context.Context) (int, error) { return 1, nil }

// Close implements Adapter.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
