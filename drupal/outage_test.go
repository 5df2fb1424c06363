package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logRecords is a slog.Handler keeping every record.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}

// lines returns the records whose message starts with prefix, as
// "LEVEL msg key=value ...".
func (h *logRecords) lines(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if !strings.HasPrefix(r.Message, prefix) {
			continue
		}
		s := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "error" {
				s += " " + a.String()
			}
			return true
		})
		out = append(out, s)
	}
	return out
}

func TestOutageLog(t *testing.T) {
	h := &logRecords{}
	log := slog.New(h)
	var o outage
	t0 := time.Unix(1_700_000_000, 0)
	boom := errors.New("boom")
	o.answered(log, t0) // up: nothing
	o.failed(log, t0, "timeout", boom, true)
	o.failed(log, t0.Add(10*time.Second), "unreachable", boom, true)
	o.failed(log, t0.Add(20*time.Second), "unreachable", boom, false)
	o.failed(log, t0.Add(61*time.Second), "HTTP 503 Service Unavailable", boom, true)
	o.failed(log, t0.Add(62*time.Second), "HTTP 503 Service Unavailable", boom, true)
	o.answered(log, t0.Add(90*time.Second))
	o.answered(log, t0.Add(91*time.Second))
	o.failed(log, t0.Add(100*time.Second), "timeout", boom, true) // a new outage
	got := h.lines("drupal: backend")
	want := []string{
		"WARN drupal: backend unavailable; sockets that cannot authenticate are closed so that their clients reconnect, summary every minute until it answers kind=timeout",
		"WARN drupal: backend still unavailable kind=HTTP 503 Service Unavailable for=1m1s failed_calls=4 sockets_sent_to_reconnect=3",
		"INFO drupal: backend answering again after=1m30s failed_calls=5 sockets_sent_to_reconnect=4",
		"WARN drupal: backend unavailable; sockets that cannot authenticate are closed so that their clients reconnect, summary every minute until it answers kind=timeout",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Many sockets failing to authenticate during an outage log one warning,
// and the recovery one line counting them; none is told to stay away.
func TestOutageLoggedOncePerOutage(t *testing.T) {
	e := newEnv(t, nil)
	h := &logRecords{}
	e.b.log = slog.New(h) // before any socket: read by the bridge's goroutines only after
	var down atomic.Bool
	down.Store(true)
	e.drupal.setOverride(func(w http.ResponseWriter, _ *http.Request, _ map[string]json.RawMessage) bool {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	})
	e.drupal.setUser("tok", user{uid: 3})
	const n = 5
	for range n {
		c := e.dial()
		c.emit("authenticate", `{"authToken":"tok"}`, false)
		if got := c.next(); got != "EOF" {
			t.Fatalf("client got %q, want its connection closed", got)
		}
		e.event("disconnect")
	}
	down.Store(false)
	c := e.dial()
	c.authenticate(e, "tok")
	got := h.lines("drupal: backend")
	if len(got) != 2 || !strings.HasPrefix(got[0], "WARN drupal: backend unavailable") || !strings.Contains(got[0], "kind=HTTP 502 Bad Gateway") ||
		!strings.HasPrefix(got[1], "INFO drupal: backend answering again") || !strings.Contains(got[1], "failed_calls=5 sockets_sent_to_reconnect=5") {
		t.Fatalf("log lines:\n%s", strings.Join(got, "\n"))
	}
	if warns := h.lines("drupal: disconnecting"); len(warns) != 0 {
		t.Fatalf("per-socket lines: %v", warns)
	}
}

func TestUnavailable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		kind string
	}{
		{nil, ""},
		{ErrInvalidToken, ""},
		{ErrWrongClient, ""},
		{ErrBackendError, ""},
		{&StatusError{404, "404 Not Found"}, ""},
		{&StatusError{500, "500 Internal Server Error"}, "HTTP 500 Internal Server Error"},
		{&StatusError{408, "408 Request Timeout"}, "HTTP 408 Request Timeout"},
		{ErrBadReply, "unparsable reply"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("dial tcp: connection refused"), "unreachable"},
	} {
		kind, ok := Unavailable(tt.err)
		if kind != tt.kind || ok != (tt.kind != "") {
			t.Errorf("Unavailable(%v) = %q, %v; want %q", tt.err, kind, ok, tt.kind)
		}
	}
	if !errors.Is(&StatusError{502, "502 Bad Gateway"}, ErrBackendStatus) {
		t.Error("StatusError does not match ErrBackendStatus")
	}
}
