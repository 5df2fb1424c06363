package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/socketd/socketd/drupal/drupalmetrics"
	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/metrics"
	"github.com/socketd/socketd/server/socketio"
)

// opsApp is socketd with its operator's listener, serving until the test ends.
type opsApp struct {
	*app
	base string // http://host:port of the public listener
	ops  *ops
}

// startOpsApp serves cfg (host and port filled in) and its metrics listener.
func startOpsApp(t *testing.T, cfg nodejsconfig.Config) *opsApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	cfg = cfg.WithDefaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(cfg, false, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o, err := serveOps(ctx, "127.0.0.1:0", a, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		o.close()
	})
	return &opsApp{app: a, base: "http://" + ln.Addr().String(), ops: o}
}

func (a *opsApp) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.ops.addr.String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape reads /metrics with the Prometheus text parser.
func (a *opsApp) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := a.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the value of the metric of family name whose labels include
// labels ("k=v" each); -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// stubDrupal answers authenticate like Drupal: token "good" is anonymous
// user's valid session, any other is not; other messages get a success.
func stubDrupal(t *testing.T) nodejsconfig.BackendConfig {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		var msg struct{ MessageType, AuthToken, ClientID string }
		_ = json.Unmarshal([]byte(r.PostForm.Get("messageJson")), &msg)
		if msg.MessageType != "authenticate" {
			_, _ = io.WriteString(w, `{"status":"success"}`)
			return
		}
		fmt.Fprintf(w, `{"nodejsValidAuthToken":%t,"uid":0,"authToken":%q,"clientId":%q,"channels":[]}`,
			msg.AuthToken == "good", msg.AuthToken, msg.ClientID)
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	return nodejsconfig.BackendConfig{Host: host, Port: p}
}

// readUntil reads c's messages until one starts with prefix.
func readUntil(t *testing.T, c *testutil.WSClient, prefix string) {
	t.Helper()
	for range 20 {
		if d, _ := c.ReadData(t); strings.HasPrefix(d, prefix) {
			return
		}
	}
	t.Fatalf("no message starting %q", prefix)
}

// TestMetricsAfterWorkload: sockets over both transports and both protocol
// revisions, authentications (one refused, one from the cache), a broadcast
// and a Drupal publish, then /metrics read with the Prometheus parser.
func TestMetricsAfterWorkload(t *testing.T) {
	a := startOpsApp(t, nodejsconfig.Config{ServiceKey: "sk", Backend: stubDrupal(t)})
	wsURL := a.base + "/socket.io/?EIO=4&transport=websocket"
	dial := func(token string) *testutil.WSClient {
		c, err := testutil.DialWS(wsURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		readUntil(t, c, "0{")
		_ = c.SendText("40")
		readUntil(t, c, "40{")
		_ = c.SendText(`42["authenticate",{"authToken":"` + token + `"}]`)
		if token == "good" {
			readUntil(t, c, `42["message",{"callback":"clientAuthenticated"`)
		} else {
			readUntil(t, c, "41") // refused: out of the namespace
		}
		return c
	}
	left := make(chan struct{}, 1)
	a.io.Of("/").OnDisconnect(func(*socketio.Socket, socketio.DisconnectReason) {
		select {
		case left <- struct{}{}:
		default: // the shutdown's
		}
	})
	good1 := dial("good") // asks Drupal
	good2 := dial("good") // from the auth cache
	dial("bad")           // Drupal says no
	<-left                // the refused socket is out of "/" (the client hears of it first)
	poll := func(eio string) {
		resp, err := http.Get(a.base + "/socket.io/?EIO=" + eio + "&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	poll("3") // EIO=3: in "/" from the handshake
	poll("4") // EIO=4: a session, no namespace

	if err := a.io.Of("/").Emit("hello"); err != nil { // to 3 sockets
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", a.base+"/nodejs/publish",
		strings.NewReader(`{"broadcast":true,"channel":"nodejs_notify","callback":"x","data":{"body":"hi"}}`))
	req.Header.Set("NodejsServiceKey", "sk")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req) // to the 2 authenticated sockets
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range []*testutil.WSClient{good1, good2} {
		readUntil(t, c, `42["message",{"broadcast":true`)
	}

	m := a.scrape(t)
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"socketd_engine_sessions", []string{"transport=websocket", "eio=4"}, 3},
		{"socketd_engine_sessions", []string{"transport=polling", "eio=3"}, 1},
		{"socketd_engine_sessions", []string{"transport=polling", "eio=4"}, 1},
		{"socketd_engine_sessions", []string{"transport=websocket", "eio=3"}, 0},
		{"socketd_engine_handshakes_total", []string{"transport=websocket", "eio=4"}, 3},
		{"socketd_socketio_sockets", []string{"namespace=/"}, 3},
		{"socketd_socketio_connects_total", nil, 4},
		{"socketd_socketio_disconnects_total", []string{"reason=server namespace disconnect"}, 1},
		{"socketd_socketio_broadcasts_total", nil, 2},
		{"socketd_socketio_broadcast_deliveries_total", nil, 5},
		{"socketd_drupal_backend_requests_total", []string{"call=authenticate", "result=ok"}, 1},
		{"socketd_drupal_backend_requests_total", []string{"call=authenticate", "result=refused"}, 1},
		{"socketd_drupal_backend_requests_total", []string{"call=authenticate", "result=timeout"}, 0},
		{"socketd_drupal_backend_request_duration_seconds", []string{"call=authenticate"}, 2},
		{"socketd_drupal_auth_cache_hits_total", nil, 1},
		{"socketd_drupal_auth_cache_misses_total", nil, 2},
		{"socketd_drupal_authenticated_sockets", nil, 2},
		{"socketd_drupal_auth_cache_entries", nil, 1},
		{"socketd_build_info", []string{"version=" + version}, 1},
	}
	for _, w := range want {
		if got := value(m, w.name, w.labels...); got != w.v {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	// Received: 3 namespace CONNECTs and 3 authenticate events over
	// WebSocket; sent: at least the broadcasts' 5 packets.
	if v := value(m, "socketd_socketio_packets_received_total"); v != 6 {
		t.Errorf("packets received %v, want 6", v)
	}
	if v := value(m, "socketd_socketio_packets_sent_total"); v < 5 || value(m, "socketd_socketio_bytes_sent_total") <= v {
		t.Errorf("packets sent %v, bytes %v", v, value(m, "socketd_socketio_bytes_sent_total"))
	}
	if problems, err := promtest.CollectAndLint(drupalmetrics.NewCollector(a.bridge)); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
		if value(m, name) <= 0 {
			t.Errorf("%s missing or zero", name)
		}
	}
}

// TestReadyz: /healthz answers while the process lives; /readyz is 200 when
// every check passes, 503 with the failing check named when the cluster node
// is off its Redis bus.
func TestReadyz(t *testing.T) {
	rs := redistest.Start(t)
	a := startOpsApp(t, nodejsconfig.Config{ServiceKey: "sk", Backend: stubDrupal(t), Redis: rs.URL()})
	if code, body := a.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	readyz := func() (int, map[string]any) {
		code, body := a.get(t, "/readyz")
		var rep map[string]any
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, rep
	}
	// The node subscribes on its own schedule: wait, bounded.
	waitFor := func(want int, what string) map[string]any {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, rep := readyz()
			if code == want {
				return rep
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz stayed %d %v, want %d (%s)", code, rep, want, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	rep := waitFor(http.StatusOK, "ready")
	checks, _ := rep["checks"].(map[string]any)
	if checks["drupal"] != "ok" || checks["redis"] != "ok" || checks["listening"] != "ok" {
		t.Fatalf("ready with checks %v", rep)
	}
	if up := value(a.scrape(t), "socketd_redis_up"); up != 1 {
		t.Fatalf("socketd_redis_up %v while ready", up)
	}
	if problems, err := promtest.CollectAndLint(metrics.NewRedisCollector(a.cluster.bus)); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	rs.Kill()
	rep = waitFor(http.StatusServiceUnavailable, "Redis killed")
	checks, _ = rep["checks"].(map[string]any)
	if s, _ := checks["redis"].(string); !strings.Contains(s, "not subscribed") || rep["draining"] != false || checks["drupal"] != "ok" {
		t.Fatalf("not ready with %v", rep)
	}
	if up := value(a.scrape(t), "socketd_redis_up"); up != 0 {
		t.Fatalf("socketd_redis_up %v with Redis killed", up)
	}
}

// TestReadyzDraining: the drain's first step turns a ready server's /readyz
// to 503 at once.
func TestReadyzDraining(t *testing.T) {
	a := startOpsApp(t, nodejsconfig.Config{ServiceKey: "sk", Backend: stubDrupal(t)})
	if code, body := a.get(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	a.ops.ready.Drain()
	if code, body := a.get(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"draining":true`) {
		t.Fatalf("/readyz while draining: %d %s", code, body)
	}
}

// metricsAddr and logFormat come from the file, then the flags; a log format
// other than text or json is refused; json logs are JSON lines.
func TestLoadConfigOps(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nodejs.config.json")
	if err := os.WriteFile(file, []byte(`{"metricsAddr":"127.0.0.1:9100","logFormat":"json"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(flags{config: file}, env(nil), noFile)
	if err != nil || c.MetricsAddr != "127.0.0.1:9100" || c.LogFormat != "json" {
		t.Fatalf("file: %q %q %v", c.MetricsAddr, c.LogFormat, err)
	}
	f, err := parseFlags([]string{"-metrics-addr", "127.0.0.1:9200", "-log-format", "text", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = loadConfig(f, env(nil), noFile); err != nil || c.MetricsAddr != "127.0.0.1:9200" || c.LogFormat != "text" {
		t.Fatalf("flags: %q %q %v", c.MetricsAddr, c.LogFormat, err)
	}
	if _, err := loadConfig(flags{dev: true, logFormat: "xml"}, env(nil), noFile); err == nil || !strings.Contains(err.Error(), "logFormat") {
		t.Fatalf("logFormat xml: %v", err)
	}
	var buf strings.Builder
	newLogger(&buf, "json", slog.LevelInfo).Info("socketd listening", slog.String("url", "http://x"))
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil || line["msg"] != "socketd listening" || line["url"] != "http://x" {
		t.Fatalf("json log %q: %v", buf.String(), err)
	}
}
