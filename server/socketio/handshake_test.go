package socketio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// A handshake goes to other nodes in socket.io's shape and comes back as it
// left; one from a Node socket.io node (strings or arrays of strings) reads too.
func TestHandshakeBetweenNodes(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	h := &Handshake{
		Headers: http.Header{"Cookie": {"a=1", "b=2"}, "Origin": {"http://x"}, "X-Many": {"1", "2"}},
		Query:   url.Values{"EIO": {"4"}, "k": {"v", "w"}},
		Auth:    json.RawMessage(`{"token":"t"}`),
		Address: "127.0.0.1:5000",
		Host:    "example.org",
		Secure:  true,
		Time:    at,
	}
	raw, err := json.Marshal(handshakeJSON(h))
	if err != nil {
		t.Fatal(err)
	}
	var shape map[string]any
	_ = json.Unmarshal(raw, &shape)
	headers := shape["headers"].(map[string]any)
	if headers["cookie"] != "a=1; b=2" || headers["host"] != "example.org" || headers["x-many"] != "1, 2" {
		t.Fatalf("headers as socket.io shows them: %v", headers)
	}
	if q := shape["query"].(map[string]any); q["EIO"] != "4" || len(q["k"].([]any)) != 2 {
		t.Fatalf("query as socket.io shows it: %v", q)
	}
	if shape["xdomain"] != true || shape["issued"] != float64(at.UnixMilli()) {
		t.Fatalf("handshake %s", raw)
	}

	back := parseHandshake(raw)
	if back.Host != "example.org" || back.Address != h.Address || !back.Secure || !back.Time.Equal(at) ||
		string(back.Auth) != `{"token":"t"}` || !slices.Equal(back.Query["k"], []string{"v", "w"}) ||
		back.Headers.Get("Cookie") != "a=1; b=2" {
		t.Fatalf("round trip: %+v", back)
	}

	node := `{"headers":{"host":"n:3000","set-cookie":["a","b"]},"time":"Mon Dec 04 2026","address":"::1",
		"xdomain":false,"secure":false,"issued":1700000000000,"url":"/socket.io/?EIO=4","query":{"EIO":"4","t":["1","2"]},
		"auth":{"u":1}}`
	got := parseHandshake([]byte(node))
	if got.Host != "n:3000" || !slices.Equal(got.Headers.Values("Set-Cookie"), []string{"a", "b"}) ||
		got.Query.Get("EIO") != "4" || len(got.Query["t"]) != 2 || string(got.Auth) != `{"u":1}` || got.Address != "::1" {
		t.Fatalf("Node handshake read as %+v", got)
	}
	for _, bad := range []string{``, `null`, `[]`, `{"headers":7,"query":"x","auth":"s","issued":"x"}`} {
		if h := parseHandshake([]byte(bad)); h == nil || h.Headers == nil || string(h.Auth) != "{}" {
			t.Fatalf("%q read as %+v", bad, h)
		}
	}
}
