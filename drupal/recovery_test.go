package drupal

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/testutil"
)

// v5client is a socket.io-client 4.x page (Socket.IO v5 over EIO=4) with
// connection-state recovery: it keeps its pid and the last offset it got.
type v5client struct {
	*client
	sid, pid string
	offset   string
}

// dialV5 connects a v5 client to "/" with the CONNECT payload auth and reads
// what comes before the CONNECT reply (a recovery's missed packets).
func (e *env) dialV5(auth string) (*v5client, []string) {
	e.t.Helper()
	ws, err := testutil.DialWS(e.url + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		e.t.Fatalf("websocket handshake: %v", err)
	}
	e.t.Cleanup(ws.Close)
	conn := ws.NetConn()
	_ = conn.SetDeadline(time.Time{})
	c := &v5client{client: &client{t: e.t, ws: ws, conn: conn, in: make(chan string, 100)}}
	open := make(chan string, 1)
	go c.readLoop(open)
	select {
	case <-open:
	case <-time.After(waitTime):
		e.t.Fatal("no open packet")
	}
	c.send("40" + auth)
	var before []string
	for {
		p := c.next()
		if strings.HasPrefix(p, "0{") {
			var r struct{ Sid, Pid string }
			if json.Unmarshal([]byte(p[1:]), &r) != nil || r.Pid == "" {
				e.t.Fatalf("connect reply %q", p)
			}
			c.sid, c.pid, c.id = r.Sid, r.Pid, r.Sid
			return c, before
		}
		before = append(before, p)
	}
}

// message reads the next message event, checks that it carries msg, and
// keeps its offset (for a stored broadcast) as the client does.
func (c *v5client) message(p, msg string) {
	c.t.Helper()
	var args []json.RawMessage
	if !strings.HasPrefix(p, "2[") || json.Unmarshal([]byte(p[1:]), &args) != nil || len(args) < 2 || string(args[0]) != `"message"` {
		c.t.Fatalf("not a message event: %s", p)
	}
	var got any
	_ = json.Unmarshal(args[1], &got)
	var want any
	_ = json.Unmarshal([]byte(msg), &want)
	if b1, _ := json.Marshal(got); string(b1) != mustJSON(want) {
		c.t.Fatalf("message %s, want %s", args[1], msg)
	}
	if len(args) == 3 {
		_ = json.Unmarshal(args[2], &c.offset)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// authenticateV5 authenticates a v5 client (the push, then the ack).
func (c *v5client) authenticateV5(e *env, token string) {
	c.t.Helper()
	id := c.emit("authenticate", `{"authToken":`+jsonQuote(token)+`}`, true)
	if p := c.next(); !strings.HasPrefix(p, `2["message",{"callback":"clientAuthenticated"`) {
		c.t.Fatalf("want clientAuthenticated, got %s", p)
	}
	if got := c.next(); !strings.HasPrefix(got, "3") || !strings.Contains(got, `"success"`) || !strings.HasPrefix(got, "3"+strconv.Itoa(id)) {
		c.t.Fatalf("ack %s", got)
	}
	e.event("authenticate")
}

func recoveryEnv(t *testing.T) *env {
	e := newEnv(t, func(c *nodejsconfig.Config) {
		c.ConnectionStateRecovery = &nodejsconfig.RecoveryConfig{}
	})
	e.drupal.setUser("tok", user{uid: 5, channels: []string{"news"}})
	return e
}

// leave drops the client's connection and waits until the bridge forgot it.
func (c *v5client) leave(e *env) {
	c.t.Helper()
	_ = c.conn.Close()
	e.event("disconnect")
}

// A recovered Drupal socket gets what was published to its audiences while
// it was away, keeps its id, and is authenticated again from the cache: the
// store counts it (the user never went offline), later publishes reach it,
// and the page is pushed clientAuthenticated once more.
func TestRecoveredSocketResumes(t *testing.T) {
	e := recoveryEnv(t)
	c, _ := e.dialV5("")
	c.authenticateV5(e, "tok")
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"news","n":1}`, 200, `{"status":"success","sent":1}`)
	c.message(c.next(), `{"channel":"news","n":1}`)
	if c.offset == "" {
		t.Fatal("a published message carries no offset")
	}
	c.leave(e)
	if n, _ := e.b.store.UserSessions(t.Context(), 5); n != 0 {
		t.Fatalf("%d sessions of the user while it is away", n)
	}
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"news","n":2}`, 200, `{"status":"success","sent":0}`)
	e.expectAPI("POST", "/nodejs/publish", `{"broadcast":true,"channel":"x","n":3}`, 200, `{"status":"success","sent":0}`)

	c2, missed := e.dialV5(`{"pid":` + jsonQuote(c.pid) + `,"offset":` + jsonQuote(c.offset) + `}`)
	if c2.sid != c.sid || c2.pid != c.pid {
		t.Fatalf("came back as %s/%s, want %s/%s", c2.sid, c2.pid, c.sid, c.pid)
	}
	if len(missed) != 2 {
		t.Fatalf("missed %v, want the two messages", missed)
	}
	c2.message(missed[0], `{"channel":"news","n":2}`)
	c2.message(missed[1], `{"broadcast":true,"channel":"x","n":3}`)
	if p := c2.next(); !strings.HasPrefix(p, `2["message",{"callback":"clientAuthenticated"`) {
		t.Fatalf("after the recovery: %s, want clientAuthenticated", p)
	}
	e.event("authenticate")
	if n, _ := e.b.store.UserSessions(t.Context(), 5); n != 1 {
		t.Fatalf("%d sessions of the user after the recovery, want 1", n)
	}
	// The page authenticates on connect, as the Drupal client does: it is
	// answered as an authenticated socket.
	c2.authenticateAgain()
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"news","n":4}`, 200, `{"status":"success","sent":1}`)
	c2.message(c2.next(), `{"channel":"news","n":4}`)
}

// authenticateAgain sends authenticate on an authenticated socket: the push
// and the ack come back at once.
func (c *v5client) authenticateAgain() {
	c.t.Helper()
	c.emit("authenticate", `{"authToken":"tok"}`, true)
	if p := c.next(); !strings.HasPrefix(p, `2["message",{"callback":"clientAuthenticated"`) {
		c.t.Fatalf("want clientAuthenticated, got %s", p)
	}
	if p := c.next(); !strings.HasPrefix(p, "3") {
		c.t.Fatalf("want the ack, got %s", p)
	}
}

// A user kicked (or logged out) while away does not get its session back,
// nor what was published to it meanwhile: a new socket, out of every Drupal
// room. A channel the user was removed from is not restored.
func TestRecoveryRefusedAfterKick(t *testing.T) {
	e := recoveryEnv(t)
	e.drupal.setUser("tok2", user{uid: 6, channels: []string{"news"}})
	for _, tc := range []struct {
		name, token string
		away        func()
	}{
		{"kick", "tok", func() { e.expectAPI("POST", "/nodejs/user/kick/5", ``, 200, `{"status":"success"}`) }},
		{"logout", "tok2", func() { e.expectAPI("POST", "/nodejs/user/logout/tok2", ``, 200, `{"status":"success"}`) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := e.dialV5("")
			c.authenticateV5(e, tc.token)
			_ = e.b.nsp.To(RoomAuthenticated).Emit("message", json.RawMessage(`{"n":0}`))
			c.message(c.next(), `{"n":0}`)
			c.leave(e)
			tc.away()
			e.expectAPI("POST", "/nodejs/publish", `{"channel":"news","secret":1}`, 200, `{"status":"success","sent":0}`)
			c2, missed := e.dialV5(`{"pid":` + jsonQuote(c.pid) + `,"offset":` + jsonQuote(c.offset) + `}`)
			if c2.sid == c.sid || len(missed) != 0 {
				t.Fatalf("recovered as %s (was %s), missed %v: want a new session", c2.sid, c.sid, missed)
			}
			s, _ := e.io.Of("/").Socket(c2.sid)
			if s == nil || s.Recovered() || len(s.Rooms()) != 1 {
				t.Fatalf("socket %v", s)
			}
		})
	}
	t.Run("channel removed", func(t *testing.T) {
		e.drupal.setUser("tok3", user{uid: 7, channels: []string{"news", "sports"}})
		c, _ := e.dialV5("")
		c.authenticateV5(e, "tok3")
		_ = e.b.nsp.To(RoomAuthenticated).Emit("message", json.RawMessage(`{"n":0}`))
		c.message(c.next(), `{"n":0}`)
		c.leave(e)
		e.expectAPI("POST", "/nodejs/user/channel/remove/sports/7", ``, 200, `{"status":"success"}`)
		e.expectAPI("POST", "/nodejs/publish", `{"channel":"sports","n":1}`, 200, `{"status":"success","sent":0}`)
		e.expectAPI("POST", "/nodejs/publish", `{"channel":"news","n":2}`, 200, `{"status":"success","sent":0}`)
		c2, missed := e.dialV5(`{"pid":` + jsonQuote(c.pid) + `,"offset":` + jsonQuote(c.offset) + `}`)
		if c2.sid != c.sid || len(missed) != 1 {
			t.Fatalf("recovered as %s (was %s), missed %v: want the news message only", c2.sid, c.sid, missed)
		}
		c2.message(missed[0], `{"channel":"news","n":2}`)
		s, _ := e.io.Of("/").Socket(c2.sid)
		for _, r := range s.Rooms() {
			if r == ChannelRoom("sports") {
				t.Fatalf("rooms %v: the removed channel is back", s.Rooms())
			}
		}
	})
}
