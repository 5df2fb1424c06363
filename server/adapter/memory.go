package adapter

import (
	"context"
	"slices"
	"sync"

	"github.com/socketd/socketd/protocol/socketio"
)

// Memory is the single-node Adapter: room membership in maps, broadcasts to the
// local sockets only. The zero value is not usable; use NewMemory.
//
// Its layout is chosen for many mostly idle sockets, each in few rooms: a socket's
// own room (named after its id, joined by every socket) is not stored as a room
// at all but answered from sids, and a socket's rooms are a short slice. A
// one-member room map plus a one-entry room set cost about 600 bytes per socket;
// this costs a slice header and the rooms' names. A room of one member (a Drupal
// user's room, an auth token's) costs its map slot only, and rooms of a few
// members keep them in a slice, not a map.
type Memory struct {
	local Local

	mu     sync.RWMutex
	rooms  map[Room]roomMembers // every room but a socket's own
	sids   map[SocketID]member
	closed bool
}

// smallRoom is the most members a room keeps in a slice. A one-entry Go map
// costs about 200 bytes, a one-entry slice 16; past a few dozen members the
// linear search on leave costs more than the map saves.
const smallRoom = 32

// roomMembers is a room's sockets, stored by value in Memory.rooms. Most rooms
// of a Drupal site have one member (each user's room, each auth token's, each
// user's own channel): it is kept in one, and the room costs its map slot (40
// bytes) and nothing else. A room that has had more than one member keeps them
// in more: a slice while small, a set once past smallRoom. Exactly one of one
// and more is set in a stored room.
type roomMembers struct {
	one  SocketID
	more *moreMembers
}

type moreMembers struct {
	list []SocketID
	set  map[SocketID]struct{} // list is nil when set is not
}

func (r roomMembers) len() int {
	if r.more == nil {
		if r.one == "" {
			return 0
		}
		return 1
	}
	return len(r.more.list) + len(r.more.set)
}

// add returns r with id added; id must not be a member.
func (r roomMembers) add(id SocketID) roomMembers {
	switch {
	case r.more == nil && r.one == "":
		r.one = id
	case r.more == nil:
		r.more = &moreMembers{list: []SocketID{r.one, id}}
		r.one = ""
	case r.more.set != nil:
		r.more.set[id] = struct{}{}
	case len(r.more.list) < smallRoom:
		r.more.list = append(r.more.list, id)
	default:
		set := make(map[SocketID]struct{}, 2*smallRoom)
		for _, m := range r.more.list {
			set[m] = struct{}{}
		}
		set[id] = struct{}{}
		r.more.set, r.more.list = set, nil
	}
	return r
}

// del returns r without id. A room left with one member keeps it in one again.
func (r roomMembers) del(id SocketID) roomMembers {
	if r.more == nil {
		if r.one == id {
			r.one = ""
		}
		return r
	}
	if r.more.set != nil {
		delete(r.more.set, id)
	} else if i := slices.Index(r.more.list, id); i >= 0 {
		last := len(r.more.list) - 1
		r.more.list[i] = r.more.list[last]
		r.more.list[last] = ""
		r.more.list = r.more.list[:last]
	}
	if r.len() == 1 {
		r.each(func(m SocketID) { r.one = m })
		r.more = nil
	}
	return r
}

func (r roomMembers) each(fn func(SocketID)) {
	if r.more == nil {
		if r.one != "" {
			fn(r.one)
		}
		return
	}
	for _, id := range r.more.list {
		fn(id)
	}
	for id := range r.more.set {
		fn(id)
	}
}

// member is a socket's entry: whether it is in its own room, and its other rooms.
type member struct {
	self  bool
	rooms []Room // no duplicates; few entries, so a linear scan beats a map
}

func (m member) has(r Room) bool { return slices.Contains(m.rooms, r) }

var _ Adapter = (*Memory)(nil)

// NewMemory returns an in-memory adapter acting on local.
func NewMemory(local Local) *Memory {
	return &Memory{
		local: local,
		rooms: make(map[Room]roomMembers),
		sids:  make(map[SocketID]member),
	}
}

// MemoryFactory is the Factory of Memory adapters.
func MemoryFactory(_ string, local Local) (Adapter, error) { return NewMemory(local), nil }

// AddAll implements Adapter.
func (m *Memory) AddAll(id SocketID, rooms []Room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mine := m.sids[id]
	// Room for the new rooms at once: a socket joins its rooms in a call or
	// two (a Drupal socket five at authentication), and append's doubling
	// would leave a third of the slice unused.
	n := 0
	for _, r := range rooms {
		if r != Room(id) && !mine.has(r) {
			n++
		}
	}
	mine.rooms = slices.Grow(mine.rooms, n)
	for _, r := range rooms {
		if r == Room(id) {
			mine.self = true
			continue
		}
		if mine.has(r) {
			continue
		}
		mine.rooms = append(mine.rooms, r)
		m.rooms[r] = m.rooms[r].add(id)
	}
	m.sids[id] = mine
}

// Del implements Adapter.
func (m *Memory) Del(id SocketID, room Room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mine, ok := m.sids[id]
	if !ok {
		return
	}
	if room == Room(id) {
		mine.self = false
	} else if i := slices.Index(mine.rooms, room); i >= 0 {
		mine.rooms = slices.Delete(mine.rooms, i, i+1)
		m.leaveLocked(id, room)
	}
	// Even in no room at all the socket stays known: namespace-wide broadcasts
	// still reach it, as in socket.io's in-memory adapter.
	m.sids[id] = mine
}

func (m *Memory) leaveLocked(id SocketID, room Room) {
	members, ok := m.rooms[room]
	if !ok {
		return
	}
	if members = members.del(id); members.len() == 0 {
		delete(m.rooms, room)
	} else {
		m.rooms[room] = members
	}
}

// DelAll implements Adapter.
func (m *Memory) DelAll(id SocketID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.sids[id].rooms {
		m.leaveLocked(id, r)
	}
	delete(m.sids, id)
}

// SocketRooms implements Adapter.
func (m *Memory) SocketRooms(id SocketID) []Room {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mine, ok := m.sids[id]
	if !ok {
		return nil
	}
	out := make([]Room, 0, len(mine.rooms)+1)
	if mine.self {
		out = append(out, Room(id))
	}
	return append(out, mine.rooms...)
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
	out := make([]Room, 0, len(m.rooms)+len(m.sids))
	for r := range m.rooms {
		out = append(out, r)
	}
	for id, mine := range m.sids {
		// A socket's own room is listed once, even if another socket joined it too.
		if _, listed := m.rooms[Room(id)]; mine.self && !listed {
			out = append(out, Room(id))
		}
	}
	return out
}

// HasRoom reports whether room r has a local member. A cluster adapter asks
// it for every message published to a single room, so it allocates nothing.
func (m *Memory) HasRoom(r Room) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if mine, ok := m.sids[SocketID(r)]; ok && mine.self {
		return true
	}
	return m.rooms[r].len() > 0
}

// eachMember calls fn once for every socket in room r: the socket whose own room
// r is (never stored in m.rooms), then the sockets that joined r explicitly.
func (m *Memory) eachMember(r Room, fn func(SocketID)) {
	if mine, ok := m.sids[SocketID(r)]; ok && mine.self {
		fn(SocketID(r))
	}
	m.rooms[r].each(fn)
}

// targetsLocked appends to dst the local sockets opts selects, each once.
func (m *Memory) targetsLocked(dst []SocketID, opts BroadcastOptions) []SocketID {
	excluded := func(SocketID) bool { return false }
	if len(opts.Except) > 0 {
		except := make(map[SocketID]struct{})
		for _, r := range opts.Except {
			m.eachMember(r, func(id SocketID) { except[id] = struct{}{} })
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
		m.eachMember(opts.Rooms[0], func(id SocketID) {
			if !excluded(id) {
				dst = append(dst, id)
			}
		})
	default:
		seen := make(map[SocketID]struct{})
		for _, r := range opts.Rooms {
			m.eachMember(r, func(id SocketID) {
				if _, dup := seen[id]; dup || excluded(id) {
					return
				}
				seen[id] = struct{}{}
				dst = append(dst, id)
			})
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

// BroadcastCount implements Adapter: the count is this node's.
func (m *Memory) BroadcastCount(_ context.Context, pkt *socketio.Packet, opts BroadcastOptions) (int, error) {
	n := 0
	err := m.withTargets(opts, func(ids []SocketID) { n = m.local.Deliver(pkt, ids, opts.Flags, nil) })
	return n, err
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
