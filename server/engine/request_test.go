package engine_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/socketd/socketd/server/engine"
)

// The session keeps the handshake request in a compact form; what comes back
// out must be what the client sent, multi-valued headers and query included.
func TestSessionRequest(t *testing.T) {
	ts := newServer(t, engine.Config{})
	hdr := http.Header{
		"Cookie":          {"SESS=abc; other=1"},
		"X-Forwarded-For": {"10.0.0.1", "10.0.0.2"},
		"X-Colon":         {"a: b: c"},
	}
	r := ts.do("GET", "EIO=4&transport=polling&token=x%20y&token=z&empty=", hdr, "")
	if r.status != http.StatusOK {
		t.Fatalf("handshake: %d %s", r.status, r.body)
	}
	s := <-ts.opened
	req := s.Request()
	h := req.Header()
	for k, want := range hdr {
		if got := h[k]; !slices.Equal(got, want) {
			t.Errorf("Header()[%q] = %q, want %q", k, got, want)
		}
	}
	if h.Get("User-Agent") == "" {
		t.Error("User-Agent lost")
	}
	if got := req.HeaderValue("X-Forwarded-For"); got != "10.0.0.1" {
		t.Errorf("HeaderValue(X-Forwarded-For) = %q", got)
	}
	if got := req.HeaderValue("X-Colon"); got != "a: b: c" {
		t.Errorf("HeaderValue(X-Colon) = %q", got)
	}
	if got := req.HeaderValue("Cookie-Nope"); got != "" {
		t.Errorf("HeaderValue of a missing header = %q", got)
	}
	q := req.Query()
	if !slices.Equal(q["token"], []string{"x y", "z"}) || q.Get("EIO") != "4" || !q.Has("empty") {
		t.Errorf("Query() = %v", q)
	}
	// Each call is a copy: changing one does not change the session's.
	h.Set("Cookie", "changed")
	if req.HeaderValue("Cookie") != "SESS=abc; other=1" {
		t.Error("Header() result aliases the session's request")
	}
	if req.RemoteAddr == "" || req.Time.IsZero() || req.Secure {
		t.Errorf("RemoteAddr %q Time %v Secure %v", req.RemoteAddr, req.Time, req.Secure)
	}
}
