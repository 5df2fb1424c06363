package e2e

// Socket.IO end-to-end tests: the real socket.io-client packages 2.x, 3.x and 4.x
// from npm (clients/socketio-client.mjs) against the suiteserver's Socket.IO endpoint.
//
// SERVER CONTRACT (what test/e2e/suiteserver serves at /socket.io/ for these tests)
//
// Process: `suiteserver -addr 127.0.0.1:PORT` (port 0 picks a free one) prints
// "listening on http://127.0.0.1:PORT" once it accepts connections. On SIGTERM it
// closes the Engine.IO sessions WITHOUT sending Socket.IO DISCONNECT packets (as Node's
// io.close(): clients see "transport close" and reconnect by themselves) and exits 0
// within 5 s. The restart test starts it again on the same port right after the old
// process exited.
//
// Settings: path /socket.io/, EIO=4 and EIO=3 (allowEIO3), pingInterval 300 ms,
// pingTimeout 200 ms (2 s in these tests: -sio-ping-timeout), maxHttpBufferSize 1e6, connectTimeout 1000 ms, CORS any origin.
// EIO=3 (socket.io-client 2.x, Socket.IO protocol v4): "/" is connected implicitly
// (the server sends "40" right after the Engine.IO open), other namespaces are
// CONNECTed as "40/nsp?query," and the namespace query is that socket's auth object;
// refusals are CONNECT_ERROR packets with a JSON string or object payload.
// EIO=4 (3.x/4.x, protocol v5): explicit CONNECT with an auth payload (default {}),
// reply 40{"sid":...}, refusals 44{"message":...,"data":...}.
//
// Namespace "/" (the official socket.io-protocol test suite's handlers, unchanged):
//   - on connection: socket.emit("auth", socket.handshake.auth). For 2.x clients the
//     auth of "/" is {} (their handshake query is available separately, not here).
//   - "message" (...args)          → emit "message-back" (...args), same args.
//   - "message-with-ack" (...args, ack) → ack(...args), same args (possibly none).
//
// Extra handlers on "/" for these tests:
//   - "join" (room, ack)            → the socket joins room, then ack().
//   - "leave" (room, ack)           → the socket leaves room, then ack().
//   - "to-room" (room, payload, ack) → emit "room-message" (payload) to every socket
//     of "/" in room, the sender included if it is in the room (io.to(room), not
//     socket.to(room)), then ack().
//   - "to-all" (payload, ack)       → emit "all-message" (payload) to every socket of
//     "/" (once per socket, whatever its rooms), then ack().
//   - "kick-me"                     → the server disconnects the socket with a
//     Socket.IO DISCONNECT packet (socket.disconnect()): the client gets reason
//     "io server disconnect" and does not reconnect by itself.
//   - "ask-me" (payload)            → emit "question" (payload) WITH an ack callback;
//     when the client acks with value v, emit "answer" (v).
//   - "binary-in-nested" (obj)      → emit "binary-out" (obj): the same structure,
//     binary values (at any depth) staying binary.
// Binary travels in events and acks in both directions (BINARY_EVENT and
// BINARY_ACK, with an ack id too); at most 10 attachments per packet are used, the
// Node parser's default maxAttachments.
//
// Namespace "/custom": on connection emit "auth" (socket.handshake.auth), as the
// suite does ({} for every client here).
//
// Namespace "/private": a connect middleware admits a v5 client (3.x/4.x) only if its
// CONNECT auth has token === "s3cret" (a v5 client's URL query goes to the
// Engine.IO handshake and does NOT count), and a v4 client (2.x) only if its
// namespace query has token=s3cret (io("http://host/private?token=s3cret")). Others
// are refused with message "not authorized" and data {"code":"E_AUTH"}: a v5 client
// gets connect_error with err.message "not authorized" and err.data
// {"code":"E_AUTH"}; a 2.x client gets the message string "not authorized" on its
// "error" event (44/private,"not authorized"). On an admitted connection: emit
// "welcome" ("private").
//
// Any other namespace (e.g. "/nope") is refused with "Invalid namespace": 3.x/4.x see
// connect_error "Invalid namespace"; 2.x sees it on its "error" event, either as the
// string (socket.io 2.x servers) or as {"message":"Invalid namespace"} (what Node
// socket.io 4 sends to EIO=3 clients); both are accepted.
//
// Scenarios (clients/socketio-client.mjs has the details), for each of sio2, sio3,
// sio4 × websocket, polling, default (polling, then the upgrade to websocket):
//   basic      connect, "auth" is {}, mixed arguments echoed deep-equal
//   acks       "message-with-ack" (mixed, none, 5 concurrent), "ask-me"/"question"/"answer"
//   binary     Buffers top-level and nested, in events and in acks, both directions
//   rooms      join/leave, "to-room" and "to-all" reach exactly the right sockets once
//   kick       "io server disconnect" and no reconnection attempt within 1 s
//   large      a 500,000-character string echoed intact
//   namespaces "/custom", "/private" refused and admitted, "/nope" refused
//   restart    the server restarts on the same port; the client reconnects by itself
//   auth       (sio3, sio4) the CONNECT auth {token:"abc",n:1} comes back in "auth"

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// socketIOClientResult is the JSON line clients/socketio-client.mjs prints.
type socketIOClientResult struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Client    string `json:"client"`
	Version   string `json:"version"`
	EIO       int    `json:"eio"` // the EIO query parameter the client sent
	Mode      string `json:"mode"`
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"` // at the end of the scenario

	Auth        json.RawMessage `json:"auth"`
	BinaryTypes []string        `json:"binaryTypes"`
	Counts      map[string]int  `json:"counts"`
	Reason      string          `json:"reason"`
	Chars       int             `json:"chars"`
	Namespaces  map[string]struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
		Shape   string          `json:"shape"`
		Welcome string          `json:"welcome"`
	} `json:"namespaces"`

	// restart
	TransportBefore   string `json:"transportBefore"`
	DisconnectReason  string `json:"disconnectReason"`
	Connects          int    `json:"connects"`
	ReconnectAttempts int    `json:"reconnectAttempts"`
	IDChanged         bool   `json:"idChanged"`
}

var socketIOClients = []struct {
	name     string // npm alias, see package.json
	major    string // version prefix
	eio      int    // Engine.IO revision it speaks
	socketIO int    // Socket.IO protocol revision
}{
	{"sio2", "2.", 3, 4},
	{"sio3", "3.", 4, 5},
	{"sio4", "4.", 4, 5},
}

var socketIOScenarios = []struct {
	name   string
	v5only bool
}{
	{"basic", false},
	{"acks", false},
	{"binary", false},
	{"rooms", false},
	{"kick", false},
	{"large", false},
	{"namespaces", false},
	{"restart", false},
	{"auth", true},
}

const (
	socketIOScriptTimeout = 60 * time.Second
	socketIOWaitTimeout   = "10000" // ms, every single wait inside the script
)

// TestSocketIOClients runs the socket.io-client scenarios against one shared
// suiteserver (the restart scenario gets a server of its own). Runs sharing the
// server cannot disturb each other: room names and broadcast payloads carry a
// per-run tag.
func TestSocketIOClients(t *testing.T) {
	node := requireNode(t, "sio2", "sio3", "sio4")
	srv := startSuiteServer(t)
	requireSocketIOEndpoint(t, srv.URL)

	for _, c := range socketIOClients {
		t.Run(c.name, func(t *testing.T) {
			for _, mode := range []string{"websocket", "polling", "default"} {
				t.Run(mode, func(t *testing.T) {
					for _, sc := range socketIOScenarios {
						if sc.v5only && c.socketIO != 5 {
							continue
						}
						t.Run(sc.name, func(t *testing.T) {
							runSocketIOScenario(t, node, srv.URL, c.name, c.major, c.eio, mode, sc.name)
						})
					}
				})
			}
		})
	}
}

// runSocketIOScenario runs one client × transport × scenario against url.
func runSocketIOScenario(t *testing.T, node, url, client, major string, eio int, mode, scenario string) {
	t.Helper()
	args := []string{"--client", client, "--transports", mode, "--scenario", scenario,
		"--timeout", socketIOWaitTimeout}
	var got socketIOClientResult
	if scenario == "restart" {
		got = runRestartScenario(t, node, args)
	} else {
		res := runNodeScript(t, node, socketIOScriptTimeout, "socketio-client.mjs", &got,
			append([]string{"--url", url}, args...)...)
		if !res.OK {
			t.Fatalf("client failed: %s\nclient stderr:\n%s", res.Line, res.Stderr)
		}
		t.Log(res.Line)
	}
	checkSocketIOResult(t, client, major, eio, mode, scenario, &got)
}

// TestSocketIOClientsTLS runs every client over https/wss in each transport
// mode (WebSocket, polling, polling then upgrade) through the basic and
// binary scenarios, against the suiteserver served as socketd serves TLS
// (internal/polltls). The clients trust the run's CA (tls_test.go).
func TestSocketIOClientsTLS(t *testing.T) {
	node := requireNode(t, "sio2", "sio3", "sio4")
	srv := startSuiteServerTLS(t)
	for _, c := range socketIOClients {
		t.Run(c.name, func(t *testing.T) {
			for _, mode := range []string{"websocket", "polling", "default"} {
				t.Run(mode, func(t *testing.T) {
					for _, sc := range []string{"basic", "binary"} {
						t.Run(sc, func(t *testing.T) {
							runSocketIOScenario(t, node, srv.URL, c.name, c.major, c.eio, mode, sc)
						})
					}
				})
			}
		})
	}
}

// runRestartScenario runs the restart scenario against a server of its own:
// the script prints {"ready":true,...} once connected; the test then stops the
// server, starts a new one on the same port and writes "restarted" to the script's
// stdin; the script checks that the client reconnects by itself and prints its result.
func runRestartScenario(t *testing.T, node string, args []string) socketIOClientResult {
	srv := startSuiteServer(t)
	requireSocketIOEndpoint(t, srv.URL)
	p := startNodeScript(t, node, socketIOScriptTimeout, "socketio-client.mjs",
		append([]string{"--url", srv.URL}, args...)...)
	ready := p.waitLine(t, 30*time.Second, `the {"ready":true} line`, func(line string) bool {
		var v struct {
			Ready bool `json:"ready"`
		}
		return json.Unmarshal([]byte(line), &v) == nil && v.Ready
	})
	t.Logf("client: %s", ready)
	srv.restart(t)
	p.send(t, "restarted")
	var got socketIOClientResult
	res := p.result(t, &got)
	if !res.OK {
		t.Fatalf("client failed: %s\nclient stderr:\n%s", res.Line, res.Stderr)
	}
	t.Log(res.Line)
	return got
}

// requireSocketIOEndpoint fails the test early, with one clear message, when the
// server does not serve Socket.IO handshakes at /socket.io/ for EIO=4 and EIO=3.
func requireSocketIOEndpoint(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, eio := range []string{"4", "3"} {
		url := base + "/socket.io/?EIO=" + eio + "&transport=polling"
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the server does not serve Socket.IO at /socket.io/ (EIO=%s): GET %s: %s %q",
				eio, url, resp.Status, body)
		}
	}
}

func checkSocketIOResult(t *testing.T, client, major string, eio int, mode, scenario string, got *socketIOClientResult) {
	t.Helper()
	if got.Client != client || got.Mode != mode || got.Scenario != scenario {
		t.Errorf("result for %s/%s/%s, want %s/%s/%s", got.Client, got.Mode, got.Scenario, client, mode, scenario)
	}
	if !strings.HasPrefix(got.Version, major) {
		t.Errorf("client version %q, want %s*", got.Version, major)
	}
	if got.EIO != eio {
		t.Errorf("client spoke EIO=%d, want %d", got.EIO, eio)
	}
	wantTransport := "websocket"
	if mode == "polling" {
		wantTransport = "polling"
	}
	if got.Transport != wantTransport {
		t.Errorf("transport at the end %q, want %q", got.Transport, wantTransport)
	}

	// The script has checked everything already; these re-check the headline facts
	// so that a script that passes too easily shows up here.
	switch scenario {
	case "basic":
		checkJSON(t, "auth", got.Auth, `{}`)
	case "binary":
		if len(got.BinaryTypes) == 0 {
			t.Errorf("no binary value was compared")
		}
	case "rooms":
		want := map[string]int{"A.room-message": 4, "A.all-message": 1, "B.room-message": 0, "B.all-message": 1}
		if !reflect.DeepEqual(got.Counts, want) {
			t.Errorf("room/broadcast counts %v, want %v", got.Counts, want)
		}
	case "kick":
		if got.Reason != "io server disconnect" {
			t.Errorf("disconnect reason %q, want \"io server disconnect\"", got.Reason)
		}
	case "large":
		if got.Chars != 500000 {
			t.Errorf("echoed %d chars, want 500000", got.Chars)
		}
	case "namespaces":
		ns := got.Namespaces
		if ns["private"].Welcome != "private" {
			t.Errorf(`"/private" with the token: welcome %q, want "private"`, ns["private"].Welcome)
		}
		if m := ns["private-no-token"].Message; m != "not authorized" {
			t.Errorf(`"/private" without token: refused with %q, want "not authorized"`, m)
		}
		if eio == 4 {
			checkJSON(t, `"/private" connect_error data`, ns["private-no-token"].Data, `{"code":"E_AUTH"}`)
		}
		if m := ns["nope"].Message; m != "Invalid namespace" {
			t.Errorf(`"/nope": refused with %q, want "Invalid namespace"`, m)
		}
	case "restart":
		if got.DisconnectReason == "" || got.Connects < 2 {
			t.Errorf("restart: disconnect reason %q, %d connects; want a disconnect and a reconnection",
				got.DisconnectReason, got.Connects)
		}
		if !got.IDChanged {
			t.Errorf("restart: the socket id did not change, so the client did not reach a new server")
		}
	case "auth":
		checkJSON(t, "auth", got.Auth, `{"token":"abc","n":1}`)
	}
}

// checkJSON compares two JSON texts as values.
func checkJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %s is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}
