package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/redistest"
)

func TestLoadConfigAdvertise(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nodejs.config.json")
	if err := os.WriteFile(file, []byte(`{"advertise":"http://file:1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags flags
		env   map[string]string
		want  string
	}{
		{"file", flags{config: file}, nil, "http://file:1"},
		{"env over file", flags{config: file}, map[string]string{"SOCKETD_ADVERTISE": "https://env:2"}, "https://env:2"},
		{"flag over env", flags{config: file, advertise: "http://[fd00::5]:3"}, map[string]string{"SOCKETD_ADVERTISE": "https://env:2"}, "http://[fd00::5]:3"},
	} {
		c, err := loadConfig(tc.flags, env(tc.env), noFile)
		if err != nil || c.Advertise != tc.want || len(c.Ignored) != 0 {
			t.Errorf("%s: advertise %q ignored %v err %v, want %q", tc.name, c.Advertise, c.Ignored, err, tc.want)
		}
	}
	for _, bad := range []string{"10.0.0.5:8080", "http://h:1/socket.io/", "ws://h:1"} {
		if _, err := loadConfig(flags{dev: true, advertise: bad}, env(nil), noFile); err == nil {
			t.Errorf("advertise %q accepted", bad)
		}
	}
}

func TestAdvertiseURL(t *testing.T) {
	for _, tc := range []struct {
		cfg  nodejsconfig.Config
		want string
	}{
		{nodejsconfig.Config{Scheme: "http", Host: "127.0.0.1", Port: 8080}, "http://127.0.0.1:8080"},
		{nodejsconfig.Config{Scheme: "https", Host: "node1.internal", Port: 443}, "https://node1.internal:443"},
		{nodejsconfig.Config{Scheme: "http", Host: "::1", Port: 80}, "http://[::1]:80"},
		{nodejsconfig.Config{Scheme: "http", Port: 80, Advertise: "http://lb-facing:9"}, "http://lb-facing:9"},
	} {
		if got, err := advertiseURL(tc.cfg); err != nil || got != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.cfg, got, err, tc.want)
		}
	}
	// Listening on every address: some address of this host, never 0.0.0.0.
	got, err := advertiseURL(nodejsconfig.Config{Scheme: "http", Host: "0.0.0.0", Port: 8080})
	if err != nil || strings.Contains(got, "0.0.0.0") || !strings.HasSuffix(got, ":8080") {
		t.Errorf("derived %q %v", got, err)
	}
	if _, err := advertiseURL(nodejsconfig.Config{Scheme: "http", Host: "127.0.0.1"}); err == nil {
		t.Error("port 0 accepted without -advertise")
	}
}

// Two socketd apps on one Redis: a polling session opened on one is served
// through the other.
func TestAppsForwardSessions(t *testing.T) {
	rs := redistest.Start(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		cfg := nodejsconfig.Config{Host: "127.0.0.1", Port: port, ServiceKey: "k", Redis: rs.URL()}.WithDefaults()
		a, err := newApp(cfg, false, logger)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.serve(ctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return "http://127.0.0.1:" + strconv.Itoa(port) + "/socket.io/?EIO=4&transport=polling"
	}
	a, b := start(), start()
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, url, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
		}
		return string(raw)
	}
	open := call("GET", a, "")
	var hs struct{ SID string }
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil {
		t.Fatalf("handshake %q: %v", open, err)
	}
	// Socket.IO CONNECT through b, answered by a's server through b.
	if got := call("POST", b+"&sid="+hs.SID, "40"); got != "ok" {
		t.Fatalf("POST through b: %q", got)
	}
	if got := call("GET", b+"&sid="+hs.SID, ""); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("GET through b: %q, want the CONNECT answer", got)
	}
	// The client's close, through b, ends the session on a.
	if got := call("POST", b+"&sid="+hs.SID, "1"); got != "ok" {
		t.Fatalf("close through b: %q", got)
	}
}
