package cluster

import (
	"context"
	"sync"
	"time"
)

// Memory is a Registry inside one process, for tests and single-process
// setups: the nodes that share it see each other.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memoryEntry // by tag
}

type memoryEntry struct {
	m   Member
	end time.Time
}

var _ Registry = (*Memory)(nil)

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory {
	return &Memory{now: time.Now, entries: make(map[string]memoryEntry)}
}

// Announce implements Registry.
func (r *Memory) Announce(_ context.Context, m Member, ttl time.Duration) error {
	if err := m.check(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if cur, ok := r.entries[m.Tag]; ok && cur.m.ID != m.ID && now.Before(cur.end) {
		return ErrTagTaken
	}
	r.entries[m.Tag] = memoryEntry{m: m, end: now.Add(ttl)}
	return nil
}

// Withdraw implements Registry.
func (r *Memory) Withdraw(_ context.Context, m Member) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.entries[m.Tag]; ok && cur.m.ID == m.ID {
		delete(r.entries, m.Tag)
	}
	return nil
}

// Members implements Registry; it lists members by tag.
func (r *Memory) Members(context.Context) ([]Member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]Member, 0, len(r.entries))
	for tag, e := range r.entries {
		if !now.Before(e.end) {
			delete(r.entries, tag)
			continue
		}
		out = append(out, e.m)
	}
	sortMembers(out)
	return out, nil
}
