package drupal

import (
	"slices"
	"testing"
	"unsafe"
)

func TestRoomSet(t *testing.T) {
	var s roomSet
	s.add("channel:a")
	s.add("token:a")
	s.add("channel:b")
	s.add("channel:a")
	if !slices.Equal(s, roomSet{"channel:a", "token:a", "channel:b"}) {
		t.Fatalf("after adds: %v", s)
	}
	if !s.has(channelPrefix, "b") || s.has(tokenPrefix, "b") || s.has(channelPrefix, "c") || s.has(channelPrefix, "") {
		t.Fatalf("has: %v", s)
	}
	if got := slices.Collect(s.names(channelPrefix)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("channel names %v", got)
	}
	if got := slices.Collect(s.names(tokenPrefix)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("token names %v", got)
	}
	s.del(channelPrefix, "c")
	s.del(channelPrefix, "a")
	if !slices.Equal(s, roomSet{"token:a", "channel:b"}) {
		t.Fatalf("after del channel a: %v", s)
	}
	s.del(tokenPrefix, "b")
	s.del(tokenPrefix, "a")
	s.del(channelPrefix, "b")
	if s != nil {
		t.Fatalf("empty set kept its array: %v", s)
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

// Every socket has a conn and every online user a presence: their fields are
// laid out to fill the 96- and 64-byte size classes; a field more moves them
// up a class (112, 80), for every socket or user.
func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 96 {
		t.Errorf("conn is %d bytes, want at most 96", n)
	}
	if n := unsafe.Sizeof(presence{}); n > 64 {
		t.Errorf("presence is %d bytes, want at most 64", n)
	}
}
