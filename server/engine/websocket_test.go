package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/server/engine"
)

func openWS(t *testing.T, ts *testServer, query string) (*wsClient, openPacket) {
	t.Helper()
	c, err := dialWS(wsURL(ts, query))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.close)
	data, bin := c.readData(t)
	if bin || !strings.HasPrefix(data, "0{") {
		t.Fatalf("first frame %q", data)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(data[1:]), &op); err != nil {
		t.Fatal(err)
	}
	return c, op
}

func TestWebSocketEchoV4(t *testing.T) {
	ts := newServer(t, engine.Config{})
	c, op := openWS(t, ts, "EIO=4&transport=websocket")
	if len(op.Upgrades) != 0 || op.MaxPayload == nil || *op.MaxPayload != 1e6 {
		t.Fatalf("open %+v", op)
	}
	_ = c.sendText("4hello €𝄞")
	if d, bin := c.readData(t); bin || d != "4hello €𝄞" {
		t.Fatalf("text echo %q", d)
	}
	_ = c.sendBinary([]byte{1, 2, 3, 4})
	if d, bin := c.readData(t); !bin || d != "\x01\x02\x03\x04" {
		t.Fatalf("binary echo %q %v", d, bin)
	}
}

func TestWebSocketEchoV3(t *testing.T) {
	ts := newServer(t, engine.Config{})
	c, op := openWS(t, ts, "EIO=3&transport=websocket")
	if op.MaxPayload != nil {
		t.Fatal("EIO=3 open packet has maxPayload")
	}
	// EIO=3 binary frames carry the message type byte.
	_ = c.sendBinary([]byte{4, 9, 8, 7})
	if d, bin := c.readData(t); !bin || d != "\x04\x09\x08\x07" {
		t.Fatalf("binary echo %q %v", d, bin)
	}
	_ = c.sendText("2")
	if d, _ := c.readData(t); d != "3" {
		t.Fatalf("pong %q", d)
	}
}

func TestWebSocketHeartbeatV4(t *testing.T) {
	ts := newServer(t, engine.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	c, _ := openWS(t, ts, "EIO=4&transport=websocket")
	for i := 0; i < 3; i++ {
		if d, _ := c.readData(t); d != "2" {
			t.Fatalf("ping %q", d)
		}
		_ = c.sendText("3")
	}
	if d, _ := c.readData(t); d != "2" {
		t.Fatalf("ping %q", d)
	}
	if got := ts.waitClosed(); got != engine.ReasonPingTimeout {
		t.Fatalf("reason %v", got)
	}
	c.readClose(t)
}

func TestWebSocketCloseReasons(t *testing.T) {
	tt := []struct {
		name string
		send func(c *wsClient)
		want engine.CloseReason
	}{
		{"client close packet", func(c *wsClient) { _ = c.sendText("1") }, engine.ReasonClientClose},
		{"undecodable packet", func(c *wsClient) { _ = c.sendText("abc") }, engine.ReasonParseError},
		{"empty text frame", func(c *wsClient) { _ = c.sendText("") }, engine.ReasonParseError},
		{"client ping on EIO=4", func(c *wsClient) { _ = c.sendText("2") }, engine.ReasonProtocolError},
		{"TCP close", func(c *wsClient) { c.close() }, engine.ReasonTransportClose},
		{"RSV bits set", func(c *wsClient) { _ = c.writeFrame(0x81|0x30, []byte("4x")) }, engine.ReasonTransportError},
		{"reserved opcode", func(c *wsClient) { _ = c.writeFrame(0x83, []byte("4x")) }, engine.ReasonTransportError},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, engine.Config{})
			c, _ := openWS(t, ts, "EIO=4&transport=websocket")
			tc.send(c)
			if got := ts.waitClosed(); got != tc.want {
				t.Fatalf("reason %v, want %v", got, tc.want)
			}
			if tc.want != engine.ReasonTransportClose {
				c.readClose(t)
			}
		})
	}
}

func TestWebSocketMaxHTTPBufferSize(t *testing.T) {
	ts := newServer(t, engine.Config{MaxHTTPBufferSize: 1000})
	c, _ := openWS(t, ts, "EIO=4&transport=websocket")
	_ = c.sendText("4" + strings.Repeat("a", 999))
	if d, _ := c.readData(t); len(d) != 1000 {
		t.Fatalf("echo len %d", len(d))
	}
	_ = c.sendText("4" + strings.Repeat("a", 1000))
	if code := c.readClose(t); code != 1009 {
		t.Fatalf("close code %d, want 1009", code)
	}
	if got := ts.waitClosed(); got != engine.ReasonPayloadTooLarge {
		t.Fatalf("reason %v", got)
	}
}

func TestWebSocketRefusedBeforeUpgrade(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	tt := []struct{ name, query, code string }{
		{"missing EIO", "transport=websocket", `"code":5`},
		{"EIO 5", "EIO=5&transport=websocket", `"code":5`},
		{"EIO abc", "EIO=abc&transport=websocket", `"code":5`},
		{"missing transport", "EIO=4", `"code":0`},
		{"unknown transport", "EIO=4&transport=foo", `"code":0`},
		{"polling transport with upgrade headers", "EIO=4&transport=polling", `"code":3`},
		{"unknown sid", "EIO=4&transport=websocket&sid=nope", `"code":1`},
		{"wrong revision for sid", "EIO=3&transport=websocket&sid=" + sid, `"code":3`},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialWS(wsURL(ts, tc.query))
			if err != errHandshake || c.resp.StatusCode != 400 {
				t.Fatalf("err %v", err)
			}
			body, _ := io.ReadAll(c.resp.Body)
			if !strings.Contains(string(body), tc.code) {
				t.Fatalf("body %q, want %s", body, tc.code)
			}
		})
	}
}

// TestUpgradeLosesNothing queues messages before, during and after the probe and
// checks that polling plus WebSocket deliver every one once, in order.
func TestUpgradeLosesNothing(t *testing.T) {
	for _, rev := range []string{"3", "4"} {
		t.Run("EIO="+rev, func(t *testing.T) {
			ts := newServer(t, engine.Config{})
			var sid string
			if rev == "3" {
				sid, _ = ts.handshakeV3("")
			} else {
				sid = ts.handshakeV4()
			}
			s, _ := ts.eio.Session(sid)
			q := "EIO=" + rev + "&transport=polling&sid=" + sid
			next := 0
			send := func(n int) {
				for i := 0; i < n; i++ {
					if err := s.Send(engine.TextMessage(fmt.Appendf(nil, "m%03d", next))); err != nil {
						t.Fatal(err)
					}
					next++
				}
			}
			var got []string
			collectPoll := func(body string) {
				for _, p := range splitPayload(t, rev, body) {
					if p[0] == '4' {
						got = append(got, p[1:])
					}
				}
			}
			send(50)
			collectPoll(ts.get(q).body)
			send(50)
			c, err := dialWS(wsURL(ts, "EIO="+rev+"&transport=websocket&sid="+sid))
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			send(50)
			_ = c.sendText("2probe")
			if d, _ := c.readData(t); d != "3probe" {
				t.Fatalf("probe reply %q", d)
			}
			send(50)
			// Polling is drained (or released with a noop) while the upgrade is pending.
			collectPoll(ts.get(q).body)
			send(50)
			_ = c.sendText("5")
			send(50)
			for len(got) < next {
				d, _ := c.readData(t)
				if d[0] == '4' {
					got = append(got, d[1:])
				}
			}
			for i, m := range got {
				if m != fmt.Sprintf("m%03d", i) {
					t.Fatalf("message %d is %q", i, m)
				}
			}
			if r := ts.get(q); r.status != 400 {
				t.Fatalf("GET after upgrade: %d", r.status)
			}
			if c2, err := dialWS(wsURL(ts, "EIO="+rev+"&transport=websocket&sid="+sid)); err != errHandshake || c2.resp.StatusCode != 400 {
				t.Fatalf("second websocket: %v", err)
			}
			if s.Transport() != engine.WebSocket {
				t.Fatal("not upgraded")
			}
		})
	}
}

// splitPayload splits a text polling payload of either revision.
func splitPayload(t *testing.T, rev, body string) []string {
	t.Helper()
	if rev == "4" {
		return strings.Split(body, "\x1e")
	}
	var out []string
	for body != "" {
		colon := strings.IndexByte(body, ':')
		var n int
		if _, err := fmt.Sscanf(body[:colon], "%d", &n); err != nil {
			t.Fatalf("bad payload %q", body)
		}
		out = append(out, body[colon+1:colon+1+n]) // ASCII only here
		body = body[colon+1+n:]
	}
	return out
}

func TestUpgradeHeldGETReleasedWithNoop(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	held := make(chan response, 1)
	go func() { held <- ts.get(q) }()
	waitHeld(t, ts, sid)
	c, err := dialWS(wsURL(ts, "EIO=4&transport=websocket&sid="+sid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	_ = c.sendText("2probe")
	if d, _ := c.readData(t); d != "3probe" {
		t.Fatalf("probe %q", d)
	}
	if r := <-held; r.body != "6" {
		t.Fatalf("held GET %q", r.body)
	}
	_ = c.sendText("5")
	_ = c.sendText("4after")
	if d, _ := c.readData(t); d != "4after" {
		t.Fatalf("echo %q", d)
	}
}

func TestUpgradeTimeoutKeepsPolling(t *testing.T) {
	ts := newServer(t, engine.Config{UpgradeTimeout: 50 * time.Millisecond})
	sid := ts.handshakeV4()
	c, err := dialWS(wsURL(ts, "EIO=4&transport=websocket&sid="+sid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	_ = c.sendText("2probe")
	if d, _ := c.readData(t); d != "3probe" {
		t.Fatalf("probe %q", d)
	}
	c.readClose(t) // the probe is dropped after UpgradeTimeout
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4still"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := ts.get(q); r.body != "4still" {
		t.Fatalf("poll %q", r.body)
	}
}
