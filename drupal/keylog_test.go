package drupal

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

func TestKeyLogRateLimited(t *testing.T) {
	h := &logRecords{}
	log := slog.New(h)
	var k keyLog
	t0 := time.Unix(1_700_000_000, 0)
	k.refused(log, t0, "10.0.0.1:4000", "/nodejs/publish", false)
	k.refused(log, t0.Add(time.Second), "10.0.0.1:4001", "/nodejs/publish", false) // same address, other port
	k.refused(log, t0.Add(2*time.Second), "10.0.0.1:4002", "/nodejs/publish", true)
	k.refused(log, t0.Add(3*time.Second), "[::1]:5000", "/nodejs/health/check", true)
	k.refused(log, t0.Add(61*time.Second), "10.0.0.1:4003", "/nodejs/publish", false)
	got := h.lines("drupal: API call refused")
	want := []string{
		"WARN drupal: API call refused: wrong service key (NodejsServiceKey header); one line a minute per address remote=10.0.0.1 path=/nodejs/publish refused_since_last_line=0",
		"WARN drupal: API call refused: no service key (NodejsServiceKey header); one line a minute per address remote=::1 path=/nodejs/health/check refused_since_last_line=0",
		"WARN drupal: API call refused: wrong service key (NodejsServiceKey header); one line a minute per address remote=10.0.0.1 path=/nodejs/publish refused_since_last_line=2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A scan from more addresses than are tracked keeps the table bounded and
// still logs, the rest sharing one line a minute.
func TestKeyLogBounded(t *testing.T) {
	h := &logRecords{}
	log := slog.New(h)
	var k keyLog
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 * keyLogAddrs {
		k.refused(log, t0, "10.1."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":1", "/nodejs/publish", false)
	}
	if n := len(k.byAddr); n != keyLogAddrs {
		t.Fatalf("%d addresses tracked", n)
	}
	if n := len(h.lines("drupal: API call refused")); n != keyLogAddrs+1 {
		t.Fatalf("%d lines, want one per tracked address and one for the others", n)
	}
	// A minute on, the old entries make room again.
	k.refused(log, t0.Add(time.Minute), "192.0.2.1:1", "/nodejs/publish", false)
	if _, ok := k.byAddr["192.0.2.1"]; !ok || len(k.byAddr) > keyLogAddrs {
		t.Fatalf("not tracked after the minute (%d tracked)", len(k.byAddr))
	}
}

// Through the API: a bad key is refused as before, and logged once for a
// burst; debug/toggle is logged.
func TestAPILogsRefusedKeyAndDebugToggle(t *testing.T) {
	e := newEnv(t, nil)
	h := &logRecords{}
	e.b.log = slog.New(h) // before any request
	for range 3 {
		if st, body := e.apiKey("POST", "/nodejs/publish", `{"broadcast":true}`, "wrong"); st != 200 || body != `{"error":"Invalid service key."}` {
			t.Fatalf("%d %s", st, body)
		}
	}
	if got := h.lines("drupal: API call refused"); len(got) != 1 || !strings.Contains(got[0], "remote=127.0.0.1 path=/nodejs/publish") {
		t.Fatalf("log lines: %v", got)
	}
	e.expectAPI("POST", "/nodejs/debug/toggle", `{"debug":true}`, 200, `{"status":"success","debug":true}`)
	if got := h.lines("drupal: debug toggled"); len(got) != 1 || !strings.HasPrefix(got[0], "INFO ") || !strings.Contains(got[0], "debug=true") {
		t.Fatalf("log lines: %v", got)
	}
}

// Behind a trusted proxy the refused call is logged with the address the
// proxy forwarded for; a forwarding header from anyone else is not believed.
func TestAPILogsRefusedKeyBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"trusted proxy", []string{"127.0.0.1"}, "remote=203.0.113.5 "},
		{"no trusted proxy", nil, "remote=127.0.0.1 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *nodejsconfig.Config) { c.TrustedProxies = tc.trusted })
			h := &logRecords{}
			e.b.log = slog.New(h)
			req, _ := http.NewRequest("POST", e.url+"/nodejs/publish", strings.NewReader(`{"broadcast":true}`))
			req.Header.Set("NodejsServiceKey", "wrong")
			req.Header.Set("X-Forwarded-For", "203.0.113.5")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := h.lines("drupal: API call refused"); len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("log lines: %v, want %q", got, tc.want)
			}
		})
	}
}
