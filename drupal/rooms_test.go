package drupal

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"unsafe"
)

// rooms are the sorted rooms of a client's socket.
func (e *env) rooms(c *client) []string {
	e.t.Helper()
	s, ok := e.io.Of("/").Socket(c.id)
	if !ok {
		e.t.Fatal("socket gone")
	}
	rs := s.Rooms()
	slices.Sort(rs)
	return rs
}

// The rooms are public contract (docs/CLUSTER.md): an authenticated socket is
// in exactly these, a pending one in none of them.
func TestRoomsOfASocket(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t5", user{uid: 5, channels: []string{"news", "nodejs_user_5"}})
	e.drupal.setUser("anon", user{uid: 0})
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k1"}`, 200, `{"status":"success"}`)
	a, anon, pre := e.dial(), e.dial(), e.dial()
	a.authenticateWith(e, "t5", `{"w":"k1"}`)
	anon.authenticate(e, "anon")
	for _, tc := range []struct {
		c    *client
		want []string
	}{
		{a, []string{"channel:news", "channel:nodejs_user_5", "drupal:authenticated", "drupal:token:t5", "drupal:uid:5", "token:w", a.id}},
		{anon, []string{"drupal:authenticated", "drupal:token:anon", "drupal:uid:0", anon.id}},
		{pre, []string{pre.id}},
	} {
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if got := e.rooms(tc.c); !slices.Equal(got, want) {
			t.Errorf("rooms %v, want %v", got, want)
		}
	}
	// Anything that emits to those rooms reaches Drupal's audiences.
	if err := e.io.Of("/").To(UserRoom(5), TokenRoom("anon")).Emit("message", map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	a.expectMessage(`{"x":1}`)
	anon.expectMessage(`{"x":1}`)
	pre.expectNothing(e)
}

// An auth token is any string: its room name takes it as it is, and the
// routes that name it reach its sockets.
func TestTokenRoomAnyString(t *testing.T) {
	e := newEnv(t, nil)
	const odd = "a:b#c d/é"
	e.drupal.setUser(odd, user{uid: 7})
	e.drupal.setUser("drupal:authenticated", user{uid: 8})
	a, b := e.dial(), e.dial()
	a.authenticate(e, odd)
	b.authenticate(e, "drupal:authenticated")
	if !slices.Contains(e.rooms(a), "drupal:token:"+odd) {
		t.Fatalf("rooms %v", e.rooms(a))
	}
	e.expectAPI("POST", "/nodejs/authtoken/channel/add/ch/"+url.PathEscape(odd), ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"ch"}`, 200, `{"status":"success","sent":1}`)
	a.expectMessage(`{"channel":"ch"}`)
	e.expectAPI("POST", "/nodejs/user/logout/"+url.PathEscape(odd), ``, 200, `{"status":"success"}`)
	a.expectDisconnect()
	b.expectNothing(e)
}

// A clientSocketId that names one of the bridge's rooms, not a socket,
// excludes nobody.
func TestClientSocketIDIsASocket(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"c"}})
	e.drupal.setUser("t2", user{uid: 2, channels: []string{"c"}})
	a, b := e.dial(), e.dial()
	a.authenticate(e, "t1")
	b.authenticate(e, "t2")
	for _, id := range []string{RoomAuthenticated, ChannelRoom("c"), UserRoom(1)} {
		msg := fmt.Sprintf(`{"channel":"c","clientSocketId":%q}`, id)
		e.expectAPI("POST", "/nodejs/publish", msg, 200, `{"status":"success","sent":2}`)
		a.expectMessage(msg)
		b.expectMessage(msg)
	}
}

// Every socket has a conn: 32 bytes, a size class its fields fill; a field
// more moves it up a class for every socket.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 32 {
		t.Errorf("conn is %d bytes, want at most 32", n)
	}
}
