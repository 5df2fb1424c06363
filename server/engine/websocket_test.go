package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

func openWS(t *testing.T, ts *testServer, query string) (*testutil.WSClient, openPacket) {
	t.Helper()
	c, err := testutil.DialWS(wsURL(ts, query))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	data, bin := c.ReadData(t)
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
	_ = c.SendText("4hello €𝄞")
	if d, bin := c.ReadData(t); bin || d != "4hello €𝄞" {
		t.Fatalf("text echo %q", d)
	}
	_ = c.SendBinary([]byte{1, 2, 3, 4})
	if d, bin := c.ReadData(t); !bin || d != "\x01\x02\x03\x04" {
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
	_ = c.SendBinary([]byte{4, 9, 8, 7})
	if d, bin := c.ReadData(t); !bin || d != "\x04\x09\x08\x07" {
		t.Fatalf("binary echo %q %v", d, bin)
	}
	_ = c.SendText("2")
	if d, _ := c.ReadData(t); d != "3" {
		t.Fatalf("pong %q", d)
	}
}

func TestWebSocketHeartbeatV4(t *testing.T) {
	ts := newServer(t, engine.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	c, _ := openWS(t, ts, "EIO=4&transport=websocket")
	for i := 0; i < 3; i++ {
		if d, _ := c.ReadData(t); d != "2" {
			t.Fatalf("ping %q", d)
		}
		_ = c.SendText("3")
	}
	if d, _ := c.ReadData(t); d != "2" {
		t.Fatalf("ping %q", d)
	}
	if got := ts.waitClosed(); got != engine.ReasonPingTimeout {
		t.Fatalf("reason %v", got)
	}
	c.ReadClose(t)
}

func TestWebSocketCloseReasons(t *testing.T) {
	tt := []struct {
		name string
		send func(c *testutil.WSClient)
		want engine.CloseReason
	}{
		{"client close packet", func(c *testutil.WSClient) { _ = c.SendText("1") }, engine.ReasonClientClose},
		{"undecodable packet", func(c *testutil.WSClient) { _ = c.SendText("abc") }, engine.ReasonParseError},
		{"invalid UTF-8 in a text frame", func(c *testutil.WSClient) { _ = c.WriteFrame(0x81, []byte{'4', 0xff, 0xfe}) }, engine.ReasonTransportError},
		{"client ping on EIO=4", func(c *testutil.WSClient) { _ = c.SendText("2") }, engine.ReasonProtocolError},
		{"TCP close", func(c *testutil.WSClient) { c.Close() }, engine.ReasonTransportClose},
		{"RSV bits set", func(c *testutil.WSClient) { _ = c.WriteFrame(0x81|0x30, []byte("4x")) }, engine.ReasonTransportError},
		{"reserved opcode", func(c *testutil.WSClient) { _ = c.WriteFrame(0x83, []byte("4x")) }, engine.ReasonTransportError},
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
				c.ReadClose(t)
			}
		})
	}
}

// TestWebSocketToleratedFrames pins down what nbio lets through rather than
// closing: an empty message is dropped, and an unmasked client frame (RFC 6455
// §5.1 says a server MUST close) is read like a masked one. Neither changes any
// state; the session goes on.
func TestWebSocketToleratedFrames(t *testing.T) {
	ts := newServer(t, engine.Config{})
	c, _ := openWS(t, ts, "EIO=4&transport=websocket")
	_ = c.SendText("")
	_ = c.WriteRaw([]byte{0x81, 2, '4', 'x'})
	if d, _ := c.ReadData(t); d != "4x" {
		t.Fatalf("echo %q", d)
	}
	if st := ts.eio.Stats(); st.Sessions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWebSocketMaxHTTPBufferSize(t *testing.T) {
	ts := newServer(t, engine.Config{MaxHTTPBufferSize: 1000})
	c, _ := openWS(t, ts, "EIO=4&transport=websocket")
	_ = c.SendText("4" + strings.Repeat("a", 999))
	if d, _ := c.ReadData(t); len(d) != 1000 {
		t.Fatalf("echo len %d", len(d))
	}
	_ = c.SendText("4" + strings.Repeat("a", 1000))
	if code := c.ReadClose(t); code != 1009 {
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
			c, err := testutil.DialWS(wsURL(ts, tc.query))
			if err != testutil.ErrHandshake || c.Resp.StatusCode != 400 {
				t.Fatalf("err %v", err)
			}
			body, _ := io.ReadAll(c.Resp.Body)
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
			c, err := testutil.DialWS(wsURL(ts, "EIO="+rev+"&transport=websocket&sid="+sid))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			send(50)
			_ = c.SendText("2probe")
			if d, _ := c.ReadData(t); d != "3probe" {
				t.Fatalf("probe reply %q", d)
			}
			send(50)
			// Polling is drained (or released with a noop) while the upgrade is pending.
			collectPoll(ts.get(q).body)
			send(50)
			_ = c.SendText("5")
			send(50)
			for len(got) < next {
				d, _ := c.ReadData(t)
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
			c2, err := testutil.DialWS(wsURL(ts, "EIO="+rev+"&transport=websocket&sid="+sid))
			if err != nil {
				t.Fatalf("second websocket: %v", err)
			}
			if code := c2.ReadClose(t); code != 1000 {
				t.Fatalf("second websocket closed with %d", code)
			}
			c2.Close()
			_ = c.SendText("4still")
			if d, _ := c.ReadData(t); d != "4still" {
				t.Fatalf("first websocket after the second: %q", d)
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
	c, err := testutil.DialWS(wsURL(ts, "EIO=4&transport=websocket&sid="+sid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SendText("2probe")
	if d, _ := c.ReadData(t); d != "3probe" {
		t.Fatalf("probe %q", d)
	}
	if r := <-held; r.body != "6" {
		t.Fatalf("held GET %q", r.body)
	}
	_ = c.SendText("5")
	_ = c.SendText("4after")
	if d, _ := c.ReadData(t); d != "4after" {
		t.Fatalf("echo %q", d)
	}
}

func TestUpgradeTimeoutKeepsPolling(t *testing.T) {
	ts := newServer(t, engine.Config{UpgradeTimeout: 50 * time.Millisecond})
	sid := ts.handshakeV4()
	c, err := testutil.DialWS(wsURL(ts, "EIO=4&transport=websocket&sid="+sid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SendText("2probe")
	if d, _ := c.ReadData(t); d != "3probe" {
		t.Fatalf("probe %q", d)
	}
	c.ReadClose(t) // the probe is dropped after UpgradeTimeout
	if st := ts.eio.Stats(); st.UpgradesAbandoned != 1 || st.Upgrades != 0 {
		t.Fatalf("stats %+v", st)
	}
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4still"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := ts.get(q); r.body != "4still" {
		t.Fatalf("poll %q", r.body)
	}
}

// TestWebSocketSlowConsumer: a client that stops reading fills the kernel's
// buffers, then nbio's bounded one; the session is closed as a slow consumer
// rather than buffering without end.
func TestWebSocketSlowConsumer(t *testing.T) {
	logs := &logBuffer{}
	ts := newServer(t, engine.Config{MaxQueueBytes: 64 << 10, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	_, op := openWS(t, ts, "EIO=4&transport=websocket") // and never read again
	s, ok := ts.eio.Session(op.SID)
	if !ok {
		t.Fatal("no session")
	}
	frame := engine.TextMessage([]byte(strings.Repeat("x", 64<<10)))
	var err error
	for i := 0; i < 2000 && err == nil; i++ { // at most 128 MiB
		err = s.Send(frame)
	}
	if err != engine.ErrSlowConsumer {
		t.Fatalf("err %v", err)
	}
	if got := ts.waitClosed(); got != engine.ReasonSlowConsumer {
		t.Fatalf("reason %v", got)
	}
	if l := logs.String(); !strings.Contains(l, "slow consumer cut off") || !strings.Contains(l, "sid="+op.SID+" transport=websocket limit_bytes=65536") {
		t.Fatalf("log:\n%s", l)
	}
}
