package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// clusterDoc builds a cluster run's socketbench document: held connections,
// failures, RSS per connection, broadcast CPU and the channel stages (rate ->
// nodes' CPU per publish, all passing; redis-server 5 µs per publish).
func clusterDoc(t *testing.T, held, failed, kb, bcast float64, stages map[float64]float64) json.RawMessage {
	t.Helper()
	var st []map[string]any
	best := 0.0
	for rate, cpu := range stages {
		st = append(st, map[string]any{"target_rate": rate, "p99_ms": 20.0, "server_cpu_us_per_publish": cpu,
			"redis_cpu_us_per_publish": 5.0, "pass": true})
		best = max(best, rate)
	}
	b, err := json.Marshal(map[string]any{
		"idle":          map[string]any{"conns": held, "kb_per_conn": kb},
		"broadcast":     map[string]any{"server_cpu_us_per_delivery": bcast, "redis_cpu_us_per_delivery": 0.5},
		"channels":      map[string]any{"sustained_rate": best, "sustained_p99_ms": 20.0, "stages": st},
		"connect_storm": map[string]any{"failed": failed},
		"delivery":      map[string]any{"lost": 0, "disconnects": 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClusterTargets(t *testing.T) {
	s := &suite{
		Servers: []server{{Name: nodeRef}, {Name: "socketd"}},
		Runs: map[string][]json.RawMessage{
			nodeRef:   {doc(t, 15, 170, 600, map[float64]float64{1000: 300, 2000: 280})},
			"socketd": {doc(t, 5, 80, 275, map[float64]float64{1000: 200, 2000: 150, 4000: 120})},
		},
		Cluster: &clusterSuite{Nodes: 3, N: 50000, Kinds: []clusterKind{{Name: nodeRef}, {Name: "socketd"}},
			Runs: map[string][]json.RawMessage{
				nodeRef: {clusterDoc(t, 50000, 0, 16, 40, map[float64]float64{1000: 500, 2000: 450})},
				// Two rounds: the second dropped one client, so the held target misses.
				"socketd": {
					clusterDoc(t, 50000, 0, 5, 19, map[float64]float64{1000: 260, 2000: 230, 4000: 210, 5000: 200}),
					clusterDoc(t, 49999, 1, 5.4, 21, map[float64]float64{1000: 250, 2000: 220, 4000: 200}),
				},
			}},
	}
	s.aggregate()
	c := s.Cluster
	cases := []struct {
		kind, name   string
		value, limit float64
		met          bool
	}{
		{"socketd", "Cluster held", 49999, 50000, false},
		{nodeRef, "Cluster held", 50000, 50000, true},
		{"socketd", "Cluster memory", 5.2, 5.33, true},
		{"socketd", "Cluster broadcast CPU", 20, 20, true},
		// socketd's median sustained rate is 4,500/s (4,000 and 5,000): under 2.5× 2,000.
		{"socketd", "Cluster channel rate", 4500, 5000, false},
		{"socketd", "Cluster channel p99", 20, 50, true},
		{"socketd", "Cluster no loss", 0, 0, true},
	}
	for _, tc := range cases {
		got, ok := find(c.Targets[tc.kind], tc.name, "")
		if !ok {
			got, ok = find(c.Targets[tc.kind], tc.name, nodeRef+" cluster")
		}
		if !ok {
			t.Errorf("%s: %s missing in %v", tc.kind, tc.name, c.Targets[tc.kind])
			continue
		}
		if got.Value != tc.value || got.Limit != tc.limit || got.Met != tc.met {
			t.Errorf("%s: %s: got %g (limit %g, met %v), want %g (limit %g, met %v)",
				tc.kind, tc.name, got.Value, got.Limit, got.Met, tc.value, tc.limit, tc.met)
		}
	}
	if _, ok := find(c.Targets[nodeRef], "Cluster memory", nodeRef+" cluster"); ok {
		t.Error("the Node cluster was given a ratio target against itself")
	}
	if r := c.Ratios["socketd"]["bcast_cpu_us"]; r != 0.5 {
		t.Errorf("socketd/node broadcast CPU ratio %g, want 0.5", r)
	}
	// The hop: socketd's single node and cluster both sustained 4,000/s.
	h := c.Hop["socketd"]
	if h == nil || h.Rate != 4000 || h.SingleCPU != 120 || h.ClusterCPU != 205 || h.RedisCPU != 5 || h.ExtraCPU != 90 {
		t.Errorf("socketd hop %+v, want rate 4000, single 120, cluster 205, redis 5, extra 90", h)
	}
	if h := c.Hop[nodeRef]; h == nil || h.Rate != 2000 || h.ExtraCPU != 450+5-280 {
		t.Errorf("node hop %+v", h)
	}
	report := reportHTML(s)
	for _, want := range []string{"Cluster: 3 nodes on one redis-server, 50000 clients", "Issue 10 targets: socketd cluster", "The Redis hop"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// A Node cluster that passed none of its channel stages sustained less than
// its first stage's rate: socketd is held to 2.5 times that rate.
func TestClusterChannelRateNodeNone(t *testing.T) {
	nodeDoc := func(t *testing.T) json.RawMessage {
		var d map[string]any
		_ = json.Unmarshal(clusterDoc(t, 50000, 0, 13, 40, nil), &d)
		d["config"] = map[string]any{"rate_start": 250.0}
		b, _ := json.Marshal(d)
		return b
	}
	for _, tc := range []struct {
		socketdRate float64
		met         bool
	}{{1340, true}, {600, false}} {
		s := &suite{
			Servers: []server{{Name: nodeRef}, {Name: "socketd"}},
			Runs:    map[string][]json.RawMessage{},
			Cluster: &clusterSuite{Nodes: 3, N: 50000, Kinds: []clusterKind{{Name: nodeRef}, {Name: "socketd"}},
				Runs: map[string][]json.RawMessage{
					nodeRef:   {nodeDoc(t)},
					"socketd": {clusterDoc(t, 50000, 0, 4.4, 20, map[float64]float64{tc.socketdRate: 800})},
				}},
		}
		s.aggregate()
		got, ok := find(s.Cluster.Targets["socketd"], "Cluster channel rate", nodeRef+" cluster")
		if !ok || got.Value != tc.socketdRate || got.Limit != 625 || got.Met != tc.met || !strings.Contains(got.Rule, "passed none") {
			t.Errorf("socketd at %g/s: %+v, want limit 625, met %v", tc.socketdRate, got, tc.met)
		}
	}
}
