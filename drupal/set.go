package drupal

import (
	"iter"
	"slices"
)

// The per-socket and per-user sets below are short slices, not maps: an idle
// site holds one per socket and one per user, almost always with one to a few
// entries, where a Go map costs about 200 bytes even for one entry (swiss
// tables, Go 1.24+) and a slice a few bytes per entry.

// roomSet is the Drupal channels and content token channels a socket is in,
// by the names of their rooms ("channel:news", "token:node_1"), in the order
// joined and each once. The strings are those the channel keeps (channel.room,
// tokenChannel.room), shared by every member and the adapter's room.
type roomSet []roomRef

type roomRef struct {
	room string
	// idx is the socket's position in the channel's members (channel rooms).
	idx int32
}

// index is the position of the room prefix+name, or -1; it builds no string.
func (s roomSet) index(prefix, name string) int {
	for i, r := range s {
		if len(r.room) == len(prefix)+len(name) && r.room[:len(prefix)] == prefix && r.room[len(prefix):] == name {
			return i
		}
	}
	return -1
}

func (s roomSet) has(prefix, name string) bool { return s.index(prefix, name) >= 0 }

// find is the entry of room (a full room name).
func (s roomSet) find(room string) *roomRef {
	for i := range s {
		if s[i].room == room {
			return &s[i]
		}
	}
	return nil
}

// add records room, whose name starts with one of the room prefixes, unless
// it is there. It reports whether it was added.
func (s *roomSet) add(room string, idx int32) bool {
	if s.find(room) != nil {
		return false
	}
	*s = append(*s, roomRef{room, idx})
	return true
}

// delAt forgets entry i; an empty set lets its array go.
func (s *roomSet) delAt(i int) {
	*s = slices.Delete(*s, i, i+1)
	if len(*s) == 0 {
		*s = nil
	}
}

// names yields the entries of a kind of room (prefix) with the room's name,
// in order; s must not change meanwhile.
func (s roomSet) names(prefix string) iter.Seq2[string, roomRef] {
	return func(yield func(string, roomRef) bool) {
		for _, r := range s {
			if len(r.room) > len(prefix) && r.room[:len(prefix)] == prefix && !yield(r.room[len(prefix):], r) {
				return
			}
		}
	}
}

// connList is the authenticated sockets of one user (presence.socks), or of
// every anonymous user (Bridge.anon). Users have one socket or a few (tabs),
// but uid 0 may have thousands: each conn knows its position (conn.idx), so
// removal is O(1), by swapping with the last. The order is not kept.
type connList []*conn

func (l *connList) add(c *conn) {
	c.idx = int32(len(*l))
	*l = append(*l, c)
}

// remove takes c out if it is in l; an empty list lets its array go.
func (l *connList) remove(c *conn) {
	s := *l
	i := int(c.idx)
	if i >= len(s) || s[i] != c {
		return
	}
	last := len(s) - 1
	s[i] = s[last]
	s[i].idx = int32(i)
	s[last] = nil
	if last == 0 {
		*l = nil
		return
	}
	*l = s[:last]
}
