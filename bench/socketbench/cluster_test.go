package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketd/socketd/bench/floor"
)

// TestMain lets the test binary serve as a cluster run's worker process, as
// the socketbench binary does (the coordinator starts os.Executable()).
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "socketbench test worker:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestClusterSmoke drives a cluster run's coordinator and worker processes
// against three "nodes": three listeners in front of one floor server, so a
// publish POSTed to one node reaches clients connected to the others (as a
// cluster's adapter makes it). It checks that the clients were spread over
// the nodes and the workers, that every broadcast and every channel publish
// (POSTed to a node that holds none of the channel's members) was counted
// exactly once across the processes, and that nothing was misrouted.
// Timings are never asserted.
func TestClusterSmoke(t *testing.T) {
	beLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const key = "smoke-key"
	fs := floor.New(floor.Config{Backend: "http://" + beLn.Addr().String() + "/nodejs/message", ServiceKey: key})
	defer fs.Close()
	var urls []string
	perNode := make([]*countingListener, 3)
	var chanPosts, wrongNode atomic.Int64
	for i := range perNode {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		perNode[i] = &countingListener{Listener: ln}
		// Node i holds the members of the channels c with c%3 == i: a channel
		// publish POSTed to it would not have to cross the cluster.
		node := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/publish") {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				var m struct {
					Broadcast bool
					Channel   string
				}
				if json.Unmarshal(body, &m) == nil && !m.Broadcast {
					chanPosts.Add(1)
					if c, err := strconv.Atoi(strings.TrimPrefix(m.Channel, "ch_")); err != nil || c%3 == i {
						wrongNode.Add(1)
					}
				}
			}
			fs.ServeHTTP(w, r)
		})
		hs := &http.Server{Handler: node, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(perNode[i]) }()
		defer hs.Close()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	cfg := config{
		URLs: urls, PIDs: []int{os.Getpid()}, Workers: 2, Path: "/socket.io/", BasePath: "/nodejs/",
		N: 240, EIO: 3, Scenario: "all", IO: "poll", Pollers: 1, Src: "auto", ServiceKey: key, backendLn: beLn,
		Concurrency: 20, Steps: 2, StepSettle: 10 * time.Millisecond, ConnectTimeout: 20 * time.Second,
		IdleSettle: 10 * time.Millisecond,
		Broadcasts: 2, Warmup: 1, Payload: 16, Gap: 10 * time.Millisecond, DeliverTimeout: 20 * time.Second,
		Publishers: 4, RateStart: 50, RateFactor: 2, MaxRate: 1000, MaxStages: 2,
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
	for i, l := range perNode {
		// Each node got its third of the WebSocket connections (and the
		// publish requests addressed to it).
		if got := l.accepted.Load(); got < int64(cfg.N/3) {
			t.Errorf("node %d accepted %d connections, want at least %d", i, got, cfg.N/3)
		}
	}
	if res.Cluster == nil || len(res.Cluster.Workers) != 2 || len(res.Cluster.Nodes) != 3 {
		t.Fatalf("cluster info: %+v", res.Cluster)
	}
	for _, w := range res.Cluster.Workers {
		if w.PID == os.Getpid() || w.Clients != cfg.N/2 {
			t.Errorf("worker %+v: want another process holding %d clients", w, cfg.N/2)
		}
	}
	if res.Cluster.Workers[0].Source == res.Cluster.Workers[1].Source {
		t.Errorf("workers share the source address %s", res.Cluster.Workers[0].Source)
	}
	if res.Channels == nil || res.Channels.Channels%3 != 0 {
		t.Fatalf("channels: %+v", res.Channels)
	}
	if chanPosts.Load() == 0 || wrongNode.Load() != 0 {
		t.Errorf("%d of %d channel publishes POSTed to the node holding the channel's members", wrongNode.Load(), chanPosts.Load())
	}
	d := res.Delivery
	if d.Expected == 0 || d.Delivered != d.Expected || d.Lost != 0 {
		t.Fatalf("deliveries: %+v", d)
	}
	if d.Duplicates+d.Extra+d.Misrouted+d.Unexpected+d.Disconnects != 0 {
		t.Errorf("wrong deliveries: %+v", d)
	}
	if want := int64(cfg.N * cfg.Broadcasts); res.Broadcast.Delivered != want {
		t.Errorf("broadcast delivered %d, want %d", res.Broadcast.Delivered, want)
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
}

// countingListener counts the connections a node accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}
