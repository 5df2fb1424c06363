package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

// doc builds a socketbench document with the figures the targets read; stages
// maps a channel stage rate to its server CPU per publish (every stage passes).
func doc(t *testing.T, idleKB, lastMS, connCPU float64, stages map[float64]float64) json.RawMessage {
	t.Helper()
	var st []map[string]any
	best := 0.0
	for rate, cpu := range stages {
		st = append(st, map[string]any{"target_rate": rate, "p99_ms": 5.0, "server_cpu_us_per_publish": cpu, "pass": true})
		best = max(best, rate)
	}
	b, err := json.Marshal(map[string]any{
		"idle":          map[string]any{"kb_per_conn": idleKB},
		"broadcast":     map[string]any{"server_cpu_us_per_delivery": 10.0, "last_ms": map[string]any{"median": lastMS}},
		"channels":      map[string]any{"sustained_rate": best, "stages": st},
		"connect_storm": map[string]any{"server_cpu_us_per_conn": connCPU},
		"delivery":      map[string]any{"lost": 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func find(ts []target, name, against string) (target, bool) {
	for _, t := range ts {
		if t.Name == name && t.Against == against {
			return t, true
		}
	}
	return target{}, false
}

func TestTargetsAgainstEachReference(t *testing.T) {
	s := &suite{Runs: map[string][]json.RawMessage{
		"floor":   {doc(t, 3, 80, 200, map[float64]float64{1000: 150, 2000: 140, 4000: 130})},
		nodeRef:   {doc(t, 15, 170, 600, map[float64]float64{1000: 300, 2000: 280})},
		drupalRef: {doc(t, 50, 400, 1500, map[float64]float64{1000: 500})},
		"socketd": {doc(t, 5.1, 84, 275, map[float64]float64{1000: 200, 2000: 141, 4000: 120})},
	}}
	for _, n := range []string{"floor", nodeRef, drupalRef, "socketd"} {
		s.Servers = append(s.Servers, server{Name: n})
	}
	s.aggregate()
	ts := s.Targets["socketd"]
	cases := []struct {
		name, against string
		value, limit  float64
		met           bool
	}{
		{"Idle memory", nodeRef, 5.1, 5, false},
		{"Idle memory", drupalRef, 5.1, 16.7, true},
		{"Broadcast latency", nodeRef, 84, 85, true},
		// Each pair is compared at the highest rate both sustained: 2,000/s
		// with the Node peer, 1,000/s with drupal-node.js.
		{"Channel CPU", nodeRef, 141, 140, false},
		{"Channel CPU", drupalRef, 200, 250, true},
		{"Channel rate", nodeRef, 4000, 5000, false},
		{"Channel rate", drupalRef, 4000, 2500, true},
		{"Connect CPU", nodeRef, 275, 200, false},
		{"Connect CPU", drupalRef, 275, 500, true},
		{"Broadcast CPU", "", 10, 12.5, true},
	}
	for _, c := range cases {
		got, ok := find(ts, c.name, c.against)
		if !ok {
			t.Errorf("%s against %q: missing in %v", c.name, c.against, ts)
			continue
		}
		if got.Value != c.value || got.Limit != c.limit || got.Met != c.met {
			t.Errorf("%s against %q: got %g (limit %g, met %v), want %g (limit %g, met %v)",
				c.name, c.against, got.Value, got.Limit, got.Met, c.value, c.limit, c.met)
		}
	}
	if got, _ := find(ts, "Channel CPU", nodeRef); got.Rule != "CPU per publish ≤ 1/2 of Node's at the highest rate both sustained (2000/s)" {
		t.Errorf("rule %q", got.Rule)
	}
	if _, ok := s.Targets[drupalRef]; ok {
		t.Error("a reference got targets of its own")
	}
	if r := s.Ratios["socketd"]["conn_cpu_us"]; r.VsDrupal != round(275.0/1500) || r.VsNode != round(275.0/600) {
		t.Errorf("ratios %+v", r)
	}
	// The suite-wide common rate is the one every server passed.
	if s.CommonRate != 1000 {
		t.Errorf("common rate %g, want 1000", s.CommonRate)
	}
}

func TestTargetsWithoutDrupalNode(t *testing.T) {
	s := &suite{Runs: map[string][]json.RawMessage{
		nodeRef:   {doc(t, 15, 170, 600, map[float64]float64{1000: 300})},
		"socketd": {doc(t, 4, 80, 275, map[float64]float64{1000: 140})},
	}}
	s.Servers = []server{{Name: nodeRef}, {Name: "socketd"}}
	s.aggregate()
	for _, tg := range s.Targets["socketd"] {
		if tg.Against == drupalRef {
			t.Fatalf("target against drupal-node without its runs: %v", tg)
		}
	}
	got, ok := find(s.Targets["socketd"], "Idle memory", nodeRef)
	if !ok || !got.Met || fmt.Sprint(got.Limit) != "5" {
		t.Errorf("idle target %+v", got)
	}
}
