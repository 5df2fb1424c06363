package engine

// PollHeld reports whether a GET is held for s; tests wait on it instead of sleeping.
func PollHeld(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll != nil
}
