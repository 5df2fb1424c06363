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
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/socketio"
)

// The Redis URL and prefix come from the file, then SOCKETD_REDIS_URL, then
// the flags, as every other setting.
func TestLoadConfigRedis(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nodejs.config.json")
	if err := os.WriteFile(file, []byte(`{"redis":"redis://file:6379","redisPrefix":"site"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tt := []struct {
		name        string
		flags       flags
		env         map[string]string
		url, prefix string
	}{
		{"none", flags{dev: true}, nil, "", ""},
		{"file", flags{config: file}, nil, "redis://file:6379", "site"},
		{"env over file", flags{config: file}, map[string]string{"SOCKETD_REDIS_URL": "rediss://:pw@env:6380/2"}, "rediss://:pw@env:6380/2", "site"},
		{"flags over env", flags{config: file, redis: "redis://flag:1", redisPrefix: "p"},
			map[string]string{"SOCKETD_REDIS_URL": "redis://env:2"}, "redis://flag:1", "p"},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.flags, env(tc.env), noFile)
			if err != nil {
				t.Fatal(err)
			}
			if c.Redis != tc.url || c.RedisPrefix != tc.prefix {
				t.Fatalf("redis %q prefix %q, want %q %q", c.Redis, c.RedisPrefix, tc.url, tc.prefix)
			}
			if len(c.Ignored) != 0 {
				t.Fatalf("ignored %v", c.Ignored)
			}
		})
	}
	f, err := parseFlags([]string{"-redis", "redis://x:1", "-redis-prefix", "q", file}, nil)
	if err != nil || f.redis != "redis://x:1" || f.redisPrefix != "q" || f.config != file {
		t.Fatalf("flags %+v, %v", f, err)
	}
}

func TestLoadConfigBadRedisURL(t *testing.T) {
	_, err := loadConfig(flags{dev: true, redis: "http://:secret@x:1"}, env(nil), noFile)
	if err == nil || !strings.Contains(err.Error(), "redis") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err %v: want a redis error without the password", err)
	}
}

// startApp serves socketd on a free loopback port with cfg (dev defaults,
// this Redis) until the test ends.
func startApp(t *testing.T, redisURL string) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := devConfig()
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	cfg.Redis = redisURL
	cfg = cfg.WithDefaults()
	a, err := newApp(cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	return a
}

// Two socketd processes' worth of apps on one Redis form a cluster: a
// server-side emit from one is answered by the other.
func TestAppCluster(t *testing.T) {
	rs := redistest.Start(t)
	a, b := startApp(t, rs.URL()), startApp(t, rs.URL())
	for _, x := range []*app{a, b} {
		// One id names the node in the adapter, the table of live nodes
		// and the Drupal store, which follows that table.
		st := x.cluster.store.Load()
		if st == nil || st.NodeID() != x.cluster.bus.NodeID() || x.nodes.node.ID() != st.NodeID() {
			t.Fatal("the Drupal store, the adapter and the node table do not share one node id")
		}
		// A drain spreads the clients over 40% of drainTimeout (10 s).
		if got := x.io.Engine().Config().DrainSpread; got != 4*time.Second {
			t.Fatalf("DrainSpread %v, want 4s", got)
		}
	}
	b.io.Of("/").OnServerSideEmit("hello", func(args psio.Args) (psio.Args, bool) {
		answer, _ := socketio.ToArgs("from b")
		return answer, true
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		answers, err := a.io.Of("/").ServerSideEmitWithAck(ctx, "hello")
		cancel()
		if err == nil && len(answers) == 1 {
			var s string
			if err := answers[0].Arg(0, &s); err != nil || s != "from b" {
				t.Fatalf("answer %q, %v", s, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from the other node: %v, %v", answers, err)
		}
		time.Sleep(50 * time.Millisecond) // the nodes subscribe on their own schedule
	}
}

// With its Redis unreachable a node still starts and serves its clients.
func TestAppRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "redis://" + ln.Addr().String()
	ln.Close()
	a := startApp(t, closed)
	base := "http://" + net.JoinHostPort(a.cfg.Host, strconv.Itoa(a.cfg.Port)) + "/socket.io/?EIO=4&transport=polling"
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var open struct{ Sid string }
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "0{") || json.Unmarshal(body[1:], &open) != nil {
		t.Fatalf("handshake with Redis down: %d %s", resp.StatusCode, body)
	}
	if err := a.io.Of("/").Emit("x"); err != nil {
		t.Fatalf("local emit with Redis down: %v", err)
	}
	// The client leaves (an Engine.IO close packet), so shutting down need not
	// wait for it.
	resp, err = http.Post(base+"&sid="+open.Sid, "text/plain", strings.NewReader("1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// The adapter's client notices a dead Redis within busTimeout unless the URL
// says otherwise.
func TestBusOptions(t *testing.T) {
	opts, err := redisOptions("redis://h:1")
	if err != nil {
		t.Fatal(err)
	}
	o := busOptions(*opts)
	if o.DialTimeout != busTimeout || o.ReadTimeout != busTimeout || o.WriteTimeout != busTimeout ||
		o.PoolTimeout != busTimeout || o.DialerRetries != 1 || o.MaxRetries != -1 ||
		o.PipelineReadBufferSize != busPipelineBuffer || o.PipelineWriteBufferSize != busPipelineBuffer || o.ReadBufferSize != 0 {
		t.Fatalf("defaults: %+v", o)
	}
	opts, err = redisOptions("redis://h:1?read_timeout=3s&max_retries=2")
	if err != nil {
		t.Fatal(err)
	}
	if o := busOptions(*opts); o.ReadTimeout != 3*time.Second || o.MaxRetries != 2 || o.DialTimeout != busTimeout {
		t.Fatalf("the URL's values were not kept: %+v", o)
	}
}

// The Drupal store's client has small buffers; the bus's pipelines 32 KiB.
func TestClusterClientBuffers(t *testing.T) {
	c, err := newCluster(nodejsconfig.Config{Redis: "redis://127.0.0.1:1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	so, bo := c.storeClient.Options(), c.client.Options()
	if so.ReadBufferSize != storeBuffer || so.WriteBufferSize != storeBuffer || so.PipelineReadBufferSize != storeBuffer || so.PipelineWriteBufferSize != storeBuffer {
		t.Errorf("store client buffers: %d %d %d %d", so.ReadBufferSize, so.WriteBufferSize, so.PipelineReadBufferSize, so.PipelineWriteBufferSize)
	}
	if bo.PipelineReadBufferSize != busPipelineBuffer || bo.PipelineWriteBufferSize != busPipelineBuffer {
		t.Errorf("bus client pipeline buffers: %d %d", bo.PipelineReadBufferSize, bo.PipelineWriteBufferSize)
	}
}
