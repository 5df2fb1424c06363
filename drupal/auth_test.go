package drupal

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

func TestAuthValid(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("tok-7", user{uid: 7, channels: []string{"nodejs_user_7"}})
	c := e.dial()
	data := c.authenticate(e, "tok-7")
	want := fmt.Sprintf(`{"nodejsValidAuthToken":true,"uid":7,"authToken":"tok-7","clientId":%q,"channels":["nodejs_user_7"],"presenceUids":[],"contentTokens":[]}`, c.id)
	if data != want {
		t.Fatalf("clientAuthenticated data\n%s\nwant\n%s", data, want)
	}
	// userOnline reaches Drupal; the socket is in its channel.
	if m := e.drupal.nextMsg(t); string(m["messageType"]) != `"userOnline"` || string(m["uid"]) != "7" {
		t.Fatalf("backend got %v", m)
	}
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"nodejs_user_7","callback":"x","data":{"a":[1, 2]}}`, 200, `{"status":"success","sent":1}`)
	c.expectMessage(`{"channel":"nodejs_user_7","callback":"x","data":{"a":[1, 2]}}`)
}

func TestAuthMessageToDrupal(t *testing.T) {
	e := newEnv(t, nil)
	got := make(chan string, 1)
	e.drupal.setOverride(func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) bool {
		got <- r.PostForm.Get("messageJson")
		return false
	})
	c := e.dial()
	c.emit("authenticate", `{"authToken":"abc","contentTokens":{"ch":"t1"}}`, false)
	if m := <-got; m != `{"authToken":"abc","contentTokens":{"ch":"t1"},"messageType":"authenticate","clientId":"`+c.id+`"}` {
		t.Fatalf("messageJson %s", m)
	}
	c.expectDisconnect()
}

// When Drupal says no, the socket gets a Socket.IO disconnect (the client
// stays away); when Drupal could not answer, the socket's connection is
// closed instead, so the client reconnects and authenticates again.
func TestAuthFailures(t *testing.T) {
	const (
		disconnect = "1"   // Socket.IO DISCONNECT: io server disconnect
		reconnect  = "EOF" // Engine.IO close: transport close, the client comes back
	)
	status := func(code int, body string) func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) {
		return func(w http.ResponseWriter, _ *http.Request, _ map[string]json.RawMessage) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name  string
		reply func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage)
		want  string
	}{
		{"invalid token", nil, disconnect},
		{"status 404", status(404, `{"error":"Invalid service key."}`), disconnect},
		{"status 403", status(403, `Access denied`), disconnect},
		{"error field", status(200, `{"error":"Not implemented"}`), disconnect},
		{"wrong clientId", status(200, `{"nodejsValidAuthToken":true,"uid":1,"authToken":"tok","clientId":"someoneElse"}`), disconnect},
		{"status 500", status(500, ``), reconnect},
		{"status 503", status(503, `<html>Site under maintenance</html>`), reconnect},
		{"status 429", status(429, ``), reconnect},
		{"garbled", status(200, `{"nodejsValidAuthToken":tru`), reconnect},
		{"html", status(200, `<!DOCTYPE html><p>PHP Fatal error`), reconnect},
		{"slow", func(w http.ResponseWriter, r *http.Request, _ map[string]json.RawMessage) {
			<-r.Context().Done() // past the auth timeout
		}, reconnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *nodejsconfig.Config) { c.AuthTimeout = nodejsconfig.Duration(200 * time.Millisecond) })
			if tt.reply != nil {
				e.drupal.setOverride(func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) bool {
					tt.reply(w, r, msg)
					return true
				})
			}
			c := e.dial()
			other := e.dial()
			e.drupal.setUser("good", user{uid: 2})
			c.emit("authenticate", `{"authToken":"tok"}`, true)
			if got := c.next(); got != tt.want {
				t.Fatalf("client got %q, want %q", got, tt.want)
			}
			e.event("disconnect")
			if st := e.stats(); st.Sockets != 0 || st.AuthenticatedClients != 0 {
				t.Fatalf("stats after failure %+v", st)
			}
			// The failed socket gets no broadcast; others are unaffected.
			e.expectAPI("POST", "/nodejs/publish", `{"broadcast":true,"channel":"x"}`, 200, `{"status":"success","sent":0}`)
			other.expectNothing(e)
		})
	}
}

// Drupal down (connection refused): the client is sent to reconnect.
func TestAuthBackendDown(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.srv.Close()
	c := e.dial()
	c.emit("authenticate", `{"authToken":"tok"}`, true)
	if got := c.next(); got != "EOF" {
		t.Fatalf("client got %q, want its connection closed", got)
	}
}

func TestAuthBadPayloads(t *testing.T) {
	for _, payload := range []string{`"tok"`, `{}`, `{"authToken":""}`, `{"authToken":12}`, `null`} {
		t.Run(payload, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.dial()
			c.emit("authenticate", payload, true)
			c.expectDisconnect()
			if n := e.drupal.authN.Load(); n != 0 {
				t.Fatalf("%d backend calls", n)
			}
		})
	}
}

// The backend call never holds up the socket's reading side.
func TestAuthDoesNotBlockSocket(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	entered := make(chan struct{})
	e.drupal.setOverride(func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) bool {
		close(entered)
		<-release
		return false
	})
	e.drupal.setUser("tok", user{uid: 3})
	c := e.dial()
	c.emit("authenticate", `{"authToken":"tok"}`, true)
	<-entered
	// Authenticate again while in flight: ignored.
	c.emit("authenticate", `{"authToken":"tok"}`, false)
	id := c.emit("echo", `"ping"`, true)
	if got := c.next(); got != fmt.Sprintf(`3%d["ping"]`, id) {
		t.Fatalf("echo while authenticating: %s", got)
	}
	// Not authenticated yet: a broadcast does not reach it.
	e.expectAPI("POST", "/nodejs/publish", `{"broadcast":true}`, 200, `{"status":"success","sent":0}`)
	close(release)
	if p := c.next(); !strings.HasPrefix(p, `2["message",{"callback":"clientAuthenticated"`) {
		t.Fatalf("got %s", p)
	}
	if got := c.next(); got != `31[{"result":"success"}]` {
		t.Fatalf("ack %s", got)
	}
	c.expectNothing(e)
	if n := e.drupal.authN.Load(); n != 1 {
		t.Fatalf("%d backend calls", n)
	}
}

func TestAuthCachedPath(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("tok", user{uid: 4, channels: []string{"a"}})
	c1 := e.dial()
	data1 := c1.authenticate(e, "tok")
	c2 := e.dial()
	data2 := c2.authenticate(e, "tok") // push and ack, no backend call
	if data1 != data2 {
		t.Fatalf("cached push differs:\n%s\n%s", data1, data2)
	}
	if n := e.drupal.authN.Load(); n != 1 {
		t.Fatalf("%d backend calls, want 1", n)
	}
	e.expectAPI("POST", "/nodejs/publish", `{"channel":"a"}`, 200, `{"status":"success","sent":2}`)
	c1.expectMessage(`{"channel":"a"}`)
	c2.expectMessage(`{"channel":"a"}`)
	// A socket authenticating again with the same token gets the answer again.
	c1.emit("authenticate", `{"authToken":"tok"}`, true)
	c1.expectMessage(`{"callback":"clientAuthenticated","data":` + data1 + `}`)
	if got := c1.next(); got != `32[{"result":"success"}]` {
		t.Fatalf("ack %s", got)
	}
	// With another token it is disconnected.
	c1.emit("authenticate", `{"authToken":"other"}`, false)
	c1.expectDisconnect()

	// The cache expires after authCacheTTL.
	e.clk.Advance(time.Duration(nodejsconfig.DefaultAuthCacheTTL))
	c3 := e.dial()
	c3.authenticate(e, "tok")
	if n := e.drupal.authN.Load(); n != 2 {
		t.Fatalf("%d backend calls after expiry, want 2", n)
	}
}

func TestAuthSweepDropsExpired(t *testing.T) {
	e := newEnv(t, nil)
	e.drupal.setUser("tok", user{uid: 4})
	c := e.dial()
	c.authenticate(e, "tok")
	if st := e.stats(); st.AuthenticatedClients != 1 {
		t.Fatalf("%+v", st)
	}
	e.clk.Advance(time.Duration(nodejsconfig.DefaultAuthCacheTTL) + time.Minute)
	if st := e.stats(); st.AuthenticatedClients != 0 || st.Sockets != 1 {
		t.Fatalf("after sweep %+v", st)
	}
}

func TestAuthClientGoneDuringCall(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	e.drupal.setOverride(func(w http.ResponseWriter, r *http.Request, msg map[string]json.RawMessage) bool {
		once.Do(func() {
			close(entered)
			<-release
		})
		return false
	})
	e.drupal.setUser("tok", user{uid: 5})
	c := e.dial()
	c.emit("authenticate", `{"authToken":"tok"}`, true)
	<-entered
	_ = c.conn.Close()
	e.event("disconnect")
	close(release)
	// The call was cancelled; the state has no trace of the socket.
	other := e.dial()
	other.authenticate(e, "tok")
	if st := e.stats(); st.Sockets != 1 || st.OnlineUsers != 1 {
		t.Fatalf("%+v", st)
	}
}
