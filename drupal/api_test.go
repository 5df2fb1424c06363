package drupal

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

func TestAPIServiceKey(t *testing.T) {
	e := newEnv(t, nil)
	const bad = `{"error":"Invalid service key."}`
	for _, tc := range []struct{ method, path, key string }{
		{"POST", "/nodejs/publish", "wrong"},
		{"POST", "/nodejs/publish", ""},
		{"GET", "/nodejs/health/check", "testServiceKeyX"},
		{"GET", "/nodejs/health/check", "testServiceKe"},
		{"POST", "/nodejs/nope", "wrong"},
		{"GET", "/nodejs/", "wrong"},
	} {
		st, body := e.apiKey(tc.method, tc.path, `{"broadcast":true}`, tc.key)
		if st != 200 || body != bad {
			t.Errorf("%s %s key %q: %d %s", tc.method, tc.path, tc.key, st, body)
		}
	}
	// No state change went through with a bad key.
	e.apiKey("POST", "/nodejs/channel/add/x", ``, "wrong")
	e.expectAPI("GET", "/nodejs/channel/check/x", ``, 200, `{"status":"success","result":false}`)

	// An empty serviceKey lets everything through, as in 1.0.13.
	open := newEnv(t, func(c *nodejsconfig.Config) { c.ServiceKey = "" })
	if st, body := open.apiKey("GET", "/nodejs/channel/check/x", ``, "anything"); st != 200 || body != `{"status":"success","result":false}` {
		t.Fatalf("open server: %d %s", st, body)
	}
}

func TestAPINotFound(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/nodejs/nope"},
		{"GET", "/nodejs/"},
		{"GET", "/nodejs/publish"}, // POST route: express fell through to its GET catch-all
	} {
		st, body := e.api(tc.method, tc.path, ``)
		if st != 404 || body != "Not Found." {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, st, body)
		}
	}
	st, body := e.api("POST", "/nodejs/nope", ``)
	if st != 404 || !strings.Contains(body, "<pre>Cannot POST /nodejs/nope</pre>") {
		t.Fatalf("POST unknown: %d %q", st, body)
	}
	st, body = e.api("POST", "/nodejs/health/check", ``)
	if st != 404 || !strings.Contains(body, "Cannot POST /nodejs/health/check") {
		t.Fatalf("POST health: %d %q", st, body)
	}
}

func TestAPIBodyRefused(t *testing.T) {
	e := newEnv(t, func(c *nodejsconfig.Config) { c.BodyParserJSONLimit = "100b" })
	big := `{"channel":"c","token":"` + strings.Repeat("x", 100) + `"}`
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"oversize", big, 413, `{"error":"Request body is larger than 100 bytes."}`},
		{"malformed", `{"channel":"c","token":`, 400, `{"error":"Malformed JSON in request body."}`},
		{"trailing garbage", `{"channel":"c","token":"t"} {}`, 400, `{"error":"Malformed JSON in request body."}`},
		{"scalar", `"c"`, 400, `{"error":"Malformed JSON in request body."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.expectAPI("POST", "/nodejs/content/token", tt.body, tt.status, tt.want)
			e.expectAPI("POST", "/nodejs/channel/add/c", tt.body, tt.status, tt.want)
		})
	}
	// Without Content-Length (chunked) the limit holds too.
	req, _ := http.NewRequest("POST", e.url+"/nodejs/content/token", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("NodejsServiceKey", testKey)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversize: %d", resp.StatusCode)
	}
	// Nothing changed.
	e.expectAPI("GET", "/nodejs/channel/check/c", ``, 200, `{"status":"success","result":false}`)
	e.expectAPI("GET", "/nodejs/health/check", ``, 200, `{"authenticatedClients":0,"sockets":0,"onlineUsers":0,"tokenChannels":0,"contentTokens":{},"status":"success","version":"1.0.13"}`)
}

func TestAPIPublish(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"news"}})
	e.drupal.setUser("t2", user{uid: 2})
	a, b, pre := e.dial(), e.dial(), e.dial()
	a.authenticate(e, "t1")
	b.authenticate(e, "t2")

	e.expectAPI("POST", "/nodejs/publish", `{"data":1}`, 200, `{"error":"Required parameters are missing."}`)
	e.expectAPI("POST", "/nodejs/publish", `{"broadcast":false,"channel":""}`, 200, `{"error":"Required parameters are missing."}`)
	e.expectAPI("POST", "/nodejs/publish", ``, 200, `{"error":"Required parameters are missing."}`)
	e.expectAPI("POST", "/nodejs/publish", `[{"broadcast":true}]`, 200, `{"error":"Required parameters are missing."}`)

	// Broadcast: every authenticated socket, the JSON untouched.
	msg := `{"broadcast":true,"channel":"nodejs_notify","data":{"subject":"Hi \u00e9","body":"<b>x</b>"},"n":1.50}`
	e.expectAPI("POST", "/nodejs/publish", msg, 200, `{"status":"success","sent":2}`)
	a.expectMessage(msg)
	b.expectMessage(msg)
	if ev := e.event("publish"); ev.uid != 2 {
		t.Fatalf("publish hook sent %d", ev.uid)
	}
	pre.expectNothing(e)

	// Channel.
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"news","callback":"cb"}`, 200, `{"status":"success","sent":1}`)
	a.expectMessage(`{"channel":"news","callback":"cb"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"nothing"}`, 200, `{"status":"success","sent":0}`)

	// clientSocketId: the sender does not get its own message.
	ex := fmt.Sprintf(`{"broadcast":true,"clientSocketId":%q}`, a.id)
	e.expectAPI("POST", "/nodejs/publish", ex, 200, `{"status":"success","sent":1}`)
	b.expectMessage(ex)
	a.expectNothing(e)
	ex = fmt.Sprintf(`{"channel":"news","clientSocketId":%q}`, a.id)
	e.expectAPI("POST", "/nodejs/publish", ex, 200, `{"status":"success","sent":0}`)
	a.expectNothing(e)
	b.expectNothing(e)
	pre.expectNothing(e)
}

func TestAPIChannels(t *testing.T) {
	e := newEnv(t, nil)
	e.expectAPI("POST", "/nodejs/channel/add/my_Chan1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/channel/add/my_Chan1", ``, 200, `{"status":"failed","error":"Channel name 'my_Chan1' already exists."}`)
	e.expectAPI("POST", "/nodejs/channel/add/bad-name", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	e.expectAPI("POST", "/nodejs/channel/add/bad%20name", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	e.expectAPI("GET", "/nodejs/channel/check/my_Chan1", ``, 200, `{"status":"success","result":true}`)
	e.expectAPI("GET", "/nodejs/channel/check/other", ``, 200, `{"status":"success","result":false}`)
	e.expectAPI("GET", "/nodejs/channel/check/my_Chan1/", ``, 200, `{"status":"success","result":true}`)
	e.expectAPI("GET", "/nodejs/channel/check/bad-name", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	e.expectAPI("POST", "/nodejs/channel/remove/my_Chan1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/channel/remove/my_Chan1", ``, 200, `{"status":"failed","error":"Non-existent channel name."}`)
	e.expectAPI("POST", "/nodejs/channel/remove/bad-name", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	e.expectAPI("GET", "/nodejs/channel/check/my_Chan1", ``, 200, `{"status":"success","result":false}`)
	// Optional body: client writable.
	e.expectAPI("POST", "/nodejs/channel/add/chat", `{"isClientWritable":true}`, 200, `{"status":"success"}`)
	if _, w, _ := e.b.store.Channel(t.Context(), "chat"); !w {
		t.Fatal("isClientWritable ignored")
	}
}

func TestAPIChannelRemoveStopsDelivery(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"news"}})
	a := e.dial()
	a.authenticate(e, "t1")
	e.expectAPI("POST", "/nodejs/channel/remove/news", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"news"}`, 200, `{"status":"success","sent":0}`)
	a.expectNothing(e)
}

func TestAPIUserChannel(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1})
	e.expectAPI("POST", "/nodejs/user/channel/add/ch/x1", ``, 200, `{"status":"failed","error":"Invalid uid."}`)
	e.expectAPI("POST", "/nodejs/user/channel/add/c-h/1", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	e.expectAPI("POST", "/nodejs/user/channel/add/ch/1", ``, 200, `{"status":"failed","error":"No active sessions for uid."}`)
	e.expectAPI("GET", "/nodejs/channel/check/ch", ``, 200, `{"status":"success","result":true}`)

	a1, a2 := e.dial(), e.dial()
	a1.authenticate(e, "t1")
	a2.authenticate(e, "t1")
	e.expectAPI("POST", "/nodejs/user/channel/add/ch/1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"ch"}`, 200, `{"status":"success","sent":2}`)
	a1.expectMessage(`{"channel":"ch"}`)
	a2.expectMessage(`{"channel":"ch"}`)

	// A reconnect from the cache keeps the channel, and is told so.
	a3 := e.dial()
	data := a3.authenticate(e, "t1")
	if !strings.Contains(data, `"channels":["ch"]`) {
		t.Fatalf("cached reply %s", data)
	}
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"ch"}`, 200, `{"status":"success","sent":3}`)
	for _, c := range []*client{a1, a2, a3} {
		c.expectMessage(`{"channel":"ch"}`)
	}

	e.expectAPI("POST", "/nodejs/user/channel/remove/ch/1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"ch"}`, 200, `{"status":"success","sent":0}`)
	a1.expectNothing(e)
	a4 := e.dial()
	if data := a4.authenticate(e, "t1"); !strings.Contains(data, `"channels":[]`) {
		t.Fatalf("cached reply after remove %s", data)
	}
	e.expectAPI("POST", "/nodejs/user/channel/remove/nope/1", ``, 200, `{"status":"failed","error":"Non-existent channel name."}`)
	e.expectAPI("POST", "/nodejs/user/channel/remove/ch/x", ``, 200, `{"status":"failed","error":"Invalid uid."}`)
	e.expectAPI("POST", "/nodejs/user/channel/remove/c-h/1", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
}

func TestAPIKick(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"c"}})
	e.drupal.setUser("t2", user{uid: 2, channels: []string{"c"}})
	a1, a2, b := e.dial(), e.dial(), e.dial()
	a1.authenticate(e, "t1")
	a2.authenticate(e, "t1")
	b.authenticate(e, "t2")
	e.expectAPI("POST", "/nodejs/user/kick/x", ``, 200, `{"status":"failed","error":"Invalid uid."}`)
	e.expectAPI("POST", "/nodejs/user/kick/1", ``, 200, `{"status":"success"}`)
	a1.expectDisconnect()
	a2.expectDisconnect()
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"c"}`, 200, `{"status":"success","sent":1}`)
	b.expectMessage(`{"channel":"c"}`)
	// The cache entry is gone: the next connection asks Drupal.
	before := e.drupal.authN.Load()
	a3 := e.dial()
	a3.authenticate(e, "t1")
	if e.drupal.authN.Load() != before+1 {
		t.Fatal("kicked token still cached")
	}
	e.expectAPI("POST", "/nodejs/user/kick/99", ``, 200, `{"status":"success"}`)
}

// Channel members leave by swapping with the last; whichever leaves, by
// disconnecting or user/channel/remove, the counts and deliveries stay right.
func TestChannelMembersLeave(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1, channels: []string{"c", "own_1"}})
	e.drupal.setUser("t2", user{uid: 2, channels: []string{"c"}})
	e.drupal.setUser("t3", user{uid: 3, channels: []string{"own_3", "c"}})
	a1, a2, b, d := e.dial(), e.dial(), e.dial(), e.dial()
	a1.authenticate(e, "t1")
	a2.authenticate(e, "t1")
	b.authenticate(e, "t2")
	d.authenticate(e, "t3")
	publish := func(sent int, to ...*client) {
		t.Helper()
		e.expectAPI("POST", "/nodejs/publish", `{"channel":"c"}`, 200, fmt.Sprintf(`{"status":"success","sent":%d}`, sent))
		for _, c := range to {
			c.expectMessage(`{"channel":"c"}`)
		}
	}
	publish(4, a1, a2, b, d)

	e.closeAndWait(a1) // the first member: the last takes its place
	publish(3, a2, b, d)
	ex := fmt.Sprintf(`{"channel":"c","clientSocketId":%q}`, d.id)
	e.expectAPI("POST", "/nodejs/publish", ex, 200, `{"status":"success","sent":2}`)
	a2.expectMessage(ex)
	b.expectMessage(ex)

	e.expectAPI("POST", "/nodejs/user/channel/remove/c/3", ``, 200, `{"status":"success"}`)
	publish(2, a2, b)
	d.expectNothing(e)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"own_3"}`, 200, `{"status":"success","sent":1}`)
	d.expectMessage(`{"channel":"own_3"}`)

	e.closeAndWait(b)
	publish(1, a2)
	e.expectAPI("POST", "/nodejs/user/channel/add/c/3", ``, 200, `{"status":"success"}`)
	publish(2, a2, d)

	e.expectAPI("POST", "/nodejs/channel/remove/c", ``, 200, `{"status":"success"}`)
	publish(0)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"own_1"}`, 200, `{"status":"success","sent":1}`)
	a2.expectMessage(`{"channel":"own_1"}`)
	a2.expectNothing(e)
	d.expectNothing(e)
	if st := e.stats(); st.Sockets != 2 || st.OnlineUsers != 3 {
		t.Fatalf("%+v", st) // user 2 is within its grace period
	}
}

func TestAPILogout(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1})
	e.drupal.setUser("t1b", user{uid: 1})
	a, other := e.dial(), e.dial()
	a.authenticate(e, "t1")
	other.authenticate(e, "t1b")
	e.expectAPI("POST", "/nodejs/user/logout/t1", ``, 200, `{"status":"success"}`)
	a.expectDisconnect()
	other.expectNothing(e)
	if st := e.stats(); st.AuthenticatedClients != 1 {
		t.Fatalf("%+v", st)
	}
	e.expectAPI("POST", "/nodejs/user/logout/unknown", ``, 200, `{"status":"success"}`)
}

func TestAPIAuthTokenChannel(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 0})
	e.expectAPI("POST", "/nodejs/authtoken/channel/add/ch/t1", ``, 200, `{"status":"failed","error":"Invalid parameters."}`)
	e.expectAPI("POST", "/nodejs/authtoken/channel/add/c-h/t1", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	a := e.dial()
	a.authenticate(e, "t1")
	e.expectAPI("POST", "/nodejs/authtoken/channel/add/ch/t1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"ch"}`, 200, `{"status":"success","sent":1}`)
	a.expectMessage(`{"channel":"ch"}`)
	// 1.0.13 crashed (HTTP 500) on an unknown token.
	e.expectAPI("POST", "/nodejs/authtoken/channel/remove/ch/unknown", ``, 200, `{"status":"failed","error":"Invalid parameters."}`)
	e.expectAPI("POST", "/nodejs/authtoken/channel/remove/nochannel/t1", ``, 200, `{"status":"failed","error":"Invalid parameters."}`)
	e.expectAPI("POST", "/nodejs/authtoken/channel/remove/c-h/t1", ``, 200, `{"status":"failed","error":"Invalid channel name."}`)
	e.expectAPI("POST", "/nodejs/authtoken/channel/remove/ch/t1", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"ch"}`, 200, `{"status":"success","sent":0}`)
	a.expectNothing(e)
}

func TestAPIDebugToggle(t *testing.T) {
	e := newEnv(t, nil)
	e.expectAPI("POST", "/nodejs/debug/toggle", `{"debug":true}`, 200, `{"status":"success","debug":true}`)
	if !e.b.Debug() {
		t.Fatal("debug not on")
	}
	e.expectAPI("POST", "/nodejs/debug/toggle", `{"debug":false}`, 200, `{"status":"success","debug":false}`)
	if e.b.Debug() {
		t.Fatal("debug not off")
	}
	e.expectAPI("POST", "/nodejs/debug/toggle", `{"debug":"yes"}`, 200, `{"status":"success","debug":"yes"}`)
	e.expectAPI("POST", "/nodejs/debug/toggle", `{}`, 200, `{"error":"Required parameters are missing."}`)
	e.expectAPI("POST", "/nodejs/debug/toggle", ``, 200, `{"error":"Required parameters are missing."}`)
}

func TestAPIHealth(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("t1", user{uid: 1})
	e.drupal.setUser("t0", user{uid: 0})
	a, b := e.dial(), e.dial()
	a.authenticate(e, "t1")
	b.authenticate(e, "t0")
	e.dial() // pre-auth: not counted
	e.expectAPI("POST", "/nodejs/content/token", `{"channel":"w","token":"k","notifyOnDisconnect":false}`, 200, `{"status":"success"}`)
	e.expectAPI("GET", "/nodejs/health/check", ``, 200,
		`{"authenticatedClients":2,"sockets":2,"onlineUsers":1,"tokenChannels":1,"contentTokens":{"w":{"tokens":{"k":{"channel":"w","token":"k","notifyOnDisconnect":false}},"sockets":{}}},"status":"success","version":"1.0.13"}`)
	st, _ := e.api("HEAD", "/nodejs/health/check", ``)
	if st != 200 {
		t.Fatalf("HEAD %d", st)
	}
}

func TestAPIPresenceListValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.expectAPI("GET", "/nodejs/user/presence-list/x/1,2", ``, 200, `{"status":"failed","error":"Invalid uid."}`)
	e.expectAPI("GET", "/nodejs/user/presence-list/1/2,x", ``, 200, `{"status":"failed","error":"Invalid uid."}`)
	e.expectAPI("GET", "/nodejs/user/presence-list/1/2,3", ``, 200, `{"status":"success"}`)
	e.expectAPI("POST", "/nodejs/user/presence-list/1/2,3", ``, 404, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot POST /nodejs/user/presence-list/1/2,3</pre>\n</body>\n</html>\n")
}
