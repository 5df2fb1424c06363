package engine

import (
	"hash/maphash"
	"sync"
)

// registry maps sids to sessions. It replaces a sync.Map, whose per-entry nodes
// cost about 110 bytes per session, with sharded plain maps (about 40): on a
// server holding many idle sessions that is memory, and sessions are looked up
// only on polling requests and upgrades, so sharded locks do not contend.
type registry struct {
	seed   maphash.Seed
	shards [64]registryShard
}

type registryShard struct {
	mu sync.RWMutex
	m  map[string]*Session
}

func newRegistry() *registry {
	r := &registry{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*Session)
	}
	return r
}

func (r *registry) shard(sid string) *registryShard {
	return &r.shards[maphash.String(r.seed, sid)%uint64(len(r.shards))]
}

func (r *registry) load(sid string) (*Session, bool) {
	sh := r.shard(sid)
	sh.mu.RLock()
	s, ok := sh.m[sid]
	sh.mu.RUnlock()
	return s, ok
}

func (r *registry) store(s *Session) {
	sh := r.shard(s.id)
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
}

// remove deletes s and reports whether it was there.
func (r *registry) remove(s *Session) bool {
	sh := r.shard(s.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[s.id] != s {
		return false
	}
	delete(sh.m, s.id)
	return true
}

// snapshot returns the registered sessions; callers act on them with no lock held.
func (r *registry) snapshot() []*Session {
	var out []*Session
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			out = append(out, s)
		}
		sh.mu.RUnlock()
	}
	return out
}
