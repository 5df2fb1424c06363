package storetest

import "sync"

// Table is a table of live nodes driven by hand, for shared stores (what
// server/cluster's Node is in socketd): every node that holds it sees the
// same members at once.
type Table struct {
	mu   sync.Mutex
	live map[string]bool
}

// NewTable returns a table listing ids.
func NewTable(ids ...string) *Table {
	t := &Table{live: make(map[string]bool)}
	for _, id := range ids {
		t.live[id] = true
	}
	return t
}

// Alive reports whether the table lists id.
func (t *Table) Alive(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[id]
}

// Join lists id.
func (t *Table) Join(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live[id] = true
}

// Leave stops listing id (its lease ended, or it withdrew).
func (t *Table) Leave(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, id)
}
