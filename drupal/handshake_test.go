package drupal

import (
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/server/engine"
)

// TestHandshakeTimeout: a socket that has not sent authenticate within
// handshakeTimeout of connecting has its connection closed (a handshake
// timeout, counted by the engine); sockets that authenticated, or asked to
// in time, are not touched.
func TestHandshakeTimeout(t *testing.T) {
	e := newEnv(t, func(c *nodejsconfig.Config) { c.HandshakeTimeout = nodejsconfig.Duration(10 * time.Second) })
	e.drupal.setUser("tok", user{uid: 7})
	authed := e.dial()
	authed.authenticate(e, "tok")
	silent := e.dial()
	e.clk.Advance(9 * time.Second)
	late := e.dial() // its own deadline, 10 s from now
	silent.sync()    // still connected at 9 s
	e.clk.Advance(time.Second)
	if got := silent.next(); got != "EOF" {
		t.Fatalf("silent socket got %s, want its connection closed", got)
	}
	deadline := time.Now().Add(waitTime)
	for e.io.Engine().Stats().Closed[engine.ReasonHandshakeTimeout] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("closes %v", e.io.Engine().Stats().Closed)
		}
		time.Sleep(time.Millisecond)
	}
	late.authenticate(e, "tok")
	e.clk.Advance(time.Minute)
	for _, c := range []*client{authed, late} {
		c.expectNothing(e)
	}
	if st := e.stats(); st.Sockets != 2 {
		t.Fatalf("%d authenticated sockets, want 2", st.Sockets)
	}
}
