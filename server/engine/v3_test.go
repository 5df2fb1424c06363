package engine_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

// handshakeV3 opens an EIO=3 polling session with extra query and returns its sid.
func (ts *testServer) handshakeV3(extra string) (string, response) {
	ts.t.Helper()
	r := ts.get("EIO=3&transport=polling" + extra)
	colon := strings.IndexByte(r.body, ':')
	if r.status != 200 || colon < 0 {
		ts.t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	n, err := strconv.Atoi(r.body[:colon])
	if err != nil || n != len(r.body)-colon-1 || r.body[colon+1] != '0' {
		ts.t.Fatalf("handshake framing: %q", r.body)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(r.body[colon+2:]), &op); err != nil {
		ts.t.Fatal(err)
	}
	if op.MaxPayload != nil {
		ts.t.Fatalf("EIO=3 open packet carries maxPayload: %s", r.body)
	}
	return op.SID, r
}

func jsLen(s string) int { return len(utf16.Encode([]rune(s))) }

func TestV3PollingFramingCountsUTF16Units(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid, _ := ts.handshakeV3("")
	q := "EIO=3&transport=polling&sid=" + sid
	msgs := []string{"4hello", "4€", "4𝄞 astral", "4é\x00"}
	var body strings.Builder
	for _, m := range msgs {
		body.WriteString(strconv.Itoa(jsLen(m)) + ":" + m)
	}
	if r := ts.post(q, body.String()); r.status != 200 || r.body != "ok" {
		t.Fatalf("post %d %q", r.status, r.body)
	}
	if r := ts.get(q); r.body != body.String() {
		t.Fatalf("poll %q, want %q", r.body, body.String())
	}
}

func TestV3BinaryBase64Polling(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid, _ := ts.handshakeV3("&b64=1")
	q := "EIO=3&transport=polling&b64=1&sid=" + sid
	if r := ts.post(q, "6:b4AQID"); r.status != 200 {
		t.Fatalf("post %d %q", r.status, r.body)
	}
	r := ts.get(q)
	if r.body != "6:b4AQID" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("poll %q %v", r.body, r.header)
	}
}

func TestV3BinaryXHR2Polling(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid, _ := ts.handshakeV3("")
	q := "EIO=3&transport=polling&sid=" + sid
	// One binary packet (type byte 4 + 1,2,3) and one text packet "4hi".
	payload := []byte{1, 4, 0xFF, 4, 1, 2, 3, 0, 3, 0xFF, '4', 'h', 'i'}
	r := ts.do("POST", q, http.Header{"Content-Type": {"application/octet-stream"}}, string(payload))
	if r.status != 200 {
		t.Fatalf("post %d %q", r.status, r.body)
	}
	r = ts.get(q)
	if r.header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal([]byte(r.body), payload) {
		t.Fatalf("poll %v %q", r.header.Get("Content-Type"), r.body)
	}
}

func TestV3ClientHeartbeat(t *testing.T) {
	ts := newServer(t, engine.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	sid, _ := ts.handshakeV3("")
	q := "EIO=3&transport=polling&sid=" + sid
	for i := 0; i < 3; i++ {
		if r := ts.post(q, "1:2"); r.status != 200 {
			t.Fatalf("ping %d", r.status)
		}
		if r := ts.get(q); r.body != "1:3" {
			t.Fatalf("pong %q", r.body)
		}
	}
	// The server never pings an EIO=3 client; silence ends the session.
	if got := ts.waitClosed(); got != engine.ReasonPingTimeout {
		t.Fatalf("reason %v", got)
	}
}

func TestV3PongFromClientIsProtocolError(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid, _ := ts.handshakeV3("")
	ts.post("EIO=3&transport=polling&sid="+sid, "1:3")
	if got := ts.waitClosed(); got != engine.ReasonProtocolError {
		t.Fatalf("reason %v", got)
	}
}

func TestV4PingFromClientIsProtocolError(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	ts.post("EIO=4&transport=polling&sid="+sid, "2")
	if got := ts.waitClosed(); got != engine.ReasonProtocolError {
		t.Fatalf("reason %v", got)
	}
}

func TestJSONPBothWays(t *testing.T) {
	ts := newServer(t, engine.Config{})
	r := ts.get("EIO=3&transport=polling&j=3")
	if !strings.HasPrefix(r.body, `___eio[3]("`) || !strings.HasSuffix(r.body, `");`) ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("jsonp handshake %q %v", r.body, r.header)
	}
	var inner string
	if err := json.Unmarshal([]byte(r.body[len(`___eio[3](`):len(r.body)-2]), &inner); err != nil {
		t.Fatalf("jsonp argument is not a JS string: %v", err)
	}
	colon := strings.IndexByte(inner, ':')
	var op openPacket
	if err := json.Unmarshal([]byte(inner[colon+2:]), &op); err != nil {
		t.Fatal(err)
	}
	q := "EIO=3&transport=polling&j=3&sid=" + op.SID
	// The client escapes newlines in the payload as backslash-n before form-encoding.
	msg := "4line1\\nline2 \"q\" \u2028"
	payload := strconv.Itoa(jsLen("4line1\nline2 \"q\" \u2028")) + ":" + msg
	form := "d=" + url.QueryEscape(payload)
	pr := ts.do("POST", q, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form)
	if pr.status != 200 || pr.body != "ok" {
		t.Fatalf("jsonp post %d %q", pr.status, pr.body)
	}
	r = ts.get(q)
	want := "4line1\nline2 \"q\" \u2028"
	wantPayload := strconv.Itoa(jsLen(want)) + ":" + want
	if err := json.Unmarshal([]byte(r.body[len(`___eio[3](`):len(r.body)-2]), &inner); err != nil || inner != wantPayload {
		t.Fatalf("jsonp poll %q (%v), want payload %q", r.body, err, wantPayload)
	}
	if strings.Contains(r.body, "\u2028") {
		t.Fatal("U+2028 must be escaped in a JSONP response")
	}
}

func TestCORS(t *testing.T) {
	ts := newServer(t, engine.Config{CORS: engine.CORSConfig{AllowedOrigins: []string{"https://drupal.example"}, MaxAge: time.Hour}})
	allowed := http.Header{"Origin": {"https://drupal.example"}}
	r := ts.do("GET", "EIO=4&transport=polling", allowed, "")
	if r.header.Get("Access-Control-Allow-Origin") != "https://drupal.example" ||
		r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin headers %v", r.header)
	}
	r = ts.do("GET", "EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, "")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got %d %v", r.status, r.header)
	}
	pre := http.Header{"Origin": {"https://drupal.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"content-type"}}
	r = ts.do("OPTIONS", "EIO=4&transport=polling", pre, "")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://drupal.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
		r.header.Get("Access-Control-Allow-Headers") != "content-type" || r.header.Get("Access-Control-Max-Age") != "3600" {
		t.Fatalf("preflight %d %v", r.status, r.header)
	}
	pre.Set("Origin", "https://evil.example")
	if r = ts.do("OPTIONS", "EIO=4&transport=polling", pre, ""); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight for disallowed origin %v", r.header)
	}
	// Errors carry CORS headers too, so the page can read why.
	if r = ts.do("GET", "EIO=9&transport=polling", allowed, ""); r.status != 400 || r.header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("error response %d %v", r.status, r.header)
	}
}

func TestNoCORSByDefault(t *testing.T) {
	ts := newServer(t, engine.Config{})
	r := ts.do("GET", "EIO=4&transport=polling", http.Header{"Origin": {"https://any.example"}}, "")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS header without configuration: %v", r.header)
	}
}

func TestCookie(t *testing.T) {
	ts := newServer(t, engine.Config{Cookie: &engine.CookieConfig{HTTPOnly: true}})
	sid := ts.handshakeV4()
	_ = sid
	r := ts.get("EIO=4&transport=polling")
	var op openPacket
	_ = json.Unmarshal([]byte(r.body[1:]), &op)
	want := "io=" + op.SID + "; Path=/; HttpOnly; SameSite=Lax"
	if got := r.header.Get("Set-Cookie"); got != want {
		t.Fatalf("Set-Cookie %q, want %q", got, want)
	}
}

func TestDisallowEIO3(t *testing.T) {
	ts := newServer(t, engine.Config{DisallowEIO3: true})
	if r := ts.get("EIO=3&transport=polling"); r.status != 400 || !strings.Contains(r.body, `"code":5`) {
		t.Fatalf("%d %q", r.status, r.body)
	}
}

func TestPollingOnlyTransportHasNoUpgrades(t *testing.T) {
	ts := newServer(t, engine.Config{Transports: []engine.Transport{engine.Polling}})
	r := ts.get("EIO=4&transport=polling")
	if !strings.Contains(r.body, `"upgrades":[]`) {
		t.Fatalf("open packet %q", r.body)
	}
	if c, err := testutil.DialWS(wsURL(ts, "EIO=4&transport=websocket")); err == nil || c == nil || c.Resp.StatusCode != 400 {
		t.Fatalf("websocket allowed: %v", err)
	}
}
