package redisstore

// kill stops the node as a crash would: no more heartbeats or sweeps, no
// leaving. Its data stays in Redis until another node takes it for dead.
func (s *Store) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stopTimersLocked()
}

// pauseHeartbeat stops the heartbeat (a node cut off from Redis while it
// keeps its sockets); resumeHeartbeat runs one now and re-arms it.
func (s *Store) pauseHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timers[timerHeartbeat]; t != nil {
		t.Stop()
		s.timers[timerHeartbeat] = nil
	}
}

func (s *Store) resumeHeartbeat() { s.heartbeatTick() }
