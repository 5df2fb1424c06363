package drupal

import (
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/store"
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
