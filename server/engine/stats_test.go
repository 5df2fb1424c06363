package engine_test

import (
	"testing"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/protocol/engineio"
	"github.com/socketd/socketd/server/engine"
)

// TestStatsByTransport: sessions are counted by revision and transport where
// they open, move with an upgrade and leave with their close reason; refused
// requests are counted by their Engine.IO error code.
func TestStatsByTransport(t *testing.T) {
	ts := newServer(t, engine.Config{})
	ts.handshakeV3("")
	v4 := ts.handshakeV4()
	ws, _ := openWS(t, ts, "EIO=4&transport=websocket")

	c, err := testutil.DialWS(wsURL(ts, "EIO=4&transport=websocket&sid="+v4))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SendText("2probe")
	if d, _ := c.ReadData(t); d != "3probe" {
		t.Fatalf("probe %q", d)
	}
	_ = c.SendText("5")
	_ = c.SendText("4after") // echoed once the upgrade is done
	if d, _ := c.ReadData(t); d != "4after" {
		t.Fatalf("echo %q", d)
	}
	if r := ts.get("EIO=4&transport=polling&sid=nosuchsessionxxxxxxx"); r.status != 400 {
		t.Fatalf("unknown sid: %d", r.status)
	}

	st := ts.eio.Stats()
	want := []struct {
		rev        engineio.Revision
		t          engine.Transport
		open, hand int
	}{
		{engineio.V3, engine.Polling, 1, 1},
		{engineio.V3, engine.WebSocket, 0, 0},
		{engineio.V4, engine.Polling, 0, 1},
		{engineio.V4, engine.WebSocket, 2, 1},
	}
	for _, w := range want {
		if got := st.OpenSessions(w.rev, w.t); got != int64(w.open) {
			t.Errorf("open EIO=%d %s: %d, want %d", w.rev, w.t, got, w.open)
		}
		if got := st.HandshakesOf(w.rev, w.t); got != uint64(w.hand) {
			t.Errorf("handshakes EIO=%d %s: %d, want %d", w.rev, w.t, got, w.hand)
		}
	}
	if st.Sessions != 3 || st.Opened != 3 || st.Upgrades != 1 || st.Refused[1] != 1 {
		t.Fatalf("stats %+v", st)
	}

	_ = ws.SendText("1") // close packet
	if r := ts.waitClosed(); r != engine.ReasonClientClose {
		t.Fatalf("closed with %v", r)
	}
	st = ts.eio.Stats()
	if st.OpenSessions(engineio.V4, engine.WebSocket) != 1 || st.Closed[engine.ReasonClientClose] != 1 {
		t.Fatalf("after close: %+v", st)
	}
}
