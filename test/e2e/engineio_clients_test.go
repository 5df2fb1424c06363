package e2e

import (
	"slices"
	"testing"
	"time"
)

// engineIOClientResult is the JSON line clients/engineio-client.mjs prints.
type engineIOClientResult struct {
	OK              bool   `json:"ok"`
	Error           string `json:"error"`
	Version         string `json:"version"`
	Protocol        int    `json:"protocol"`
	SID             string `json:"sid"`
	TransportAtOpen string `json:"transportAtOpen"`
	TransportAtEnd  string `json:"transportAtEnd"`
	Upgraded        bool   `json:"upgraded"`
	Handshake       struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	} `json:"handshake"`
	Sent struct {
		AtOpen        int `json:"atOpen"`
		DuringUpgrade int `json:"duringUpgrade"`
		AfterUpgrade  int `json:"afterUpgrade"`
	} `json:"sent"`
	Received    int            `json:"received"`
	PacketsIn   map[string]int `json:"packetsIn"` // by packet type: open, message, ping, pong, noop, ...
	Heartbeats  int            `json:"heartbeats"`
	CloseReason string         `json:"closeReason"`
}

// TestEngineIOClients runs the real engine.io-client packages from npm against the
// suiteserver's Engine.IO echo endpoint (/engine.io/, pingInterval 300 ms,
// pingTimeout 200 ms, maxHttpBufferSize 1e6): text (non-ASCII, astral, empty),
// binary, 200+ ordered messages sent right after open (across the polling→websocket
// upgrade in default mode), heartbeats, and a clean close.
//
// engine.io-client 3.x JSONP (forceJSONP) is not covered here: that transport uses
// <script>, <form> and <iframe> elements and needs a browser document.
func TestEngineIOClients(t *testing.T) {
	node := requireNode(t, "eio3", "eio6")
	srv := startSuiteServer(t)
	tlsSrv := startSuiteServerTLS(t)

	clients := []struct {
		name     string // npm alias, see package.json
		protocol int    // EIO revision it speaks
		modes    []string
	}{
		// engine.io-client 3.x under Node never sees XHR2 (xmlhttprequest-ssl 1.x has
		// no responseType), so "polling" already sends b64=1 like "polling-b64".
		{"eio3", 3, []string{"websocket", "polling", "default", "polling-b64"}},
		{"eio6", 4, []string{"websocket", "polling", "default"}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, mode := range c.modes {
				t.Run(mode, func(t *testing.T) {
					var got engineIOClientResult
					res := runNodeScript(t, node, 90*time.Second, "engineio-client.mjs", &got,
						"--url", srv.URL, "--client", c.name, "--transports", mode)
					if !res.OK {
						t.Fatalf("client failed: %s\nclient stderr:\n%s", res.Line, res.Stderr)
					}
					t.Log(res.Line)
					checkEngineIOResult(t, c.protocol, mode, &got)
				})
			}
			// Over https/wss: polling, then the upgrade (tls_test.go).
			t.Run("default-tls", func(t *testing.T) {
				var got engineIOClientResult
				res := runNodeScript(t, node, 90*time.Second, "engineio-client.mjs", &got,
					"--url", tlsSrv.URL, "--client", c.name, "--transports", "default")
				if !res.OK {
					t.Fatalf("client failed: %s\nclient stderr:\n%s", res.Line, res.Stderr)
				}
				checkEngineIOResult(t, c.protocol, "default", &got)
			})
		})
	}
}

func checkEngineIOResult(t *testing.T, protocol int, mode string, got *engineIOClientResult) {
	t.Helper()
	if got.Protocol != protocol {
		t.Errorf("client protocol = %d, want EIO=%d", got.Protocol, protocol)
	}
	hs := got.Handshake
	if hs.SID == "" || hs.SID != got.SID {
		t.Errorf("handshake sid %q, socket id %q: want the same non-empty id", hs.SID, got.SID)
	}
	if hs.PingInterval != 300 || hs.PingTimeout != 200 {
		t.Errorf("handshake pingInterval=%d pingTimeout=%d, want 300 and 200", hs.PingInterval, hs.PingTimeout)
	}
	if protocol == 4 && hs.MaxPayload != 1e6 {
		t.Errorf("handshake maxPayload=%d, want 1000000", hs.MaxPayload)
	}
	wantOpen := "polling"
	if mode == "websocket" {
		wantOpen = "websocket"
		// Over a direct WebSocket there is nothing to upgrade to.
		if len(hs.Upgrades) != 0 {
			t.Errorf("handshake upgrades over websocket = %q, want []", hs.Upgrades)
		}
	} else if !slices.Contains(hs.Upgrades, "websocket") {
		t.Errorf("handshake upgrades over polling = %q, want [\"websocket\"]", hs.Upgrades)
	}
	if got.TransportAtOpen != wantOpen {
		t.Errorf("opened over %q, want %q", got.TransportAtOpen, wantOpen)
	}
	if mode == "default" {
		if !got.Upgraded || got.TransportAtEnd != "websocket" {
			t.Errorf("default mode: upgraded=%v, transport at the end %q; want an upgrade to websocket",
				got.Upgraded, got.TransportAtEnd)
		}
		if got.Sent.DuringUpgrade == 0 || got.Sent.AfterUpgrade == 0 {
			t.Errorf("default mode: sent %+v, want messages during and after the upgrade", got.Sent)
		}
	}
	if sent := got.Sent.AtOpen + got.Sent.DuringUpgrade + got.Sent.AfterUpgrade; got.Received != sent || sent < 200 {
		t.Errorf("received %d echoes for %d messages sent, want all of at least 200", got.Received, sent)
	}
	// EIO=3 heartbeats are client-initiated (the server only answers pong), EIO=4
	// ones server-initiated (the server only sends ping); the clients ignore a
	// packet in the wrong direction, so check for it here.
	wrong := map[int]string{3: "ping", 4: "pong"}[protocol]
	if n := got.PacketsIn[wrong]; n != 0 {
		t.Errorf("server sent %d %q packets on an EIO=%d session (wrong heartbeat direction)", n, wrong, protocol)
	}
	if got.Heartbeats < 2 {
		t.Errorf("saw %d heartbeats, want at least 2", got.Heartbeats)
	}
	if got.CloseReason != "forced close" {
		t.Errorf("close reason %q, want \"forced close\" (our close())", got.CloseReason)
	}
}
