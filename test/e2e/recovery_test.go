package e2e

// Connection-state recovery end-to-end (issue 13's acceptance): the real
// socket.io-client 4.8 (clients/recovery-client.mjs) against the suiteserver
// with -recovery (recovery on, socket.io's maxDisconnectionDuration), on one
// node and across two nodes on one redis-server.
//
// CONTRACT of the recovery test events, on "/" of a suiteserver started with
// -recovery (suiteserver/recovery.go; heartbeats every 2 s with a 5 s timeout,
// as on a cluster node), besides the socket.io-client tests' "join",
// "to-room" and "to-all":
//   - "stream" (room, tag, count, everyMs, ack) → ack({count}) at once, then
//     io.to(room).emit("seq", tag, i) for i = 0..count-1, one every everyMs ms.
//   - "state" (ack) → ack({id, recovered, rooms}) of the asking socket.

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/redistest"
)

type recoveryResult struct {
	Version          string            `json:"version"`
	Recovered        bool              `json:"recovered"`
	SameID           bool              `json:"sameId"`
	InRoom           bool              `json:"inRoom"`
	ServerRecovered  bool              `json:"serverRecovered"`
	DisconnectReason string            `json:"disconnectReason"`
	Replayed         int               `json:"replayed"`
	Duplicates       int               `json:"duplicates"`
	Missing          int               `json:"missing"`
	Received         int               `json:"received"`
	RoomMessages     int               `json:"roomMessages"`
	Args             []json.RawMessage `json:"args"`
}

const recoveryScriptTimeout = 60 * time.Second

func runRecovery(t *testing.T, node string, args ...string) recoveryResult {
	t.Helper()
	var got recoveryResult
	res := runNodeScript(t, node, recoveryScriptTimeout, "recovery-client.mjs", &got, args...)
	if !res.OK {
		t.Fatalf("client failed: %s\nclient stderr:\n%s", res.Line, res.Stderr)
	}
	t.Log(res.Line)
	return got
}

// checkRecovered checks what recovery-client.mjs's recover scenario reports
// (the script has checked the stream itself: every event once, in order).
func checkRecovered(t *testing.T, got recoveryResult) {
	t.Helper()
	if !got.Recovered || !got.ServerRecovered || !got.SameID || !got.InRoom {
		t.Errorf("recovered %v (server %v), same id %v, in its room %v: want all true", got.Recovered, got.ServerRecovered, got.SameID, got.InRoom)
	}
	if got.Replayed == 0 {
		t.Errorf("nothing was replayed: the client missed no packet, the cut came too late")
	}
}

func TestRecovery(t *testing.T) {
	node := requireNode(t, "sio2", "sio3", "sio4")
	suite := buildBinary(t, "./suiteserver")
	const window = 2 * time.Second
	srv := startServer(t, suite, "-addr", "127.0.0.1:0", "-recovery", window.String())
	requireSocketIOEndpoint(t, srv.URL)
	for _, mode := range []string{"websocket", "polling"} {
		t.Run("recover/"+mode, func(t *testing.T) {
			checkRecovered(t, runRecovery(t, node, "--scenario", "recover", "--transports", mode, "--url", srv.URL))
		})
	}
	fresh := func(t *testing.T, what string, got recoveryResult) {
		t.Helper()
		if got.Recovered || got.SameID || got.InRoom || got.RoomMessages != 0 {
			t.Errorf("%s: recovered %v, same id %v, in the room %v, %d room messages; want a new session and nothing replayed",
				what, got.Recovered, got.SameID, got.InRoom, got.RoomMessages)
		}
	}
	t.Run("expire", func(t *testing.T) {
		fresh(t, "after maxDisconnectionDuration", runRecovery(t, node, "--scenario", "expire", "--url", srv.URL,
			"--wait", fmt.Sprint((window+time.Second).Milliseconds())))
	})
	t.Run("bound", func(t *testing.T) {
		// A server that keeps 10 packets; 20 are broadcast while the client is away.
		small := startServer(t, suite, "-addr", "127.0.0.1:0", "-recovery", "1m", "-recovery-max-packets", "10")
		fresh(t, "past the store's bound", runRecovery(t, node, "--scenario", "expire", "--url", small.URL, "--flood", "20"))
	})
	// Clients that cannot recover: 2.x (Socket.IO v4) gets no offset. 3.x speaks
	// v5 like 4.x and cannot be told apart: it gets the offset as a last
	// argument, as from Node socket.io with recovery on.
	for client, want := range map[string]int{"sio2": 1, "sio3": 2, "sio4": 2} {
		t.Run("plain/"+client, func(t *testing.T) {
			got := runRecovery(t, node, "--scenario", "plain", "--client", client, "--url", srv.URL)
			if len(got.Args) != want {
				t.Errorf("%s got arguments %s, want %d", client, got.Args, want)
			}
		})
	}
}

// The client reconnects to another node of the cluster: its session and the
// packets it missed come from Redis.
func TestRecoveryCluster(t *testing.T) {
	node := requireNode(t, "sio4")
	rs := redistest.Start(t)
	suite := buildBinary(t, "./suiteserver")
	var nodes []*testServer
	for i := range 2 {
		nodes = append(nodes, startServer(t, suite, "-addr", "127.0.0.1:0", "-redis", rs.URL(), "-name", fmt.Sprintf("go%d", i), "-recovery", "10s"))
	}
	for _, mode := range []string{"websocket", "polling"} {
		t.Run(mode, func(t *testing.T) {
			got := runRecovery(t, node, "--scenario", "recover", "--transports", mode, "--url", nodes[0].URL, "--url2", nodes[1].URL)
			checkRecovered(t, got)
		})
	}
}

// A client moves between a socketd node and a Node socket.io node on
// @socket.io/redis-streams-adapter 0.3 (clients/streams-node.mjs) sharing one
// Redis: each restores the other's session and replays what the other
// stored. Node nodes read the stream as their bus, so socketd's stored
// broadcasts reach a Node node's clients live too; socketd nodes do not read
// it, so the Node node's stream must be over before the client comes to
// socketd (what it missed is replayed from the stream). On the Node node a
// packet can come twice, or not at all, when it is stored while the session
// is restored: the Node adapter replays and delivers from the stream without
// sorting the two out (seen in one run of many: one duplicate). That is the
// Node node's to fix; what is checked here is that the two read each other.
func TestRecoveryStreamsAdapter(t *testing.T) {
	node := requireNode(t, "sio4", "socket.io", "@socket.io/redis-streams-adapter", "redis")
	rs := redistest.Start(t)
	suite := buildBinary(t, "./suiteserver")
	goNode := startServer(t, suite, "-addr", "127.0.0.1:0", "-redis", rs.URL(), "-name", "go", "-recovery", "10s")
	nodeNode := startServer(t, node, "clients/streams-node.mjs", "--redis", rs.URL(), "--window", "10000")
	t.Run("socketd to node", func(t *testing.T) {
		got := runRecovery(t, node, "--scenario", "recover", "--url", goNode.URL, "--url2", nodeNode.URL, "--tolerant")
		checkRecovered(t, got)
		if got.Duplicates+got.Missing > 0 {
			t.Logf("the Node node delivered %d events twice and lost %d (its restore races its stream reader)", got.Duplicates, got.Missing)
		}
	})
	t.Run("node to socketd", func(t *testing.T) {
		checkRecovered(t, runRecovery(t, node, "--scenario", "recover", "--url", nodeNode.URL, "--url2", goNode.URL,
			"--count", "40", "--every", "1", "--cut", "10"))
	})
}
