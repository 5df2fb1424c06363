package drupal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/drupal/store/storetest"
)

// expectPresence waits for Drupal to get a userOnline/userOffline message.
func (e *env) expectPresence(messageType, uid string) {
	e.t.Helper()
	m := e.drupal.nextMsg(e.t)
	if string(m["messageType"]) != `"`+messageType+`"` || string(m["uid"]) != uid || len(m) != 2 {
		e.t.Fatalf("Drupal got %v, want %s of %s", m, messageType, uid)
	}
}

// closeAndWait drops a client's connection and waits for the bridge to see it.
func (e *env) closeAndWait(c *client) {
	e.t.Helper()
	_ = c.conn.Close()
	for {
		if ev := e.event("disconnect"); ev.sid == c.id {
			return
		}
	}
}

const (
	online1  = `{"presenceNotification":{"uid":1,"event":"online"}}`
	offline1 = `{"presenceNotification":{"uid":1,"event":"offline"}}`
)

func TestPresenceOnlineOffline(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, presence: []int64{2, 3}})
	e.drupal.setUser("t2", user{uid: 2, presence: []int64{1}})
	e.drupal.setUser("t4", user{uid: 4})
	b := e.dial()
	b.authenticate(e, "t2")
	e.expectPresence("userOnline", "2")
	other := e.dial()
	other.authenticate(e, "t4")
	e.expectPresence("userOnline", "4")

	a := e.dial()
	a.authenticate(e, "t1")
	e.expectPresence("userOnline", "1")
	b.expectMessage(online1) // uid 2 is in uid 1's list
	other.expectNothing(e)   // uid 4 is not
	a.expectNothing(e)       // uid 2 was online first: nobody tells uid 1

	e.closeAndWait(a)
	e.clk.Advance(store.DefaultOfflineGrace - time.Millisecond)
	b.expectNothing(e)
	if st := e.stats(); st.OnlineUsers != 3 {
		t.Fatalf("within grace %+v", st)
	}
	e.clk.Advance(time.Millisecond)
	b.expectMessage(offline1)
	e.expectPresence("userOffline", "1")
	other.expectNothing(e)
	if st := e.stats(); st.OnlineUsers != 2 {
		t.Fatalf("after grace %+v", st)
	}
}

func TestPresenceReconnectWithinGrace(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, presence: []int64{2}})
	e.drupal.setUser("t2", user{uid: 2})
	b := e.dial()
	b.authenticate(e, "t2")
	e.expectPresence("userOnline", "2")
	a := e.dial()
	a.authenticate(e, "t1")
	e.expectPresence("userOnline", "1")
	b.expectMessage(online1)

	// A page reload: gone, back within the grace period.
	e.closeAndWait(a)
	e.clk.Advance(time.Second)
	a2 := e.dial()
	a2.authenticate(e, "t1")
	e.clk.Advance(store.DefaultOfflineGrace)
	b.expectNothing(e) // neither offline nor online again
	// Drupal heard nothing either: the next thing it gets is uid 3's online.
	e.drupal.setUser("t3", user{uid: 3})
	e.dial().authenticate(e, "t3")
	e.expectPresence("userOnline", "3")
}

func TestPresenceTimerRestarts(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, presence: []int64{2}})
	e.drupal.setUser("t2", user{uid: 2})
	b := e.dial()
	b.authenticate(e, "t2")
	e.expectPresence("userOnline", "2")
	a1, a2 := e.dial(), e.dial()
	a1.authenticate(e, "t1")
	e.expectPresence("userOnline", "1")
	b.expectMessage(online1)
	a2.authenticate(e, "t1")

	e.closeAndWait(a1)
	e.clk.Advance(1500 * time.Millisecond) // uid 1 still has a2
	b.expectNothing(e)
	e.closeAndWait(a2) // restarts the 2 s timer
	e.clk.Advance(time.Second)
	b.expectNothing(e)
	e.clk.Advance(time.Second)
	b.expectMessage(offline1)
	e.expectPresence("userOffline", "1")
}

func TestPresenceListRoute(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, presence: []int64{2}})
	e.drupal.setUser("t2", user{uid: 2})
	e.drupal.setUser("t3", user{uid: 3})
	b, c := e.dial(), e.dial()
	b.authenticate(e, "t2")
	e.expectPresence("userOnline", "2")
	c.authenticate(e, "t3")
	e.expectPresence("userOnline", "3")
	a := e.dial()
	a.authenticate(e, "t1")
	e.expectPresence("userOnline", "1")
	b.expectMessage(online1)

	e.expectAPI("GET", "/nodejs/user/presence-list/1/3,5", ``, 200, `{"status":"success"}`)
	e.closeAndWait(a)
	e.clk.Advance(store.DefaultOfflineGrace)
	c.expectMessage(offline1)
	b.expectNothing(e)
	e.expectPresence("userOffline", "1")
}

func TestPresenceAnonymous(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("anon", user{uid: 0, presence: []int64{2}})
	e.drupal.setUser("t2", user{uid: 2})
	b := e.dial()
	b.authenticate(e, "t2")
	e.expectPresence("userOnline", "2")
	a := e.dial()
	a.authenticate(e, "anon")
	b.expectNothing(e)
	e.closeAndWait(a)
	e.clk.Advance(store.DefaultOfflineGrace)
	b.expectNothing(e)
	if st := e.stats(); st.OnlineUsers != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestPresenceCloseStopsTimers(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1})
	a := e.dial()
	a.authenticate(e, "t1")
	e.expectPresence("userOnline", "1")
	e.closeAndWait(a)
	e.b.Close()
	e.clk.Advance(store.DefaultOfflineGrace)
	select {
	case m := <-e.drupal.msgs:
		t.Fatalf("Drupal got %v after Close", m)
	default:
	}
}

// Shutdown closes the store first, then lets a call to Drupal under way (a
// userOffline) finish; past its context such a call is cancelled.
func TestShutdownLetsCallsFinish(t *testing.T) {
	for _, expired := range []bool{false, true} {
		e := newEnv(t, nil)
		e.drupal.setUser("t1", user{uid: 1})
		a := e.dial()
		a.authenticate(e, "t1")
		e.expectPresence("userOnline", "1")
		gate := make(chan struct{})
		e.drupal.gate.Store(&gate)
		e.closeAndWait(a)
		e.clk.Advance(store.DefaultOfflineGrace)
		e.expectPresence("userOffline", "1") // arrived; its answer is held
		ctx, cancel := context.WithCancel(t.Context())
		if expired {
			cancel()
		}
		done := make(chan struct{})
		go func() {
			e.b.Shutdown(ctx)
			close(done)
		}()
		if expired {
			// The call is cancelled: Shutdown does not wait for its answer.
			select {
			case <-done:
			case <-time.After(waitTime):
				t.Fatal("Shutdown past its context waits for a call to Drupal")
			}
			close(gate)
		} else {
			for !e.closedNow() {
				time.Sleep(time.Millisecond)
			}
			select {
			case <-done:
				t.Fatal("Shutdown returned with a call to Drupal under way")
			default:
			}
			close(gate)
			if err := <-e.drupal.gated; err != nil {
				t.Fatalf("the call under way was cancelled: %v", err)
			}
			<-done
		}
		cancel()
		if _, err := e.b.store.Connected(t.Context(), &store.Auth{Token: "t9", UID: 9}, nil); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("store after Shutdown: %v, want closed", err)
		}
	}
}

func (e *env) closedNow() bool {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	return e.b.closed
}

// sharedStore is a store.Memory the bridge takes for a shared one (Redis):
// it counts off drained sockets late.
type sharedStore struct{ *store.Memory }

// A socket closed by a drain is counted off a shared store reconnectAllowance
// after its close, so its user's grace period starts about when the page
// tries again elsewhere; Shutdown waits for that, and Close drops it.
func TestDrainedSocketCountedOffLater(t *testing.T) {
	for _, how := range []string{"shutdown", "close"} {
		clk := storetest.NewClock()
		st := sharedStore{store.NewMemory(store.MemoryConfig{Clock: clk})}
		e := newEnvStore(t, nil, clk, st)
		e.drupal.setUser("t1", user{uid: 1})
		a := e.dial()
		a.authenticate(e, "t1")
		e.expectPresence("userOnline", "1")
		if err := e.io.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.event("disconnect")
		sessions := func() int {
			n, err := st.UserSessions(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if how == "close" {
			e.b.Close() // returns: the held-back count-off is dropped
			if sessions() != 1 {
				t.Fatal("a count-off dropped by Close was made")
			}
			continue
		}
		clk.Advance(reconnectAllowance - time.Millisecond)
		if sessions() != 1 {
			t.Fatal("the drained socket was counted off before the allowance")
		}
		done := make(chan struct{})
		go func() {
			e.b.Shutdown(t.Context())
			close(done)
		}()
		clk.Advance(time.Millisecond)
		<-done // Shutdown waited for the count-off
		if sessions() != 0 {
			t.Fatal("the drained socket is still counted after Shutdown")
		}
	}
}
