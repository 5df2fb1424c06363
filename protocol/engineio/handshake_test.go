package engineio

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendHandshake(t *testing.T) {
	h := Handshake{
		SID:          "lv_VI97HAXpY6yYWAAAC",
		Upgrades:     []string{"websocket"},
		PingInterval: 25 * time.Second,
		PingTimeout:  20 * time.Second,
		MaxPayload:   1e6,
	}
	tests := []struct {
		name string
		rev  Revision
		h    Handshake
		want string
	}{
		// engine.io-protocol README (main), "Handshake", compacted.
		{"v4 readme", V4, h, `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
		// socket.io 2.5.0, observed (socketio-protocol.md §3).
		{"v3 has no maxPayload", V3, h, `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`},
		{"websocket handshake has no upgrades", V4, Handshake{SID: "x", PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond},
			`{"sid":"x","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":0}`},
		{"sub-millisecond is truncated", V3, Handshake{SID: "x", Upgrades: []string{}, PingInterval: 1500 * time.Microsecond},
			`{"sid":"x","upgrades":[],"pingInterval":1,"pingTimeout":0}`},
		{"two upgrades", V4, Handshake{SID: "x", Upgrades: []string{"websocket", "webtransport"}},
			`{"sid":"x","upgrades":["websocket","webtransport"],"pingInterval":0,"pingTimeout":0,"maxPayload":0}`},
	}
	for _, tt := range tests {
		if got := AppendHandshake([]byte("0"), tt.rev, tt.h); string(got) != "0"+tt.want {
			t.Errorf("%s:\n got %s\nwant 0%s", tt.name, got, tt.want)
		}
	}
}

// The strings are escaped exactly as encoding/json escapes them.
func TestAppendHandshakeMatchesEncodingJSON(t *testing.T) {
	type wire struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}
	for _, sid := range []string{
		"plain", `q"uo\te`, "ctl\x00\x01\b\f\n\r\t\x1f\x7f", "<html>&amp;", "\u2028\u2029", "€😀",
		"bad\xffutf8\xe2\x82", "",
	} {
		h := Handshake{SID: sid, Upgrades: []string{sid}, PingInterval: time.Second, PingTimeout: 2 * time.Second, MaxPayload: 7}
		want, err := json.Marshal(wire{sid, []string{sid}, 1000, 2000, 7})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendHandshake(nil, V4, h); string(got) != string(want) {
			t.Errorf("sid %q:\n got %s\nwant %s", sid, got, want)
		}
	}
}
