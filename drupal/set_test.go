package drupal

import (
	"fmt"
	"slices"
	"testing"
	"unsafe"
)

func TestRoomSet(t *testing.T) {
	var s roomSet
	s.add("channel:a", 0)
	s.add("token:a", 0)
	s.add("channel:b", 1)
	if s.add("channel:a", 2) {
		t.Fatal("added twice")
	}
	if want := (roomSet{{"channel:a", 0}, {"token:a", 0}, {"channel:b", 1}}); !slices.Equal(s, want) {
		t.Fatalf("after adds: %v", s)
	}
	if !s.has(channelPrefix, "b") || s.has(tokenPrefix, "b") || s.has(channelPrefix, "c") || s.has(channelPrefix, "") {
		t.Fatalf("has: %v", s)
	}
	var names []string
	for name, r := range s.names(channelPrefix) {
		names = append(names, fmt.Sprint(name, r.idx))
	}
	if !slices.Equal(names, []string{"a0", "b1"}) {
		t.Fatalf("channel names %v", names)
	}
	names = nil
	for name := range s.names(tokenPrefix) {
		names = append(names, name)
	}
	if !slices.Equal(names, []string{"a"}) {
		t.Fatalf("token names %v", names)
	}
	s.delAt(s.index(channelPrefix, "a"))
	if want := (roomSet{{"token:a", 0}, {"channel:b", 1}}); !slices.Equal(s, want) {
		t.Fatalf("after del channel a: %v", s)
	}
	s.delAt(1)
	s.delAt(0)
	if s != nil {
		t.Fatalf("empty set kept its array: %v", s)
	}
}

// Channel members leave in O(1) by swapping; every order of removal must
// leave exactly the remaining sockets, each one's roomRef for the channel
// knowing its position, whatever other channels the sockets are in.
func TestChannelMembers(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 2, 0, 1, 3}} {
		a, b := newChannel("a", false), newChannel("b", false)
		conns := make([]*conn, 4)
		for i := range conns {
			conns[i] = &conn{}
			if i%2 == 1 {
				b.add(conns[i])
			}
			a.add(conns[i])
			if a.add(conns[i]) {
				t.Fatal("added twice")
			}
		}
		check := func(ch *channel, want int) {
			t.Helper()
			if len(ch.members) != want {
				t.Fatalf("order %v: %s has %d members, want %d", order, ch.room, len(ch.members), want)
			}
			for j, c := range ch.members {
				if r := c.rooms.find(ch.room); r == nil || int(r.idx) != j {
					t.Fatalf("order %v: %s member %d has %v", order, ch.room, j, r)
				}
			}
		}
		left := 4
		for _, i := range order {
			c := conns[i]
			k := c.rooms.index(channelPrefix, "a")
			if k < 0 {
				continue // removed already
			}
			a.remove(c, c.rooms[k])
			c.rooms.delAt(k)
			left--
			check(a, left)
			check(b, 2)
		}
		if a.members != nil {
			t.Fatalf("order %v: empty channel kept its array", order)
		}
	}
}

// A user's socket list removes in O(1) by swapping; every order of removal
// must leave exactly the remaining sockets, each knowing its position.
func TestConnList(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 2, 0, 1, 3}} {
		var l connList
		conns := make([]*conn, 4)
		for i := range conns {
			conns[i] = &conn{uid: 7}
			l.add(conns[i])
		}
		left := map[*conn]bool{conns[0]: true, conns[1]: true, conns[2]: true, conns[3]: true}
		for _, i := range order {
			l.remove(conns[i]) // removing twice is a no-op
			delete(left, conns[i])
			if len(l) != len(left) {
				t.Fatalf("order %v: %d sockets left, want %d", order, len(l), len(left))
			}
			for j, c := range l {
				if !left[c] || int(c.idx) != j {
					t.Fatalf("order %v: %p at %d (index %d)", order, c, j, c.idx)
				}
			}
		}
		if l != nil {
			t.Fatalf("order %v: empty list kept its array", order)
		}
	}
}

// Every socket has a conn, every online user a presence and every auth token
// an authEntry: their fields are laid out to fill the 64-byte size class; a
// field more moves them up a class (80), for every socket or user.
func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 64 {
		t.Errorf("conn is %d bytes, want at most 64", n)
	}
	if n := unsafe.Sizeof(authEntry{}); n > 64 {
		t.Errorf("authEntry is %d bytes, want at most 64", n)
	}
	if n := unsafe.Sizeof(presence{}); n > 64 {
		t.Errorf("presence is %d bytes, want at most 64", n)
	}
}
