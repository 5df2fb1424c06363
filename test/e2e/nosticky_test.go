package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/redistest"
)

// No sticky sessions, end to end: two socketd processes on one redis-server
// behind a round-robin proxy written here (every HTTP request and every
// WebSocket upgrade goes to the next node, as a plain balancer does), and the
// Drupal flow's clients: socket.io-client 2.x with its default transports
// (polling, then the upgrade), 2.x on polling only, and 4.x. Every request
// that lands on the node that does not own its session must be forwarded.
//
// Heartbeats are short (1 s) so that many polls and POSTs cross the proxy, and
// the ping timeout long (30 s) so that a close the owner sees within the test's
// bounds was seen at once, not by a timeout.

const (
	noStickyPingInterval = 1000  // ms
	noStickyPingTimeout  = 30000 // ms
)

// clusterNode is a socketd process of the test cluster.
type clusterNode struct {
	*socketdServer
	tag string // the node tag its sids start with
}

var nodeTagRE = regexp.MustCompile(`msg="cluster node joined" tag=(\S+)`)

// startClusterNode starts socketd with -redis and short heartbeats.
func startClusterNode(t testing.TB, backendURL, redisURL string) *clusterNode {
	t.Helper()
	return startClusterNodeWith(t, backendURL, redisURL, nil)
}

// startClusterNodeWith is startClusterNode with more configuration keys
// (replacing the defaults, socketOptions included) and command-line arguments.
func startClusterNodeWith(t testing.TB, backendURL, redisURL string, extra map[string]any, args ...string) *clusterNode {
	t.Helper()
	bin := buildBinary(t, "github.com/socketd/socketd/cmd/socketd")
	bu, err := url.Parse(backendURL)
	if err != nil {
		t.Fatal(err)
	}
	bport, _ := strconv.Atoi(bu.Port())
	cfg := map[string]any{
		"host":       "127.0.0.1",
		"serviceKey": drupalServiceKey,
		"backend": map[string]any{
			"scheme": "http", "host": bu.Hostname(), "port": bport, "basePath": "/", "messagePath": "nodejs/message",
		},
		"socketOptions": map[string]any{"pingInterval": noStickyPingInterval, "pingTimeout": noStickyPingTimeout},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	cfgJSON, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(t.TempDir(), "nodejs.config.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		s, out, ok := tryStartSocketd(t, bin, append([]string{"-config", cfgPath, "-port", strconv.Itoa(port), "-redis", redisURL}, args...)...)
		if ok {
			s.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
			m := nodeTagRE.FindStringSubmatch(s.output.String())
			if m == nil {
				t.Fatalf("socketd with -redis logged no node tag; output:\n%s", s.output)
			}
			return &clusterNode{socketdServer: &socketdServer{testServer: s, api: s.URL + "/nodejs/"}, tag: m[1]}
		}
		lastOut = out
		if !strings.Contains(out, "address already in use") {
			break
		}
	}
	t.Fatalf("socketd did not start; output:\n%s", lastOut)
	return nil
}

// roundRobin is the balancer: each request, upgrades included, to the next node.
// A node marked out gets nothing (a balancer whose health check failed); with
// failover on, a request whose connection is refused, or a GET answered 503,
// goes to the other node, as nginx's proxy_next_upstream error http_503 does.
type roundRobin struct {
	srv      *httptest.Server
	next     atomic.Uint64
	count    [2]atomic.Uint64 // requests sent to each node
	out      [2]atomic.Bool
	failover atomic.Bool
	targets  [2]*url.URL
	// base sends the requests. Its idle connections close sooner than the
	// nodes' (5 s keep-alive), so that a request never goes out on one a
	// node is closing.
	base *http.Transport
}

func newRoundRobin(t testing.TB, nodes [2]*clusterNode) *roundRobin {
	t.Helper()
	rr := &roundRobin{}
	for i, n := range nodes {
		u, err := url.Parse(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		rr.targets[i] = u
	}
	rr.base = http.DefaultTransport.(*http.Transport).Clone()
	rr.base.IdleConnTimeout = time.Second
	rr.base.MaxIdleConnsPerHost = 64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := (rr.next.Add(1) - 1) % 2
			if rr.out[i].Load() && !rr.out[1-i].Load() {
				i = 1 - i
			}
			rr.count[i].Add(1)
			pr.SetURL(rr.targets[i])
			pr.Out.Host = pr.In.Host
		},
		Transport:     rr,
		FlushInterval: -1, // a held poll is streamed, as balancers do
		// A client killed mid-request is part of the test, not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	rr.srv = httptest.NewServer(proxy)
	t.Cleanup(rr.srv.Close)
	t.Cleanup(rr.base.CloseIdleConnections)
	return rr
}

// RoundTrip sends req to the node Rewrite chose, or with failover to the
// other one when that one refuses it.
func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	if !rr.failover.Load() {
		return rr.base.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := rr.base.RoundTrip(req)
	var op *net.OpError
	refused := err != nil && errors.As(err, &op) && op.Op == "dial"
	unavailable := err == nil && resp.StatusCode == http.StatusServiceUnavailable && req.Method == http.MethodGet
	if !refused && !unavailable {
		return resp, err
	}
	other := rr.targets[0]
	if req.URL.Host == other.Host {
		other = rr.targets[1]
	}
	if unavailable {
		_ = resp.Body.Close()
	}
	retry := req.Clone(req.Context())
	retry.URL.Scheme, retry.URL.Host = other.Scheme, other.Host
	if body != nil {
		retry.Body = io.NopCloser(bytes.NewReader(body))
	}
	return rr.base.RoundTrip(retry)
}

// noStickyTokens: one user per socket, each with its own channel.
var noStickyTokens = map[string]drupalUser{
	"tok-1": {UID: 11, Channels: []string{"nodejs_user_11"}},
	"tok-2": {UID: 12, Channels: []string{"nodejs_user_12"}},
}

func TestNoStickySessions(t *testing.T) {
	node := requireNode(t, "sio2", "sio4")
	for _, tc := range []struct {
		name, client string
		transports   []string
	}{
		{"sio2", "sio2", nil},
		{"sio2_polling", "sio2", []string{"polling"}},
		{"sio4", "sio4", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := redistest.Start(t)
			drupal := newFakeDrupal(t, noStickyTokens)
			nodes := [2]*clusterNode{startClusterNode(t, drupal.srv.URL, rs.URL()), startClusterNode(t, drupal.srv.URL, rs.URL())}
			if nodes[0].tag == nodes[1].tag {
				t.Fatalf("both nodes have tag %q", nodes[0].tag)
			}
			rr := newRoundRobin(t, nodes)
			c := startDrupalClients(t, node, tc.client, rr.srv.URL)
			runNoSticky(t, c, drupal, nodes, tc.transports)
			for i, n := range nodes {
				if rr.count[i].Load() == 0 {
					t.Errorf("the proxy sent nothing to node %s", n.tag)
				}
			}
		})
	}
}

func runNoSticky(t *testing.T, c *drupalClients, drupal *fakeDrupal, nodes [2]*clusterNode, transports []string) {
	owner := map[string]*clusterNode{}
	upgraded := map[string]bool{} // on WebSocket when Socket.IO connected (4.x can be)
	for _, s := range []struct {
		name, token string
		uid         int
	}{{"A", "tok-1", 11}, {"B", "tok-2", 12}} {
		// Connect and authenticate: the handshake lands on one node, the
		// authenticate POST and the poll that brings clientAuthenticated back
		// on whichever node the proxy picks.
		cmd := map[string]any{"cmd": "connect", "name": s.name, "token": s.token}
		if transports != nil {
			cmd["transports"] = transports
		}
		c.cmd(t, cmd)
		conn, _ := c.next(t, s.name, drupalEventTimeout, "connect", func(e clientEvent) bool { return e.Ev == "connect" })
		upgraded[s.name] = conn.Transport == "websocket"
		if upgraded[s.name] && transports != nil {
			t.Fatalf("socket %s on websocket with transports %v", s.name, transports)
		}
		c.next(t, s.name, drupalEventTimeout, "clientAuthenticated", func(e clientEvent) bool {
			return e.Ev == "message" && e.callback() == "clientAuthenticated"
		})
		drupal.waitMessage(t, drupalEventTimeout, "userOnline", backendMessage("userOnline", "uid", s.uid))
		for _, n := range nodes {
			if strings.HasPrefix(conn.SID, n.tag) {
				owner[s.name] = n
			}
		}
		if owner[s.name] == nil {
			t.Fatalf("socket %s: sid %q has the tag of neither node (%s, %s)", s.name, conn.SID, nodes[0].tag, nodes[1].tag)
		}
	}
	if transports == nil {
		for _, name := range []string{"A", "B"} {
			if upgraded[name] {
				continue
			}
			c.find(t, name, drupalEventTimeout, "upgrade to websocket", func(e clientEvent) bool {
				return e.Ev == "upgrade" && e.Transport == "websocket"
			})
		}
	}
	// Server pushes, one after the other, published through the socket's
	// owner and through the other node (the cluster adapter carries those):
	// over polling each answer comes through whichever node the GET hit.
	for i := 0; i < 4; i++ {
		for name, uid := range map[string]int{"A": 11, "B": 12} {
			marker := fmt.Sprintf("push-%s-%d", name, i)
			via := owner[name]
			if i%2 == 1 {
				via = nodes[0]
				if via == owner[name] {
					via = nodes[1]
				}
			}
			via.publish(t, fmt.Sprintf(`{"channel":"nodejs_user_%d","callback":"e2ePush","data":{"body":%q}}`, uid, marker), 1)
			c.message(t, name, marker)
		}
	}
	// A closes: its owner tells Drupal the user left after the 2 s grace, far
	// sooner than the 31 s the ping timeout would take.
	c.cmd(t, map[string]any{"cmd": "close", "name": "A"})
	closed := time.Now()
	drupal.waitMessage(t, drupalOfflineTimeout, "userOffline for A", backendMessage("userOffline", "uid", 11))
	t.Logf("A: userOffline %v after its close", time.Since(closed).Round(time.Millisecond))
	// B's process dies: no close packet, only its connections dropping, which
	// the bridges pass on to the owner at once.
	killed := time.Now()
	_ = c.p.cmd.Process.Kill()
	drupal.waitMessage(t, drupalOfflineTimeout, "userOffline for B after its client died", backendMessage("userOffline", "uid", 12))
	t.Logf("B: userOffline %v after its client was killed", time.Since(killed).Round(time.Millisecond))
	c.closeAndWait(5 * time.Second)
	for _, n := range nodes {
		v := n.call(t, http.MethodGet, "health/check", "")
		if v["status"] != "success" {
			t.Errorf("node %s health/check: %v", n.tag, v)
		}
	}
}
