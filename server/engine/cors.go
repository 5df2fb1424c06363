package engine

import (
	"net/http"
	"strconv"
)

// originAllowed says whether origin may use the endpoint cross-origin.
func (srv *Server) originAllowed(origin string) bool {
	for _, o := range srv.cfg.CORS.AllowedOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

// corsHeaders adds the CORS response headers for an allowed Origin. The origin is
// reflected with credentials allowed (never "*", which forbids credentials), as
// socket.io 2.x did for drupal-node.js.
func (srv *Server) corsHeaders(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(srv.cfg.CORS.AllowedOrigins) == 0 {
		return
	}
	h.Add("Vary", "Origin")
	if !srv.originAllowed(origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
}

// preflight answers a CORS preflight. A disallowed origin gets no CORS headers,
// so the browser refuses the request that would follow.
func (srv *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	srv.corsHeaders(h, r)
	if h.Get("Access-Control-Allow-Origin") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if ma := srv.cfg.CORS.MaxAge; ma > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(ma.Seconds())))
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}
