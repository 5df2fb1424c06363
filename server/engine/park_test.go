package engine_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/socketd/socketd/server/engine"
)

func waitParked(t *testing.T, ts *testServer, sid string) *engine.Session {
	t.Helper()
	return waitPoll(t, ts, sid, engine.PollParked, "GET never parked")
}

// A held GET over plain HTTP/1.1 is parked off net/http and answered with the
// queue, the usual headers and Connection: close.
func TestParkedPollAnswered(t *testing.T) {
	ts := newServer(t, engine.Config{CORS: engine.CORSConfig{AllowedOrigins: []string{"https://site.example"}}})
	sid := ts.handshakeV4()
	c := rawHTTP(t, ts, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nOrigin: https://site.example\r\n\r\n", sid))
	defer c.Close()
	s := waitParked(t, ts, sid)
	if err := s.Send(engine.TextMessage([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "4hello" || !resp.Close {
		t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
	}
	for k, want := range map[string]string{
		"Content-Type":                     "text/plain; charset=UTF-8",
		"Access-Control-Allow-Origin":      "https://site.example",
		"Access-Control-Allow-Credentials": "true",
		"Cache-Control":                    "no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	// The session goes on: the next GET (a new connection) gets the next message.
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.post(q, "4again"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := ts.get(q); r.body != "4again" {
		t.Fatalf("next poll %q", r.body)
	}
}

// A client that closes (FIN) its parked GET's connection ends the session at
// once, as a dropped held GET did in the handler.
func TestParkedPollClientLeaves(t *testing.T) {
	ts := newServer(t, engine.Config{})
	sid := ts.handshakeV4()
	c := rawHTTP(t, ts, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid))
	waitParked(t, ts, sid)
	_ = c.Close()
	if got := ts.waitClosed(); got != engine.ReasonTransportClose {
		t.Fatalf("reason %v", got)
	}
}

// HoldPollsInHandler keeps the held GET in net/http: the connection stays alive.
func TestHoldPollsInHandler(t *testing.T) {
	ts := newServer(t, engine.Config{HoldPollsInHandler: true})
	sid := ts.handshakeV4()
	c := rawHTTP(t, ts, fmt.Sprintf("GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid))
	defer c.Close()
	waitHeld(t, ts, sid)
	s, _ := ts.eio.Session(sid)
	if engine.PollParked(s) {
		t.Fatal("parked despite HoldPollsInHandler")
	}
	if err := s.Send(engine.TextMessage([]byte("kept"))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "4kept" || resp.Close {
		t.Fatalf("body %q close %v", body, resp.Close)
	}
}
