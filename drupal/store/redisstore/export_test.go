package redisstore

// kill stops the node as a crash would: no more heartbeats or sweeps, no
// leaving. Its data stays in Redis until another node takes it for dead.
func (s *Store) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stopTimersLocked()
}

// pauseTick stops the tick (a node cut off from Redis while it keeps its
// sockets); resumeTick runs one now and re-arms it.
func (s *Store) pauseTick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timers[timerTick]; t != nil {
		t.Stop()
		s.timers[timerTick] = nil
	}
}

func (s *Store) resumeTick() { s.tickNow() }

// pendingForgets reports the kicks and logouts waiting for Redis.
func (s *Store) pendingForgets() (users, tokens int, all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending.users), len(s.pending.tokens), s.pending.all
}
