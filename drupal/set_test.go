package drupal

import (
	"fmt"
	"slices"
	"testing"
)

func TestStrSet(t *testing.T) {
	var s strSet
	s.add("a")
	s.add("b")
	s.add("a")
	if !slices.Equal(s, strSet{"a", "b"}) || !s.has("b") || s.has("c") {
		t.Fatalf("after adds: %v", s)
	}
	s.del("c")
	s.del("a")
	if !slices.Equal(s, strSet{"b"}) {
		t.Fatalf("after del a: %v", s)
	}
	s.del("b")
	if s != nil {
		t.Fatalf("empty set kept its array: %v", s)
	}
}

// The uid index removes in O(1) by swapping; every order of removal must leave
// exactly the remaining sockets, each knowing its position.
func TestUIDIndex(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 2, 0, 1, 3}} {
		b := &Bridge{uids: make(map[int64][]*conn)}
		conns := make([]*conn, 4)
		for i := range conns {
			conns[i] = &conn{id: fmt.Sprint("s", i), uid: 7}
			b.addUIDLocked(conns[i])
		}
		left := map[string]bool{"s0": true, "s1": true, "s2": true, "s3": true}
		for _, i := range order {
			b.removeUIDLocked(conns[i]) // removing twice is a no-op
			delete(left, conns[i].id)
			set := b.uids[7]
			if len(set) != len(left) {
				t.Fatalf("order %v: %d sockets left, want %d", order, len(set), len(left))
			}
			for j, c := range set {
				if !left[c.id] || c.uidIdx != j {
					t.Fatalf("order %v: %s at %d (index %d)", order, c.id, j, c.uidIdx)
				}
			}
		}
		if _, ok := b.uids[7]; ok {
			t.Fatalf("order %v: empty user kept", order)
		}
	}
}
