package drupal

import (
	"fmt"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

// authenticateWith authenticates with content tokens.
func (c *client) authenticateWith(e *env, token, contentTokens string) {
	c.t.Helper()
	c.emit("authenticate", `{"authToken":`+jsonQuote(token)+`,"contentTokens":`+contentTokens+`}`, false)
	c.next() // clientAuthenticated
	e.event("authenticate")
}

func TestContentTokenRoute(t *testing.T) {
	e := newEnv(t, nil)
	const missing = `{"error":"Required parameters are missing."}`
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w"}`, 200, missing)
	e.expectAPI("POST", "/nodejs/content/token", `{"token":"k"}`, 200, missing)
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"","token":"k"}`, 200, missing)
	e.expectAPI("POST", "/nodejs/content/token", ``, 200, missing)
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k","userData":{"a":1}}`, 200, `{"status":"success"}`)
	if st := e.stats(); st.TokenChannels != 1 {
		t.Fatalf("%+v", st)
	}
	e.expectAPI("POST", "/nodejs/content/token/message", `{"data":1}`, 200, `{"error":"Invalid message"}`)
	e.expectAPI("POST", "/nodejs/content/token/message", `{"channel":"nope"}`, 200, `{"error":"Invalid message"}`)
	e.expectAPI("POST", "/nodejs/content/token/message", `{"channel":"w"}`, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/content/token/users", `{}`, 200, missing)
	e.expectAPI("POST", "/nodejs/content/token/users", `{"channel":"w"}`, 200, `{"users":{"uids":[],"authTokens":[]}}`)
	e.expectAPI("POST", "/nodejs/content/token/users", `{"channel":"nope"}`, 200, `{"users":{"uids":[],"authTokens":[]}}`)
}

func TestContentTokenAtAuth(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t5", user{uid: 5})
	e.drupal.setUser("anon", user{uid: 0})
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k1"}`, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k2"}`, 200, `{"status":"success"}`)
	a, b, c := e.dial(), e.dial(), e.dial()
	a.authenticateWith(e, "t5", `{"w":"k1","nochannel":"x"}`)
	b.authenticateWith(e, "anon", `{"w":"k2"}`)
	c.authenticateWith(e, "t5", `{"w":"k1"}`) // already used
	msg := fmt.Sprintf(`{"channel":"w","data":{"x":1},"clientSocketId":%q}`, b.id)
	e.expectAPI("POST", "/nodejs/content/token/message", msg, 200, `{"status":"success"}`)
	a.expectMessage(msg)
	b.expectNothing(e) // the sender
	c.expectNothing(e) // not in the channel
	e.expectAPI("POST", "/nodejs/content/token/users", `{"channel":"w"}`, 200, `{"users":{"uids":[5],"authTokens":["anon"]}}`)
	if st := e.stats(); st.TokenChannels != 1 {
		t.Fatalf("a client-named channel was created: %+v", st)
	}
	e.expectAPI("GET", "/nodejs/health/check", ``, 200, fmt.Sprintf(
		`{"authenticatedClients":2,"sockets":3,"onlineUsers":1,"tokenChannels":1,"contentTokens":{"w":{"tokens":{},"sockets":{%s}}},"status":"success","version":"1.0.13"}`,
		sortedSockets(a.id, `{"channel":"w","token":"k1"}`, b.id, `{"channel":"w","token":"k2"}`)))
}

func sortedSockets(id1, body1, id2, body2 string) string {
	if id2 < id1 {
		id1, body1, id2, body2 = id2, body2, id1, body1
	}
	return fmt.Sprintf(`%q:%s,%q:%s`, id1, body1, id2, body2)
}

func TestJoinTokenChannel(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t5", user{uid: 5})
	e.drupal.setUser("t6", user{uid: 6})
	body1 := `{"channel":"w","token":"k1","notifyOnDisconnect":true,"userData":{"name":"x"}}`
	e.expectAPI("POST", "/nodejs/content/token", body1, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k2"}`, 200, `{"status":"success"}`)
	a, b, pre := e.dial(), e.dial(), e.dial()
	a.authenticate(e, "t5")
	b.authenticate(e, "t6")

	// Not authenticated, bad payloads, wrong token: ignored.
	pre.emit("join-token-channel", `{"channel":"w","contentToken":"k1"}`, false)
	a.emit("join-token-channel", `{"channel":"w","contentToken":"nope"}`, false)
	a.emit("join-token-channel", `{"channel":"w"}`, false)
	a.emit("join-token-channel", `"w"`, false)
	a.sync()
	pre.sync()
	a.expectNothing(e)
	pre.expectNothing(e)

	a.emit("join-token-channel", `{"channel":"w","contentToken":"k1"}`, false)
	a.expectMessage(`{"callback":"clientJoinedTokenChannel","data":` + body1 + `}`)
	b.emit("join-token-channel", `{"channel":"w","contentToken":"k2"}`, false)
	a.expectMessage(`{"callback":"clientJoinedTokenChannel","data":{"channel":"w","token":"k2"}}`)
	b.expectMessage(`{"callback":"clientJoinedTokenChannel","data":{"channel":"w","token":"k2"}}`)
	// One time only.
	pre2 := e.dial()
	e.drupal.setUser("t7", user{uid: 7})
	pre2.authenticate(e, "t7")
	pre2.emit("join-token-channel", `{"channel":"w","contentToken":"k1"}`, false)
	pre2.sync()
	pre2.expectNothing(e)
	e.expectAPI("POST", "/nodejs/content/token/users", `{"channel":"w"}`, 200, `{"users":{"uids":[5,6],"authTokens":[]}}`)

	// a's token asked for notifyOnDisconnect: b is told 2 s after a leaves.
	e.closeAndWait(a)
	e.clk.Advance(tokenLeaveGrace - time.Millisecond)
	b.expectNothing(e)
	e.clk.Advance(time.Millisecond)
	b.expectMessage(`{"channel":"w","contentChannelNotification":true,"data":{"uid":5,"type":"disconnect"}}`)
	pre2.expectNothing(e)
	// b's token did not ask: nobody is told.
	e.closeAndWait(b)
	e.clk.Advance(tokenLeaveGrace)
	pre2.expectNothing(e)
}

func TestTokenNotifySuppressedWhenUserStays(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t5", user{uid: 5})
	e.drupal.setUser("t6", user{uid: 6})
	for _, k := range []string{"k1", "k2"} {
		e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"`+k+`","notifyOnDisconnect":true}`, 200, `{"status":"success"}`)
	}
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k3"}`, 200, `{"status":"success"}`)
	a1, a2, b := e.dial(), e.dial(), e.dial()
	a1.authenticateWith(e, "t5", `{"w":"k1"}`)
	a2.authenticateWith(e, "t5", `{"w":"k2"}`)
	b.authenticateWith(e, "t6", `{"w":"k3"}`)
	e.closeAndWait(a1) // uid 5 is still in the channel through a2
	e.clk.Advance(tokenLeaveGrace)
	b.expectNothing(e)
	a2.expectNothing(e)
}

func TestContentTokensExpire(t *testing.T) {
	e := newEnv(t, nil)
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k1"}`, 200, `{"status":"success"}`)
	e.clk.Advance(time.Duration(nodejsconfig.DefaultAuthCacheTTL) / 2)
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"v","token":"k2"}`, 200, `{"status":"success"}`)
	e.clk.Advance(time.Duration(nodejsconfig.DefaultAuthCacheTTL)/2 + time.Minute)
	if st := e.stats(); st.TokenChannels != 1 {
		t.Fatalf("%+v", st)
	}
	e.expectAPI("POST", "/nodejs/content/token/message", `{"channel":"w"}`, 200, `{"error":"Invalid message"}`)
	e.expectAPI("POST", "/nodejs/content/token/message", `{"channel":"v"}`, 200, `{"status":"success"}`)
}
