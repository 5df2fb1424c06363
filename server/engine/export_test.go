package engine

// PollHeld reports whether a GET is held for s; tests wait on it instead of sleeping.
func PollHeld(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll != nil
}

// PollParked reports whether s's held GET is parked off net/http.
func PollParked(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parked != nil
}

// CopyBridges makes srv splice forwarded connections on goroutines (the TLS
// path) instead of the event loop.
func CopyBridges(srv *Server) { srv.fwd.copyBridges = true }

// ProxyGETs makes srv forward polling GETs through its pooled HTTP client, as
// it does POSTs, instead of splicing them.
func ProxyGETs(srv *Server) { srv.fwd.proxyGETs = true }

// Told reports whether s has been closed, or told to close (a polling close
// packet waiting for its GET).
func Told(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state != stateOpen
}
