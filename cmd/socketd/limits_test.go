package main

import (
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

func TestDefaultMaxConnections(t *testing.T) {
	for nofile, want := range map[uint64]int{20_000: 18_976, 1024: 768, 4: 3, 1: 1, 0: 0, 1 << 40: 0} {
		if got := defaultMaxConnections(nofile); got != want {
			t.Errorf("open-file limit %d: %d, want %d", nofile, got, want)
		}
	}
}

// TestLimitsConfig: the limit keys and flags reach the Engine.IO and
// Socket.IO servers.
func TestLimitsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nodejs.config.json")
	js := `{"maxConnectionsPerIP": 50, "handshakeRatePerIP": 2, "trustedProxies": ["10.0.0.0/8"], "maxMessagesPerSecond": -1}`
	if err := os.WriteFile(file, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parseFlags([]string{"-max-connections", "500", "-handshake-timeout", "5s", "-trusted-proxies", "10.0.0.0/8, 192.0.2.1", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(f, env(nil), noFile)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := engineConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	want := engine.Limits{MaxSessions: 500, MaxSessionsPerIP: 50, HandshakeRatePerIP: 2}
	if ec.Limits != want || len(ec.TrustedProxies) != 2 || ec.TrustedProxies[1] != netip.MustParsePrefix("192.0.2.1/32") {
		t.Fatalf("engine limits %+v, proxies %v", ec.Limits, ec.TrustedProxies)
	}
	if messageRate(c) != 0 || c.HandshakeTimeout != nodejsconfig.Duration(5*time.Second) {
		t.Fatalf("message rate %v, handshake timeout %v", messageRate(c), c.HandshakeTimeout)
	}
	// Defaults: the connection cap from the open-file limit, nothing per
	// address, 100 messages a second.
	c, err = loadConfig(flags{dev: true}, env(nil), noFile)
	if err != nil {
		t.Fatal(err)
	}
	if ec, err = engineConfig(c); err != nil {
		t.Fatal(err)
	}
	if ec.Limits != (engine.Limits{MaxSessions: defaultMaxConnections(openFileLimit())}) || ec.TrustedProxies != nil || messageRate(c) != 100 {
		t.Fatalf("defaults: %+v, proxies %v, rate %v", ec.Limits, ec.TrustedProxies, messageRate(c))
	}
	if _, err := loadConfig(flags{dev: true, trustedProxies: "proxy.local"}, env(nil), noFile); err == nil || !strings.Contains(err.Error(), "trustedProxies") {
		t.Fatalf("bad proxy: %v", err)
	}
}

// TestLimitsMetrics: socketd with limits, clients that hit each of them from
// their own addresses, and one that does not and keeps working; /metrics
// counts each limit.
func TestLimitsMetrics(t *testing.T) {
	a := startOpsApp(t, nodejsconfig.Config{
		ServiceKey:           "sk",
		Backend:              stubDrupal(t),
		MaxConnectionsPerIP:  1,
		MaxMessagesPerSecond: 2, // a burst of 2, then one per 0.5 s
		HandshakeTimeout:     nodejsconfig.Duration(2 * time.Second),
	})
	wsURL := a.base + "/socket.io/?EIO=3&transport=websocket"
	dial := func(from string) *testutil.WSClient {
		c, err := testutil.DialWSFrom(wsURL, from, nil)
		if err != nil {
			t.Fatalf("from %s: %v", from, err)
		}
		t.Cleanup(c.Close)
		readUntil(t, c, "0{")
		readUntil(t, c, "40") // EIO=3: in "/" at once
		return c
	}
	good := dial("127.0.0.2")
	_ = good.SendText(`42["authenticate",{"authToken":"good"}]`)
	readUntil(t, good, `42["message",{"callback":"clientAuthenticated"`)

	// A second connection from the same address is refused.
	if c, err := testutil.DialWSFrom(wsURL, "127.0.0.2", nil); !errors.Is(err, testutil.ErrHandshake) || c.Resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection from 127.0.0.2: %v", err)
	}
	// A flood of messages (in one write, so the rate cannot recover in
	// between) closes the flooding client.
	flood := dial("127.0.0.3")
	var burst []byte
	for range 20 {
		burst = append(burst, testutil.ClientTextFrame(`42["message",{}]`)...)
	}
	_ = flood.WriteRaw(burst)
	flood.ReadClose(t)
	// A client that never authenticates is closed after handshakeTimeout.
	silent := dial("127.0.0.4")
	silent.SetDeadline(10 * time.Second)
	silent.ReadClose(t)

	// The authenticated client still gets what Drupal publishes.
	req, _ := http.NewRequest("POST", a.base+"/nodejs/publish", strings.NewReader(`{"broadcast":true,"callback":"x","data":{}}`))
	req.Header.Set("NodejsServiceKey", "sk")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	readUntil(t, good, `42["message",{"broadcast":true`)

	deadline := time.Now().Add(5 * time.Second)
	for {
		m := a.scrape(t)
		got := []float64{
			value(m, "socketd_engine_handshakes_limited_total", "limit=connections per address"),
			value(m, "socketd_engine_handshakes_limited_total", "limit=connections"),
			value(m, "socketd_engine_sessions_closed_total", "reason=message rate exceeded"),
			value(m, "socketd_engine_sessions_closed_total", "reason=handshake timeout"),
			value(m, "socketd_engine_limit_addresses"),
		}
		if got[0] == 1 && got[1] == 0 && got[2] == 1 && got[3] == 1 && got[4] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("limited per address, limited total, closed for rate, closed for handshake, addresses: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
