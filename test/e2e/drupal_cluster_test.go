package e2e

// The Drupal bridge across nodes (issue 11's acceptance): two socketd
// processes (cmd/socketd -redis) on one redis-server, behind the round-robin
// proxy of nosticky_test.go where pages connect through it, with the stand-in
// Drupal of drupal_flow_test.go behind them. The module's PHP calls go to one
// node, then the other. TestDrupalFlow and TestBrowserDrupalPage run their
// bodies against such a cluster too; the tests here are what only a cluster
// has: the order of calls made through different nodes, presence with
// sockets on two nodes and a node killed, content tokens redeemed through
// another node, client-to-channel messages relayed between nodes, Redis
// killed and restarted, and a Node socket.io node on the same Redis.
//
// Sockets that must sit on a given node connect to it directly (the connect
// command's "url"); each test checks the node tag at the front of their sid.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/redistest"
)

const (
	// clusterDeadNodeBound is how soon the users of a node that died go
	// offline, as docs/CLUSTER.md ("Bounds", "Dead nodes") documents it:
	// within 20 s of the node's last lease renewal in the table of live
	// nodes (lease 15 s, heartbeat 5 s). The kill comes after that renewal,
	// so the bound holds from the kill too.
	clusterDeadNodeBound = 20 * time.Second
	// clusterBoundSlack is what the test allows beyond a documented bound:
	// the stand-in Drupal hears of the change over HTTP, on a loaded machine.
	clusterBoundSlack = 3 * time.Second
	// clusterLeaseTimeout bounds what waits for Redis restarted empty to be
	// reconciled: the nodes' next store tick (5 s), then 15 s before those
	// who left meanwhile go offline (docs/CLUSTER.md, "When Redis answers
	// again"), plus the grace period and the slack.
	clusterLeaseTimeout = 5*time.Second + 15*time.Second + 2*time.Second + clusterBoundSlack
)

// drupalAPI is where the module's PHP calls go: one node (*socketdServer) or
// the nodes of a cluster in turn (*alternatingAPI).
type drupalAPI interface {
	call(t testing.TB, method, path, body string) map[string]any
	post(t testing.TB, path, body string) map[string]any
	publish(t testing.TB, msg string, wantSent int)
}

// alternatingAPI sends each call to the next node, as a balancer in front of
// the nodes does with Drupal's requests (each PHP call is a request of its
// own, and Drupal does not know which node it reaches).
type alternatingAPI struct {
	nodes []*socketdServer
	next  atomic.Uint64
}

func (a *alternatingAPI) node() *socketdServer {
	return a.nodes[(a.next.Add(1)-1)%uint64(len(a.nodes))]
}

func (a *alternatingAPI) call(t testing.TB, method, path, body string) map[string]any {
	t.Helper()
	return a.node().call(t, method, path, body)
}

func (a *alternatingAPI) post(t testing.TB, path, body string) map[string]any {
	t.Helper()
	return a.node().post(t, path, body)
}

func (a *alternatingAPI) publish(t testing.TB, msg string, wantSent int) {
	t.Helper()
	a.node().publish(t, msg, wantSent)
}

// drupalCluster is two socketd nodes on one redis-server behind the
// round-robin proxy.
type drupalCluster struct {
	redis *redistest.Server
	nodes [2]*clusterNode
	proxy *roundRobin
	api   *alternatingAPI
}

// startDrupalCluster starts the cluster, its nodes calling drupal back, with
// the configuration keys of extra on each node.
func startDrupalCluster(t testing.TB, drupal *fakeDrupal, extra map[string]any) *drupalCluster {
	t.Helper()
	rs := redistest.Start(t)
	cl := &drupalCluster{redis: rs}
	for i := range cl.nodes {
		cl.nodes[i] = startClusterNodeWith(t, drupal.srv.URL, rs.URL(), extra)
	}
	if cl.nodes[0].tag == cl.nodes[1].tag {
		t.Fatalf("both nodes have tag %q", cl.nodes[0].tag)
	}
	cl.proxy = newRoundRobin(t, cl.nodes)
	cl.api = &alternatingAPI{nodes: []*socketdServer{cl.nodes[0].socketdServer, cl.nodes[1].socketdServer}}
	return cl
}

// checkProxied fails the test unless the proxy sent requests to both nodes.
func (cl *drupalCluster) checkProxied(t testing.TB) {
	t.Helper()
	for i, n := range cl.nodes {
		if cl.proxy.count[i].Load() == 0 {
			t.Errorf("the proxy sent nothing to node %s", n.tag)
		}
	}
}

// connectOn opens socket name directly on node i, authenticated with token,
// and checks that node owns it; more are further fields of the connect
// command. It returns the connect event.
func (cl *drupalCluster) connectOn(t testing.TB, c *drupalClients, i int, name, token string, more map[string]any) clientEvent {
	t.Helper()
	cmd := map[string]any{"url": cl.nodes[i].URL}
	for k, v := range more {
		cmd[k] = v
	}
	conn, _ := c.connectWith(t, name, token, cmd)
	if !strings.HasPrefix(conn.SID, cl.nodes[i].tag) {
		t.Fatalf("socket %s connected to node %s has sid %q", name, cl.nodes[i].tag, conn.SID)
	}
	return conn
}

// alive fails the test if a node that was not killed has exited.
func (cl *drupalCluster) alive(t testing.TB, nodes ...int) {
	t.Helper()
	for _, i := range nodes {
		select {
		case <-cl.nodes[i].done:
			t.Fatalf("node %s exited: %v\n%s", cl.nodes[i].tag, cl.nodes[i].err, cl.nodes[i].output)
		default:
		}
	}
}

// count is how many of the messages received so far match.
func (d *fakeDrupal) count(match func(map[string]any) bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, m := range d.messages {
		if match(m) {
			n++
		}
	}
	return n
}

// dump lists the messages received so far, one per line, with the time
// since the first.
func (d *fakeDrupal) dump() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	for _, m := range d.messages {
		line, _ := json.Marshal(m)
		b.WriteString("  " + string(line) + "\n")
	}
	return b.String()
}

// checkTransitions fails the test unless Drupal heard exactly online
// userOnline and offline userOffline messages for each uid.
func (d *fakeDrupal) checkTransitions(t testing.TB, online, offline int, uids ...int) {
	t.Helper()
	for _, uid := range uids {
		on, off := d.count(backendMessage("userOnline", "uid", uid)), d.count(backendMessage("userOffline", "uid", uid))
		if on != online || off != offline {
			t.Errorf("uid %d: Drupal heard userOnline %d times and userOffline %d times, want %d and %d; all it heard:\n%s",
				uid, on, off, online, offline, d.dump())
		}
	}
}

// drupalClusterTokens are the users of the cluster tests, each with its own
// user channel (nodejs_user_<uid>).
var drupalClusterTokens = func() map[string]drupalUser {
	m := map[string]drupalUser{}
	add := func(token string, uid int, channels ...string) {
		m[token] = drupalUser{UID: uid, Channels: append([]string{fmt.Sprintf("nodejs_user_%d", uid)}, channels...)}
	}
	// order
	add("tok-p", 21)
	add("tok-q", 22)
	add("tok-r", 23)
	add("tok-s", 24)
	// content tokens
	add("tok-t1", 25)
	add("tok-t2", 26)
	add("tok-t3", 27)
	add("tok-t4", 28)
	add("tok-t5", 28) // a second session of uid 28
	add("tok-t6", 29)
	// client messages
	add("tok-x", 51, "chat")
	add("tok-y", 52, "chat")
	add("tok-o", 53)
	// presence
	add("tok-v", 31)
	v := m["tok-v"]
	v.PresenceUIDs = []int{35} // B is told when uid 31 comes and goes
	m["tok-v"] = v
	add("tok-b", 35)
	add("tok-w", 32)
	add("tok-z", 33)
	add("tok-k", 34)
	// Redis restarted
	add("tok-a0", 41)
	add("tok-a1", 42)
	add("tok-l", 43)
	add("tok-n", 44)
	// interop
	add("tok-g", 61, "news")
	return m
}()

// orderSeq reads the seq of an e2eOrder message event.
func orderSeq(e clientEvent) (int, bool) {
	if e.Ev != "message" || e.callback() != "e2eOrder" {
		return 0, false
	}
	var m struct {
		Data struct {
			Seq int `json:"seq"`
		} `json:"data"`
	}
	if json.Unmarshal(e.Data, &m) != nil {
		return 0, false
	}
	return m.Data.Seq, true
}

// orderSeen waits for socket name's next event that stop accepts and returns
// the seqs of the e2eOrder messages it got up to it (that one included), in
// the order they came.
func orderSeen(t *testing.T, c *drupalClients, name, what string, stop func(clientEvent) bool) []int {
	t.Helper()
	e, skipped := c.next(t, name, drupalEventTimeout, what, stop)
	var seqs []int
	for _, ev := range append(skipped, e) {
		if seq, ok := orderSeq(ev); ok {
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// Order: Drupal's PHP makes its calls one after another, each through the
// next node; every socket gets their effects in that order. The steps are
// laid out so that an operation on a socket issued through the node that
// does not own it is followed by a publish through the node that does (which
// could deliver at once while the operation still travels through Redis),
// and the other way round.
func TestDrupalClusterOrder(t *testing.T) {
	node := requireNode(t, "sio2")
	drupal := newFakeDrupal(t, drupalClusterTokens)
	cl := startDrupalCluster(t, drupal, nil)
	c := startDrupalClients(t, node, "sio2", cl.proxy.srv.URL)
	// P and R on node 0, Q and S on node 1.
	ids := map[string]string{}
	for _, s := range []struct {
		name, token string
		node        int
	}{{"P", "tok-p", 0}, {"Q", "tok-q", 1}, {"R", "tok-r", 0}, {"S", "tok-s", 1}} {
		ids[s.name] = cl.connectOn(t, c, s.node, s.name, s.token, nil).ID
	}

	n := 0 // calls made: call n goes to node n%2
	via := func() *socketdServer { n++; return cl.nodes[(n-1)%2].socketdServer }
	broadcast := func(seq, sent int) {
		t.Helper()
		via().publish(t, fmt.Sprintf(`{"broadcast":true,"callback":"e2eOrder","data":{"seq":%d}}`, seq), sent)
	}
	channel := func(seq, sent int) {
		t.Helper()
		via().publish(t, fmt.Sprintf(`{"channel":"ord","callback":"e2eOrder","data":{"seq":%d}}`, seq), sent)
	}
	post := func(path string) {
		t.Helper()
		via().post(t, path, "")
	}
	broadcast(1, 4)                    // node 0
	post("user/channel/add/ord/22")    // node 1: Q, its own
	channel(2, 1)                      // node 0: Q
	post("user/channel/add/ord/21")    // node 1: P, node 0's
	channel(3, 2)                      // node 0: P (its own) and Q
	post("user/channel/remove/ord/22") // node 1: Q
	channel(4, 1)                      // node 0: P, not Q
	post("user/kick/23")               // node 1: R, node 0's
	broadcast(5, 3)                    // node 0: not R, which it owns
	broadcast(6, 3)                    // node 1
	post("user/logout/tok-s")          // node 0: S, node 1's
	broadcast(7, 2)                    // node 1: not S, which it owns
	// node 0: not Q, named as the browser that made Drupal's request (D7
	// stamps clientSocketId), which node 1 owns
	via().publish(t, fmt.Sprintf(`{"broadcast":true,"callback":"e2eOrder","clientSocketId":%q,"data":{"seq":8}}`, ids["Q"]), 1)
	want := map[string][]int{
		"P": {1, 3, 4, 5, 6, 7, 8},
		"Q": {1, 2, 3, 5, 6, 7},
		"R": {1},
		"S": {1, 5, 6},
	}
	// Joins and leaves, each through the node that does not own the socket,
	// each followed by a publish through the node that does: ten times for
	// each of P and Q, still alternating.
	seq := 9
	for range 10 {
		for _, u := range []struct {
			name string
			uid  int
		}{{"P", 21}, {"Q", 22}} {
			post(fmt.Sprintf("user/channel/add/ord2/%d", u.uid))
			via().publish(t, fmt.Sprintf(`{"channel":"ord2","callback":"e2eOrder","data":{"seq":%d}}`, seq), 1)
			want[u.name] = append(want[u.name], seq)
			post(fmt.Sprintf("user/channel/remove/ord2/%d", u.uid))
			via().publish(t, fmt.Sprintf(`{"channel":"ord2","callback":"e2eOrder","data":{"seq":%d}}`, seq+1), 0)
			seq += 2
		}
	}
	last := seq + 19
	for ; seq <= last; seq++ { // a burst, through both nodes in turn
		broadcast(seq, 2)
		want["P"] = append(want["P"], seq)
		want["Q"] = append(want["Q"], seq)
	}
	for _, name := range []string{"P", "Q"} {
		got := orderSeen(t, c, name, fmt.Sprintf("message %d", last), func(e clientEvent) bool {
			seq, ok := orderSeq(e)
			return ok && seq == last
		})
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s received %v, want %v", name, got, want[name])
		}
	}
	for _, name := range []string{"R", "S"} {
		got := orderSeen(t, c, name, "disconnect", func(e clientEvent) bool { return e.Ev == "disconnect" })
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s received %v before it was disconnected, want %v", name, got, want[name])
		}
	}
	// Nothing reached R or S after their disconnect: P and Q have the last
	// message, which went everywhere after everything else.
	c.mu.Lock()
	for _, e := range c.events {
		if seq, ok := orderSeq(e); ok && (e.Name == "R" || e.Name == "S") && !slices.Contains(want[e.Name], seq) {
			t.Errorf("%s received message %d", e.Name, seq)
		}
	}
	c.mu.Unlock()
	t.Logf("%d calls through alternating nodes", n)

	// The kick and the logout went through the node that did not own the
	// socket and dropped the cached authentication for every node: R and S
	// coming back, each on the other node, make Drupal answer again, where a
	// second page of P's, on the other node, is authenticated from the
	// shared cache.
	cl.connectOn(t, c, 1, "R2", "tok-r", nil)
	cl.connectOn(t, c, 0, "S2", "tok-s", nil)
	cl.connectOn(t, c, 1, "P2", "tok-p", nil)
	for token, want := range map[string]int{"tok-r": 2, "tok-s": 2, "tok-p": 1} {
		if got := drupal.count(backendMessage("authenticate", "authToken", token)); got != want {
			t.Errorf("Drupal was asked to authenticate %s %d times, want %d", token, got, want)
		}
	}
}

// Presence across nodes: a user with a socket on each node goes offline once,
// when both have closed; a node killed with SIGKILL takes its users offline
// within the documented bound, and a user who also has a socket on the node
// that lives stays online. Drupal hears one userOnline and one userOffline
// per transition.
func TestDrupalClusterPresence(t *testing.T) {
	node := requireNode(t, "sio2")
	drupal := newFakeDrupal(t, drupalClusterTokens)
	cl := startDrupalCluster(t, drupal, nil)
	c := startDrupalClients(t, node, "sio2", cl.proxy.srv.URL)
	online := func(uid int) {
		t.Helper()
		drupal.waitMessage(t, drupalEventTimeout, fmt.Sprintf("userOnline for uid %d", uid), backendMessage("userOnline", "uid", uid))
	}
	offline := func(uid int, within time.Duration) {
		t.Helper()
		drupal.waitMessage(t, within, fmt.Sprintf("userOffline for uid %d", uid), backendMessage("userOffline", "uid", uid))
	}
	closeSocket := func(name string) {
		t.Helper()
		c.cmd(t, map[string]any{"cmd": "close", "name": name})
		c.disconnected(t, name, drupalEventTimeout)
	}

	t.Run("two nodes", func(t *testing.T) {
		// B (uid 35, on node 1) is on uid 31's presence list.
		cl.connectOn(t, c, 1, "B", "tok-b", nil)
		online(35)
		cl.connectOn(t, c, 0, "V0", "tok-v", nil)
		online(31)
		cl.connectOn(t, c, 1, "V1", "tok-v", nil)
		closeSocket("V0")
		// Z comes and goes on node 0 after V0 closed: its userOffline, a
		// grace period later, is the fence by which a wrong userOffline for
		// V (which still has V1) would have come.
		cl.connectOn(t, c, 0, "Z", "tok-z", nil)
		online(33)
		closeSocket("Z")
		offline(33, drupalOfflineTimeout)
		if n := drupal.count(backendMessage("userOffline", "uid", 31)); n != 0 {
			t.Fatalf("uid 31 went offline %d times while its socket on node %s was open", n, cl.nodes[1].tag)
		}
		closed := time.Now()
		closeSocket("V1")
		offline(31, drupalOfflineTimeout)
		t.Logf("userOffline %v after the last of its two sockets closed", time.Since(closed).Round(time.Millisecond))
		// B heard once that uid 31 came, through node 0, and once that it
		// went.
		presence := func(e clientEvent) bool {
			return e.Ev == "message" && strings.Contains(e.Raw, `"presenceNotification"`)
		}
		off, skipped := c.next(t, "B", drupalEventTimeout, "presenceNotification offline for uid 31", func(e clientEvent) bool {
			return presence(e) && strings.Contains(e.Raw, `"offline"`)
		})
		var got []string
		for _, e := range append(skipped, off) {
			if presence(e) {
				got = append(got, e.Raw)
			}
		}
		if want := []string{`{"presenceNotification":{"uid":31,"event":"online"}}`, `{"presenceNotification":{"uid":31,"event":"offline"}}`}; !slices.Equal(got, want) {
			t.Errorf("B got %v, want %v", got, want)
		}
	})

	t.Run("node killed", func(t *testing.T) {
		// W only on node 1; K on both.
		cl.connectOn(t, c, 1, "W", "tok-w", nil)
		online(32)
		cl.connectOn(t, c, 0, "K0", "tok-k", nil)
		online(34)
		cl.connectOn(t, c, 1, "K1", "tok-k", nil)
		cl.nodes[1].kill(t)
		killed := time.Now()
		offline(32, clusterDeadNodeBound+clusterBoundSlack)
		took := time.Since(killed)
		t.Logf("userOffline for the killed node's user %v after SIGKILL (documented bound %v from its last lease renewal)", took.Round(time.Millisecond), clusterDeadNodeBound)
		// The dead node's users were all dropped at once: K, with a
		// socket on node 0, stays online.
		if n := drupal.count(backendMessage("userOffline", "uid", 34)); n != 0 {
			t.Fatalf("uid 34 went offline with node %s although its socket on node %s is open", cl.nodes[1].tag, cl.nodes[0].tag)
		}
		v := cl.nodes[0].call(t, http.MethodGet, "health/check", "")
		if v["onlineUsers"] != float64(1) || v["sockets"] != float64(1) {
			t.Errorf("health/check on node %s after node %s died: %v, want 1 user online with 1 socket", cl.nodes[0].tag, cl.nodes[1].tag, v)
		}
		closeSocket("K0")
		offline(34, drupalOfflineTimeout)
	})
	cl.alive(t, 0)
	drupal.checkTransitions(t, 1, 1, 31, 32, 33, 34, 35) // B went with node 1
}

// Content tokens: one posted through a node is redeemed once, through the
// other, and refused after, through either.
func TestDrupalClusterContentToken(t *testing.T) {
	node := requireNode(t, "sio2")
	drupal := newFakeDrupal(t, drupalClusterTokens)
	cl := startDrupalCluster(t, drupal, nil)
	c := startDrupalClients(t, node, "sio2", cl.proxy.srv.URL)
	token := `{"channel":"node_9","token":"ct-once","notifyOnDisconnect":false,"userData":{"title":"Node 9"}}`
	cl.nodes[0].post(t, "content/token", token)

	cl.connectOn(t, c, 1, "T1", "tok-t1", nil)
	c.cmd(t, map[string]any{"cmd": "emit", "name": "T1", "event": "join-token-channel",
		"data": map[string]any{"channel": "node_9", "contentToken": "ct-once"}})
	e, _ := c.next(t, "T1", drupalEventTimeout, "clientJoinedTokenChannel", func(e clientEvent) bool {
		return e.Ev == "message" && e.callback() == "clientJoinedTokenChannel"
	})
	var joined struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(e.Data, &joined)
	if !jsonEqual(joined.Data, []byte(token)) {
		t.Errorf("clientJoinedTokenChannel data %s, want the token posted through the other node %s", joined.Data, token)
	}

	// Pages bringing the used token with their authentication, on either
	// node: redeeming comes before clientAuthenticated, so it was refused by
	// the time connectOn returns.
	cl.connectOn(t, c, 0, "T2", "tok-t2", map[string]any{"contentTokens": map[string]string{"node_9": "ct-once"}})
	cl.connectOn(t, c, 1, "T3", "tok-t3", map[string]any{"contentTokens": map[string]string{"node_9": "ct-once"}})
	// The same path with a fresh token, posted through node 1 and brought
	// to node 0, is accepted: the refusals were the used token's.
	cl.nodes[1].post(t, "content/token", `{"channel":"node_9","token":"ct-fresh","notifyOnDisconnect":true}`)
	cl.connectOn(t, c, 0, "T4", "tok-t4", map[string]any{"contentTokens": map[string]string{"node_9": "ct-fresh"}})

	users := cl.nodes[1].call(t, http.MethodPost, "content/token/users", `{"channel":"node_9"}`)
	if want := map[string]any{"uids": []any{25.0, 28.0}, "authTokens": []any{}}; !reflect.DeepEqual(users["users"], want) {
		t.Errorf("content/token/users: %v, want users %v (T1 and T4)", users, want)
	}
	msg := `{"channel":"node_9","callback":"e2eContent","data":{"body":"node 9 changed"}}`
	cl.nodes[0].post(t, "content/token/message", msg)
	for _, name := range []string{"T1", "T4"} {
		if got, _ := c.message(t, name, "node 9 changed"); got.Raw != msg {
			t.Errorf("%s got %s, want %s", name, got.Raw, msg)
		}
	}
	c.proveAbsent(t, cl.api, 4, "node 9 changed", "T2", "T3")

	// notifyOnDisconnect: uid 28 has a socket in the channel on each node
	// (T4, and T5 with an auth token of its own), each through a notifying
	// token; both close. The channel hears once that uid 28 left, as on one
	// node, where the user's grace timer restarts on each disconnect. T6
	// (uid 29) leaves once that has come, so its own notification, a grace
	// period later, comes after any second one for uid 28.
	cl.nodes[0].post(t, "content/token", `{"channel":"node_9","token":"ct-t5","notifyOnDisconnect":true}`)
	cl.nodes[1].post(t, "content/token", `{"channel":"node_9","token":"ct-t6","notifyOnDisconnect":true}`)
	cl.connectOn(t, c, 1, "T5", "tok-t5", map[string]any{"contentTokens": map[string]string{"node_9": "ct-t5"}})
	cl.connectOn(t, c, 0, "T6", "tok-t6", map[string]any{"contentTokens": map[string]string{"node_9": "ct-t6"}})
	waitContentUsers(t, cl.nodes[0].socketdServer, "node_9", []any{25.0, 28.0, 29.0})
	for _, name := range []string{"T4", "T5"} {
		c.cmd(t, map[string]any{"cmd": "close", "name": name})
		c.disconnected(t, name, drupalEventTimeout)
	}
	notified := func(uid int) func(clientEvent) bool {
		return func(e clientEvent) bool {
			return e.Ev == "message" && strings.Contains(e.Raw, `"contentChannelNotification":true`) &&
				strings.Contains(e.Raw, fmt.Sprintf(`"uid":%d,`, uid))
		}
	}
	e28, _ := c.next(t, "T1", drupalEventTimeout, "contentChannelNotification for uid 28", notified(28))
	if want := `{"channel":"node_9","contentChannelNotification":true,"data":{"uid":28,"type":"disconnect"}}`; e28.Raw != want {
		t.Errorf("T1 got %s, want %s", e28.Raw, want)
	}
	c.cmd(t, map[string]any{"cmd": "close", "name": "T6"})
	e29, skipped := c.next(t, "T1", drupalEventTimeout, "contentChannelNotification for uid 29", notified(29))
	for _, e := range skipped {
		if notified(28)(e) {
			t.Errorf("T1 was told again that uid 28 left node_9: %s (then %s)", e.Raw, e29.Raw)
		}
	}
}

// waitContentUsers polls content/token/users through s (bounded) until the
// channel's uids are want: the members leave on their own nodes'
// schedules.
func waitContentUsers(t *testing.T, s *socketdServer, channel string, want []any) {
	t.Helper()
	deadline := time.Now().Add(drupalEventTimeout)
	for {
		v := s.call(t, http.MethodPost, "content/token/users", `{"channel":"`+channel+`"}`)
		users, _ := v["users"].(map[string]any)
		if reflect.DeepEqual(users["uids"], want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("content/token/users %s: %v, want uids %v", channel, v, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client-to-channel messages (clientsCanWriteToChannels) reach the channel's
// sockets on the other node, untouched, but not the sender; Drupal hears each
// once, from the sender's node.
func TestDrupalClusterClientMessages(t *testing.T) {
	node := requireNode(t, "sio2")
	drupal := newFakeDrupal(t, drupalClusterTokens)
	cl := startDrupalCluster(t, drupal, map[string]any{"clientsCanWriteToChannels": true})
	c := startDrupalClients(t, node, "sio2", cl.proxy.srv.URL)
	ids := map[string]string{
		"X": cl.connectOn(t, c, 0, "X", "tok-x", nil).ID, // uid 51, in chat
		"Y": cl.connectOn(t, c, 1, "Y", "tok-y", nil).ID, // uid 52, in chat
		"O": cl.connectOn(t, c, 1, "O", "tok-o", nil).ID, // uid 53, not
	}
	for _, m := range []struct {
		from, to string
		uid      int
	}{{"X", "Y", 51}, {"Y", "X", 52}} {
		body := "chat from " + m.from
		data := map[string]any{"type": "chatMessage", "channel": "chat", "data": map[string]any{"body": body, "n": 1}}
		c.cmd(t, map[string]any{"cmd": "emit", "name": m.from, "event": "message", "data": data})
		got, _ := c.message(t, m.to, body)
		sent, _ := json.Marshal(data)
		if !jsonEqual([]byte(got.Raw), sent) {
			t.Errorf("%s got %s, want what %s sent: %s", m.to, got.Raw, m.from, sent)
		}
		fwd := drupal.waitMessage(t, drupalEventTimeout, "clientToChannelMessage from "+m.from, func(msg map[string]any) bool {
			return msg["messageType"] == "clientToChannelMessage" && msg["clientId"] == ids[m.from]
		})
		if fwd["uid"] != float64(m.uid) || fwd["channel"] != "chat" {
			t.Errorf("Drupal got %v, want uid %d and channel chat", fwd, m.uid)
		}
		c.proveAbsent(t, cl.api, 3, body, m.from, "O")
	}
	if n := drupal.count(func(msg map[string]any) bool { return msg["messageType"] == "clientToChannelMessage" }); n != 2 {
		t.Errorf("Drupal heard %d clientToChannelMessage, want 2", n)
	}
}

// Redis killed and restarted mid-test: no node crashes, each keeps serving
// its own sockets (publishes through a node reach that node's sockets, new
// pages authenticate), and once Redis is back presence is reconciled as
// docs/CLUSTER.md ("Redis away") says: a user who came online meanwhile is
// announced once, one who left goes offline once, the others are not
// announced again; deliveries cross nodes again.
func TestDrupalClusterRedisRestart(t *testing.T) {
	node := requireNode(t, "sio2")
	drupal := newFakeDrupal(t, drupalClusterTokens)
	cl := startDrupalCluster(t, drupal, nil)
	c := startDrupalClients(t, node, "sio2", cl.proxy.srv.URL)
	cl.connectOn(t, c, 0, "A0", "tok-a0", nil) // uid 41
	cl.connectOn(t, c, 1, "A1", "tok-a1", nil) // uid 42
	cl.connectOn(t, c, 1, "L", "tok-l", nil)   // uid 43, leaves during the outage
	for _, uid := range []int{41, 42, 43} {
		drupal.waitMessage(t, drupalEventTimeout, fmt.Sprintf("userOnline for %d", uid), backendMessage("userOnline", "uid", uid))
	}

	cl.redis.Kill()
	local := func(i, seq, sent int, names ...string) {
		t.Helper()
		marker := fmt.Sprintf("outage-%d-%d", i, seq)
		cl.nodes[i].publish(t, `{"broadcast":true,"callback":"e2eOutage","data":{"body":"`+marker+`"}}`, sent)
		for _, n := range names {
			c.message(t, n, marker)
		}
	}
	local(0, 1, 1, "A0")
	local(1, 1, 2, "A1", "L")
	for _, n := range cl.nodes {
		v := n.call(t, http.MethodGet, "health/check", "")
		if v["status"] != "success" || v["store"] != "unavailable" {
			t.Errorf("health/check on node %s with Redis away: %v, want status success and store unavailable", n.tag, v)
		}
	}
	// A page opened during the outage is authenticated (Drupal is asked)
	// and reached through its node.
	cl.connectOn(t, c, 0, "N", "tok-n", nil) // uid 44
	cl.nodes[0].publish(t, `{"channel":"nodejs_user_44","callback":"e2eOutage","data":{"body":"to N"}}`, 1)
	c.message(t, "N", "to N")
	c.cmd(t, map[string]any{"cmd": "close", "name": "L"})
	c.disconnected(t, "L", drupalEventTimeout)
	// The client reports its own close at once; node 1 may count L until
	// the close reaches it, so this publish's count is not checked.
	cl.nodes[1].post(t, "publish", `{"broadcast":true,"callback":"e2eOutage","data":{"body":"after L"}}`)
	c.message(t, "A1", "after L")

	cl.redis.Restart()
	restarted := time.Now()
	drupal.waitMessage(t, clusterLeaseTimeout, "userOnline for uid 44, who came online while Redis was away", backendMessage("userOnline", "uid", 44))
	t.Logf("userOnline for the user who came during the outage %v after Redis restarted", time.Since(restarted).Round(time.Millisecond))
	drupal.waitMessage(t, clusterLeaseTimeout, "userOffline for uid 43, who left while Redis was away", backendMessage("userOffline", "uid", 43))
	t.Logf("userOffline for the user who left during the outage %v after Redis restarted", time.Since(restarted).Round(time.Millisecond))

	// Across nodes again: a publish through node 0 reaches node 1's socket.
	// The adapter resubscribes on its own schedule (backoff): retry,
	// bounded, until the count says every node answered.
	deadline := time.Now().Add(clusterLeaseTimeout)
	for i := 0; ; i++ {
		marker := fmt.Sprintf("back-%d", i)
		v := cl.nodes[0].post(t, "publish", `{"broadcast":true,"callback":"e2eBack","data":{"body":"`+marker+`"}}`)
		if v["sent"] == float64(3) {
			c.message(t, "A1", marker)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish through node %s after Redis restarted: %v, want sent 3 (A0, A1, N)", cl.nodes[0].tag, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	v := cl.nodes[1].call(t, http.MethodGet, "health/check", "")
	if _, ok := v["store"]; ok || v["onlineUsers"] != float64(3) || v["sockets"] != float64(3) {
		t.Errorf("health/check after Redis restarted: %v, want 3 users online with 3 sockets and no store key", v)
	}
	cl.alive(t, 0, 1)
	drupal.checkTransitions(t, 1, 0, 41, 42, 44)
	drupal.checkTransitions(t, 1, 1, 43)
	// And they go offline once each.
	for _, name := range []string{"A0", "A1", "N"} {
		c.cmd(t, map[string]any{"cmd": "close", "name": name})
	}
	for _, uid := range []int{41, 42, 44} {
		drupal.waitMessage(t, drupalOfflineTimeout, fmt.Sprintf("userOffline for %d", uid), backendMessage("userOffline", "uid", uid))
	}
	drupal.checkTransitions(t, 1, 1, 41, 42, 43, 44)
}

// Issue 10's Drupal interop: a Node socket.io 4.8 node on
// @socket.io/redis-adapter 8.3 (clients/cluster-node.mjs) shares the Redis
// of a socketd node; its clients in Drupal's rooms (docs/CLUSTER.md) get
// what Drupal publishes through socketd: drupal:authenticated a broadcast,
// channel:<name> a channel's messages.
func TestDrupalClusterNodeInterop(t *testing.T) {
	node := requireNode(t, "sio2", "sio4", "socket.io", "@socket.io/redis-adapter", "redis")
	drupal := newFakeDrupal(t, drupalClusterTokens)
	rs := redistest.Start(t)
	sd := startClusterNode(t, drupal.srv.URL, rs.URL())
	nodeNode := startServer(t, node, "clients/cluster-node.mjs", "--redis", rs.URL(), "--name", "node")
	p := startPuppet(t, node, 2*time.Minute)
	p.connect("N1", "sio4", nodeNode.URL, "websocket", nil)
	p.call("N1", "join", "drupal:authenticated")
	p.call("N1", "join", "channel:news")
	p.connect("N2", "sio4", nodeNode.URL, "websocket", nil)
	p.call("N2", "join", "channel:other")
	c := startDrupalClients(t, node, "sio2", sd.URL)
	c.connect(t, "G", "tok-g") // uid 61, in news

	same := func(msg string) func(json.RawMessage) bool {
		return func(arg json.RawMessage) bool { return jsonEqual(arg, []byte(msg)) }
	}
	from := p.mark()
	// Node nodes deliver a counted broadcast but do not count
	// (server/adapter/redisadapter's doc): sent is socketd's sockets.
	broadcast := `{"broadcast":true,"callback":"e2eInterop","data":{"body":"to everyone"}}`
	sd.publish(t, broadcast, 1)
	news := `{"channel":"news","callback":"e2eInterop","data":{"body":"news"}}`
	sd.publish(t, news, 1)
	other := `{"channel":"other","callback":"e2eInterop","data":{"body":"other"}}`
	sd.publish(t, other, 0)
	for _, msg := range []string{broadcast, news} {
		p.waitEvent(from, "N1", "message", same(msg))
		if got, _ := c.message(t, "G", "e2eInterop"); got.Raw != msg {
			t.Errorf("G got %s, want %s", got.Raw, msg)
		}
	}
	// N2 got the last publish, after the others: it got none of them.
	p.waitEvent(from, "N2", "message", same(other))
	for name, msgs := range map[string][]string{"N1": {broadcast, news}, "N2": {other}} {
		if n := p.count(from, name, "message", nil); n != len(msgs) {
			t.Errorf("%s on the Node node got %d messages, want %d", name, n, len(msgs))
		}
	}
	p.done()
}
