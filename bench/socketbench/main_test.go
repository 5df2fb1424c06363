package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/bench/floor"
	"github.com/socketd/socketd/internal/polltls"
	"github.com/socketd/socketd/internal/testutil"
)

// TestSmokeAgainstFloor runs the load client with 200 sockets through every
// scenario against the floor server in this process, and checks that every
// expected delivery was counted. Timings are never asserted.
func TestSmokeAgainstFloor(t *testing.T) {
	for _, tc := range []struct {
		name string
		eio  int
		io   string
		tls  bool // the floor serves wss (polltls); the clients verify its CA
	}{
		{"eio4-poll", 4, "poll", false},
		{"eio3-goroutine", 3, "goroutine", false},
		{"eio3-poll-tls", 3, "poll", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			beLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			const key = "smoke-key"
			fs := floor.New(floor.Config{Backend: "http://" + beLn.Addr().String() + "/nodejs/message", ServiceKey: key})
			defer fs.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: fs, ReadHeaderTimeout: 5 * time.Second}
			url, caFile := "http://"+ln.Addr().String(), ""
			if tc.tls {
				pair := testutil.NewTLSPair(t, "smoke")
				hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair.Cert}}
				ln = polltls.NewListener(ln, hs.TLSConfig)
				url = "https://" + strings.TrimPrefix(url, "http://")
				caFile = filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(caFile, pair.CAPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			go func() { _ = hs.Serve(ln) }()
			defer hs.Close()

			cfg := config{
				URL: url, TLSCA: caFile, Path: "/socket.io/", BasePath: "/nodejs/",
				PID: os.Getpid(), N: 200, EIO: tc.eio, Scenario: "all", IO: tc.io, Pollers: 1,
				Src: "auto", ServiceKey: key, backendLn: beLn,
				Concurrency: 20, Steps: 2, StepSettle: 10 * time.Millisecond, ConnectTimeout: 20 * time.Second,
				IdleSettle: 10 * time.Millisecond,
				Broadcasts: 2, Warmup: 1, Payload: 16, Gap: 10 * time.Millisecond, DeliverTimeout: 20 * time.Second,
				Channels: 20, Publishers: 4, RateStart: 50, RateFactor: 2, MaxRate: 1000, MaxStages: 2,
				StageDur: 300 * time.Millisecond, P99Limit: time.Hour, MaxPublishes: 1000,
				Timeout: 2 * time.Minute,
			}
			res, err := run(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Connect.OK != cfg.N {
				t.Fatalf("%d of %d clients authenticated; errors: %v", res.Connect.OK, cfg.N, res.Errors)
			}
			d := res.Delivery
			if d.Expected == 0 || d.Delivered != d.Expected || d.Lost != 0 {
				t.Fatalf("deliveries: %+v", d)
			}
			if want := int64(cfg.N * (cfg.Broadcasts)); res.Broadcast.Delivered != want {
				t.Errorf("broadcast delivered %d, want %d", res.Broadcast.Delivered, want)
			}
			if sys := res.Broadcast.ServerSysCPUUsPer; sys == nil || *sys < 0 {
				t.Errorf("no system-time share of the broadcast CPU: %v", sys)
			}
			if res.Broadcast.ServerSent != res.Broadcast.Expected {
				t.Errorf("server reported sent=%d for %d expected", res.Broadcast.ServerSent, res.Broadcast.Expected)
			}
			if len(res.Channels.Stages) == 0 || res.Channels.Delivered == 0 {
				t.Errorf("no channel deliveries: %+v", res.Channels)
			}
			if res.Backend.Authenticate != int64(cfg.N) {
				t.Errorf("backend saw %d authenticate calls, want %d", res.Backend.Authenticate, cfg.N)
			}
			if !res.OK {
				t.Errorf("problems: %v", res.Problems)
			}
		})
	}
}
