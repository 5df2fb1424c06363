package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/internal/testutil"
)

// presenceDrupal is a stand-in Drupal: auth token "user-N" is user N's
// session (channel nodejs_user_N), and the userOnline and userOffline
// messages it gets are recorded, in order, as "online N" and "offline N".
func presenceDrupal(t *testing.T) (nodejsconfig.BackendConfig, <-chan string) {
	t.Helper()
	presence := make(chan string, 100)
	tokenRE := regexp.MustCompile(`^user-([0-9]+)$`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		var msg struct {
			MessageType, AuthToken, ClientID string
			UID                              json.Number
		}
		_ = json.Unmarshal([]byte(r.PostForm.Get("messageJson")), &msg)
		switch msg.MessageType {
		case "authenticate":
			m := tokenRE.FindStringSubmatch(msg.AuthToken)
			if m == nil {
				fmt.Fprintf(w, `{"nodejsValidAuthToken":false,"uid":0,"authToken":%q,"clientId":%q}`, msg.AuthToken, msg.ClientID)
				return
			}
			fmt.Fprintf(w, `{"nodejsValidAuthToken":true,"uid":%s,"authToken":%q,"clientId":%q,"channels":["nodejs_user_%s"],"presenceUids":[]}`,
				m[1], msg.AuthToken, msg.ClientID, m[1])
		case "userOnline", "userOffline":
			presence <- strings.TrimPrefix(strings.ToLower(msg.MessageType), "user") + " " + msg.UID.String()
			_, _ = io.WriteString(w, `{"status":"success"}`)
		default:
			_, _ = io.WriteString(w, `{"status":"success"}`)
		}
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	return nodejsconfig.BackendConfig{Host: host, Port: p}, presence
}

func expectPresence(t *testing.T, presence <-chan string, want string) {
	t.Helper()
	select {
	case got := <-presence:
		if got != want {
			t.Fatalf("Drupal got %q, want %q", got, want)
		}
	case <-time.After(limitWait):
		t.Fatalf("Drupal did not get %q", want)
	}
}

// api calls the Drupal API of a with the service key.
func (a *opsApp) api(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.base+"/nodejs/"+path, strings.NewReader(body))
	req.Header.Set("NodejsServiceKey", "sk")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// A -redis node whose Redis is lost keeps answering Drupal with the reach it
// has (docs/CLUSTER.md, "What each route answers while Redis is lost"):
// publishes, channel membership, kick and logout act on its own sockets and
// succeed; what only the shared store knows (the channel registry, presence
// lists, content tokens) answers 503; health/check says "store":"unavailable".
// Presence waits: a user who comes meanwhile is announced to Drupal once,
// when Redis is back.
func TestAppDrupalAPIRedisLost(t *testing.T) {
	rs := redistest.Start(t)
	backend, presence := presenceDrupal(t)
	a := startOpsApp(t, nodejsconfig.Config{ServiceKey: "sk", Backend: backend, Redis: rs.URL()})
	dial := func(token string) *testutil.WSClient {
		t.Helper()
		c, err := testutil.DialWS(a.base + "/socket.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		readUntil(t, c, "0{")
		_ = c.SendText("40")
		readUntil(t, c, "40{")
		_ = c.SendText(`42["authenticate",{"authToken":"` + token + `"}]`)
		readUntil(t, c, `42["message",{"callback":"clientAuthenticated"`)
		return c
	}
	c5 := dial("user-5")
	expectPresence(t, presence, "online 5")
	if st, body := a.api(t, "GET", "health/check", ""); st != 200 || !strings.Contains(body, `"sockets":1,"onlineUsers":1`) {
		t.Fatalf("health/check with Redis: %d %s", st, body)
	}

	rs.Kill()
	c6 := dial("user-6") // authenticated by Drupal: the cache is away
	const unavailable = `{"status":"failed","error":"Service unavailable: the cluster store did not answer."}`
	for _, tc := range []struct {
		method, path, body string
		status             int
		reply              string
		to                 *testutil.WSClient // receives the publish
	}{
		{"GET", "health/check", "", 200, `{"authenticatedClients":0,"sockets":0,"onlineUsers":0,"tokenChannels":0,"contentTokens":{},"status":"success","version":"1.0.13","store":"unavailable"}`, nil},
		{"POST", "publish", `{"broadcast":true,"data":"b"}`, 200, `{"status":"success","sent":2}`, nil},
		{"POST", "publish", `{"channel":"nodejs_user_5","data":"u5"}`, 200, `{"status":"success","sent":1}`, c5},
		{"POST", "user/channel/add/news/6", "", 200, `{"status":"success"}`, nil},
		{"POST", "publish", `{"channel":"news","data":"n"}`, 200, `{"status":"success","sent":1}`, c6},
		{"POST", "authtoken/channel/add/news/user-5", "", 200, `{"status":"success"}`, nil},
		{"POST", "publish", `{"channel":"news","data":"n2"}`, 200, `{"status":"success","sent":2}`, nil},
		{"POST", "user/channel/remove/news/6", "", 200, `{"status":"success"}`, nil},
		{"POST", "authtoken/channel/remove/news/user-5", "", 200, `{"status":"success"}`, nil},
		{"POST", "channel/remove/nodejs_user_6", "", 200, `{"status":"success"}`, nil},
		{"POST", "publish", `{"channel":"nodejs_user_6","data":"gone"}`, 200, `{"status":"success","sent":0}`, nil},
		{"POST", "channel/add/x", "", 503, unavailable, nil},
		{"GET", "channel/check/x", "", 503, unavailable, nil},
		{"GET", "user/presence-list/5/1,2", "", 503, unavailable, nil},
		{"POST", "content/token", `{"channel":"w","token":"k"}`, 503, unavailable, nil},
		{"POST", "content/token/message", `{"channel":"w","data":"m"}`, 503, unavailable, nil},
		{"POST", "content/token/users", `{"channel":"w"}`, 503, unavailable, nil},
		{"POST", "debug/toggle", `{"debug":false}`, 200, `{"status":"success","debug":false}`, nil},
		{"POST", "user/logout/user-5", "", 200, `{"status":"success"}`, nil},
	} {
		st, body := a.api(t, tc.method, tc.path, tc.body)
		if st != tc.status || body != tc.reply {
			t.Fatalf("%s %s with Redis lost: %d %s, want %d %s", tc.method, tc.path, st, body, tc.status, tc.reply)
		}
		if tc.to != nil {
			readUntil(t, tc.to, `42["message",{"channel"`)
		}
	}
	readUntil(t, c5, "41") // logged out
	select {
	case got := <-presence:
		t.Fatalf("Drupal got %q while Redis was away; presence waits for it", got)
	default:
	}

	// Redis back, empty: the node announces its sockets; user 6 came
	// meanwhile and is announced once; user 5, whom Drupal knew online, is
	// restored without a second userOnline (and goes offline 3 store ticks
	// later, as docs/CLUSTER.md says).
	rs.Restart()
	expectPresence(t, presence, "online 6")
	deadline := time.Now().Add(limitWait)
	for {
		st, body := a.api(t, "GET", "health/check", "")
		if st == 200 && strings.Contains(body, `"sockets":1,"onlineUsers":2`) && !strings.Contains(body, "unavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health/check after Redis came back: %d %s", st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case got := <-presence:
		t.Fatalf("Drupal got %q as well", got)
	default:
	}
}
