package drupal

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

// TestBackendStats: every call is counted by kind and result, with its
// duration, and Ready follows the latest outcome.
func TestBackendStats(t *testing.T) {
	var (
		mu     sync.Mutex
		status int
		reply  string
	)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, body := status, reply
		mu.Unlock()
		if st == 0 { // slow: until the caller gives up
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(st)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	defer close(release)
	cfg := backendCfg(t, srv.URL)
	cfg.AuthTimeout = nodejsconfig.Duration(100 * time.Millisecond)
	be := NewBackend(cfg, nil)
	auth := func() { _, _ = be.Authenticate(context.Background(), json.RawMessage(`{"authToken":"t"}`), "c1") }
	post := func() { _, _ = be.Post(context.Background(), json.RawMessage(`{}`)) }

	steps := []struct {
		status int
		reply  string
		call   func()
		ready  string // "" for ready, else a part of Ready's error
	}{
		{200, `{"uid":1,"nodejsValidAuthToken":true,"clientId":"c1"}`, auth, ""},
		{200, `{"uid":0,"nodejsValidAuthToken":false,"clientId":"c1"}`, auth, ""}, // refused
		{200, `<html>`, auth, "bad_reply"},
		{503, `busy`, post, "http_5xx"},
		{404, ``, post, ""}, // an answer: Drupal is there
		{0, ``, post, "timeout"},
	}
	for i, s := range steps {
		mu.Lock()
		status, reply = s.status, s.reply
		mu.Unlock()
		s.call()
		err := be.Ready(context.Background())
		if (s.ready == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), s.ready) {
			t.Fatalf("step %d: Ready() = %v, want %q", i, err, s.ready)
		}
	}
	st := be.Stats()
	a, m := st.Results[CallAuthenticate], st.Results[CallMessage]
	if a[ResultOK] != 1 || a[ResultRefused] != 1 || a[ResultBadReply] != 1 ||
		m[ResultHTTP5xx] != 1 || m[ResultHTTP4xx] != 1 || m[ResultTimeout] != 1 {
		t.Fatalf("results %v", st.Results)
	}
	if h := st.Duration[CallMessage]; h.Count != 3 || h.Sum < 100*time.Millisecond || st.Duration[CallAuthenticate].Count != 3 {
		t.Fatalf("durations %+v", st.Duration)
	}
	if st.Probes != 0 {
		t.Fatalf("%d probes while calls were recent", st.Probes)
	}
}

// TestBackendReadyProbes: with no recent call, Ready asks Drupal itself.
func TestBackendReadyProbes(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path
		_, _ = w.Write([]byte(`{"error":"Invalid service key."}`))
	}))
	cfg := backendCfg(t, srv.URL)
	be := NewBackend(cfg, nil)
	if err := be.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r != "GET /nodejs/message" {
		t.Fatalf("probe %q", r)
	}
	srv.Close()
	down := NewBackend(cfg, nil) // nothing listens there now
	if err := down.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Ready() = %v", err)
	}
	if st := down.Stats(); st.Probes != 1 || st.ProbeFailures != 1 || st.Results != [NumBackendCalls][NumBackendResults]uint64{} {
		t.Fatalf("stats %+v", st)
	}
}

// TestBackendFailureLogNamesCall: a call Drupal refuses is logged at warn
// with the URL called and the status, and counted.
func TestBackendFailureLogNamesCall(t *testing.T) {
	e := newEnv(t, nil)
	h := &logRecords{}
	e.b.log = slog.New(h) // before any socket: read by the bridge's goroutines only after
	e.drupal.setOverride(func(w http.ResponseWriter, _ *http.Request, _ map[string]json.RawMessage) bool {
		w.WriteHeader(http.StatusForbidden)
		return true
	})
	c := e.dial()
	c.emit("authenticate", `{"authToken":"tok"}`, false)
	c.expectDisconnect()
	got := h.lines("drupal: disconnecting client: authentication failed")
	if len(got) != 1 || !strings.HasPrefix(got[0], "WARN ") || !strings.Contains(got[0], " url="+e.b.Backend().URL()) || !strings.Contains(got[0], " status=403") {
		t.Fatalf("log lines %q", got)
	}
	if n := e.b.Backend().Stats().Results[CallAuthenticate][ResultHTTP4xx]; n != 1 {
		t.Fatalf("%d calls counted http_4xx", n)
	}
	if as := e.b.AuthStats(); as.CacheMisses != 1 || as.CacheHits != 0 || as.Sockets != 0 {
		t.Fatalf("auth stats %+v", as)
	}
}
