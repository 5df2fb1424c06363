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
// as the names of their rooms ("channel:news", "token:node_1"), in the order
// joined and each once. The strings are those the channel keeps (channel.room,
// tokenChannel.room), shared by every member and the adapter's room, so an
// entry costs a socket 16 bytes.
type roomSet []string

// index is the position of the room prefix+name, or -1; it builds no string.
func (s roomSet) index(prefix, name string) int {
	for i, r := range s {
		if len(r) == len(prefix)+len(name) && r[:len(prefix)] == prefix && r[len(prefix):] == name {
			return i
		}
	}
	return -1
}

func (s roomSet) has(prefix, name string) bool { return s.index(prefix, name) >= 0 }

// add records room, whose name starts with one of the room prefixes.
func (s *roomSet) add(room string) {
	if !slices.Contains(*s, room) {
		*s = append(*s, room)
	}
}

// del forgets the room prefix+name; an empty set lets its array go.
func (s *roomSet) del(prefix, name string) {
	if i := s.index(prefix, name); i >= 0 {
		*s = slices.Delete(*s, i, i+1)
		if len(*s) == 0 {
			*s = nil
		}
	}
}

// names yields the name of each room of a kind (prefix), in order; s must
// not change meanwhile.
func (s roomSet) names(prefix string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, r := range s {
			if len(r) > len(prefix) && r[:len(prefix)] == prefix && !yield(r[len(prefix):]) {
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
