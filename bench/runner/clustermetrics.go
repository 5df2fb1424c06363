package main

import (
	"encoding/json"
	"math"
	"strconv"
)

// clusterSuite is result.json's cluster section: every cluster run's
// socketbench document, medians over the rounds, socketd's ratios to the Node
// cluster, issue 10's targets, and the Redis hop's cost per kind.
type clusterSuite struct {
	Nodes   int                           `json:"nodes"`
	N       int                           `json:"n"`
	Kinds   []clusterKind                 `json:"kinds"`
	Runs    map[string][]json.RawMessage  `json:"runs"` // kind -> socketbench documents
	Metrics []metric                      `json:"metrics"`
	Medians map[string]map[string]stat    `json:"medians"`        // kind -> metric key -> stat
	Ratios  map[string]map[string]float64 `json:"ratios_vs_node"` // kind -> metric key -> median / the Node cluster's
	Targets map[string][]target           `json:"targets"`
	Hop     map[string]*redisHop          `json:"redis_hop,omitempty"`
}

var clusterMetricDefs = []metric{
	{Key: "held", Label: "Idle: authenticated connections held, all nodes", Path: "idle.conns", Better: "higher"},
	{Key: "failed_conns", Label: "Clients that failed to connect and authenticate", Path: "connect_storm.failed", Better: "lower"},
	{Key: "disconnects", Label: "Authenticated clients dropped during the run", Path: "delivery.disconnects", Better: "lower"},
	{Key: "idle_kb_per_conn", Label: "Idle: RSS per connection, summed over the nodes", Unit: "KB", Path: "idle.kb_per_conn", Better: "lower"},
	{Key: "idle_rss_mb", Label: "Idle: RSS of all nodes at N", Unit: "MB", Path: "idle.rss_kb_n", Scale: 1.0 / 1024, Better: "lower"},
	{Key: "bcast_cpu_us", Label: "Broadcast: CPU of all nodes per delivery", Unit: "µs", Path: "broadcast.server_cpu_us_per_delivery", Better: "lower"},
	{Key: "bcast_sys_cpu_us", Label: "Broadcast: of it, the nodes' system time (write(2); on loopback the receiver's TCP work too)", Unit: "µs", Path: "broadcast.server_sys_cpu_us_per_delivery", Better: "lower"},
	{Key: "bcast_redis_us", Label: "Broadcast: redis-server CPU per delivery", Unit: "µs", Path: "broadcast.redis_cpu_us_per_delivery", Better: "lower"},
	{Key: "bcast_last_ms", Label: "Broadcast: last receipt", Unit: "ms", Path: "broadcast.last_ms.median", Better: "lower"},
	{Key: "chan_rate", Label: "Channels, members on other nodes: sustained publishes per second (no loss, p99 ≤ limit)", Unit: "/s", Path: "channels.sustained_rate", Better: "higher"},
	{Key: "chan_p99_ms", Label: "Channels: p99 delivery at the sustained rate", Unit: "ms", Path: "channels.sustained_p99_ms", Better: "lower"},
	{Key: "chan_cpu_us", Label: "Channels: CPU of all nodes per publish at the sustained rate", Unit: "µs", Path: "channels.sustained_server_cpu_us_per_publish", Better: "lower"},
	{Key: "chan_redis_us", Label: "Channels: redis-server CPU per publish at the sustained rate", Unit: "µs", Path: "channels.sustained_redis_cpu_us_per_publish", Better: "lower"},
	{Key: "conn_rate", Label: "Connect: connect+authenticate per second", Unit: "/s", Path: "connect_storm.per_second", Better: "higher"},
	{Key: "conn_cpu_us", Label: "Connect: CPU of all nodes per connection", Unit: "µs", Path: "connect_storm.server_cpu_us_per_conn", Better: "lower"},
	{Key: "lost", Label: "Deliveries lost (all scenarios)", Path: "delivery.lost", Better: "lower"},
}

// redisHop is what crossing the cluster costs one kind: its single-node
// server and its cluster compared at the highest channel rate both sustained
// (CPU per publish falls as the rate rises, so only equal rates compare), and
// the broadcast CPU per delivery of both.
type redisHop struct {
	Rate          float64 `json:"rate"` // publishes/s; 0: no rate both sustained
	SingleCPU     float64 `json:"single_cpu_us_per_publish"`
	ClusterCPU    float64 `json:"cluster_nodes_cpu_us_per_publish"`
	RedisCPU      float64 `json:"redis_cpu_us_per_publish"`
	ExtraCPU      float64 `json:"extra_cpu_us_per_publish"` // cluster nodes + redis − single node
	SingleP99     float64 `json:"single_p99_ms"`
	ClusterP99    float64 `json:"cluster_p99_ms"`
	BcastSingle   float64 `json:"single_bcast_cpu_us_per_delivery,omitempty"`
	BcastCluster  float64 `json:"cluster_bcast_cpu_us_per_delivery,omitempty"`
	BcastRedis    float64 `json:"redis_bcast_cpu_us_per_delivery,omitempty"`
	ClusterRounds int     `json:"cluster_runs"`
	SingleRounds  int     `json:"single_runs"`
}

func (c *clusterSuite) kindNames() []string {
	var out []string
	for _, k := range c.Kinds {
		out = append(out, k.Name)
	}
	return out
}

// aggregate computes the cluster section from c.Runs; s holds the single-node
// runs the Redis hop is measured against.
func (c *clusterSuite) aggregate(s *suite, p99Limit float64) {
	c.Metrics = clusterMetricDefs
	c.Medians = map[string]map[string]stat{}
	c.Ratios = map[string]map[string]float64{}
	c.Targets = map[string][]target{}
	c.Hop = map[string]*redisHop{}
	names := c.kindNames()
	for _, name := range names {
		c.Medians[name] = medians(clusterMetricDefs, s.docs(c.Runs[name]), nil)
	}
	for _, name := range names {
		if name == nodeRef {
			continue
		}
		r := map[string]float64{}
		for key, st := range c.Medians[name] {
			if n, ok := c.Medians[nodeRef][key]; ok && n.Median != 0 {
				r[key] = round(st.Median / n.Median)
			}
		}
		c.Ratios[name] = r
	}
	for _, name := range names {
		c.Targets[name] = c.targetsFor(s, name, p99Limit)
		if h := hopOf(s.docs(s.Runs[name]), s.docs(c.Runs[name])); h != nil {
			c.Hop[name] = h
		}
	}
}

// targetsFor evaluates issue 10's cluster targets for one kind: the held
// connections for every kind, the ratios to the Node cluster for the others.
func (c *clusterSuite) targetsFor(s *suite, name string, p99Limit float64) []target {
	var out []target
	// Every run must hold every client with no error: the worst run counts.
	held := target{Name: "Cluster held", Unit: "connections", Status: "not measured", Limit: float64(c.N),
		Rule: strconv.Itoa(c.N) + " idle authenticated connections over " + strconv.Itoa(c.Nodes) + " nodes, no failed connect, no drop, no error, in every run"}
	if docs := s.docs(c.Runs[name]); len(docs) > 0 {
		held.Value, held.Met = math.Inf(1), true
		for _, d := range docs {
			conns, _ := lookup(d, "idle.conns")
			failed, _ := lookup(d, "connect_storm.failed")
			drops, _ := lookup(d, "delivery.disconnects")
			errs, _ := d["errors"].([]any)
			held.Value = math.Min(held.Value, conns)
			held.Met = held.Met && conns >= float64(c.N) && failed == 0 && drops == 0 && len(errs) == 0
		}
		held.Status = map[bool]string{true: "met", false: "missed"}[held.Met]
	}
	out = append(out, held)
	get := func(kind, key string) (float64, bool) {
		st, ok := c.Medians[kind][key]
		return st.Median, ok && st.N > 0
	}
	if v, ok := get(name, "lost"); ok {
		t := target{Name: "Cluster no loss", Rule: "every expected delivery received, across the nodes", Value: v, Unit: "lost", Met: v == 0}
		t.Status = map[bool]string{true: "met", false: "missed"}[t.Met]
		out = append(out, t)
	}
	if name == nodeRef {
		return out
	}
	ratio := func(tname, rule, key string, factor float64, higher bool, unit string) {
		t := target{Name: tname, Against: nodeRef + " cluster", Rule: rule, Unit: unit, Status: "not measured"}
		v, ok1 := get(name, key)
		r, ok2 := get(nodeRef, key)
		if ok1 && ok2 {
			t.Value, t.Limit = v, round(r*factor)
			t.Met = v <= t.Limit
			if higher {
				t.Met = v >= t.Limit
			}
			t.Status = map[bool]string{true: "met", false: "missed"}[t.Met]
		}
		out = append(out, t)
	}
	ratio("Cluster memory", "RSS per connection (summed over the nodes) ≤ 1/3 of the Node cluster's", "idle_kb_per_conn", 1.0/3, false, "KB")
	ratio("Cluster broadcast CPU", "CPU of all nodes per delivery ≤ 1/2 of the Node cluster's", "bcast_cpu_us", 0.5, false, "µs")
	ratio("Cluster channel rate", "publishes to members on other nodes sustained (no loss, p99 ≤ limit) ≥ 2.5× the Node cluster's", "chan_rate", 2.5, true, "/s")
	if t := &out[len(out)-1]; t.Status != "not measured" && t.Limit == 0 {
		// The Node cluster passed none of its stages: its rate is below the
		// first stage's, so 2.5 times that rate bounds the limit from above.
		first := 0.0
		for _, d := range s.docs(c.Runs[nodeRef]) {
			if v, ok := lookup(d, "config.rate_start"); ok && v > first {
				first = v
			}
		}
		t.Limit = round(2.5 * first)
		t.Rule += " (the Node cluster passed none of its stages, the first at " + strconv.FormatFloat(first, 'f', -1, 64) + "/s: the limit is 2.5× that)"
		t.Met = first > 0 && t.Value >= t.Limit
		t.Status = map[bool]string{true: "met", false: "missed"}[t.Met]
	}
	p99 := target{Name: "Cluster channel p99", Rule: "p99 delivery at the sustained rate < " + strconv.FormatFloat(p99Limit, 'f', -1, 64) + " ms", Unit: "ms", Limit: p99Limit, Status: "not measured"}
	if v, ok := get(name, "chan_p99_ms"); ok {
		p99.Value, p99.Met = v, v < p99Limit
		p99.Status = map[bool]string{true: "met", false: "missed"}[p99.Met]
	}
	return append(out, p99)
}

// hopOf compares a kind's single-node runs with its cluster runs; nil when
// either is missing.
func hopOf(single, cluster []map[string]any) *redisHop {
	if len(single) == 0 || len(cluster) == 0 {
		return nil
	}
	h := &redisHop{SingleRounds: len(single), ClusterRounds: len(cluster)}
	passed := func(docs []map[string]any) map[float64][]stageInfo {
		m := map[float64][]stageInfo{}
		for _, d := range docs {
			for _, st := range stagesOf(d) {
				if st.pass {
					m[st.rate] = append(m[st.rate], st)
				}
			}
		}
		return m
	}
	ps, pc := passed(single), passed(cluster)
	for rate, sts := range ps {
		// Passed in most runs of both.
		if 2*len(sts) > len(single) && 2*len(pc[rate]) > len(cluster) && rate > h.Rate {
			h.Rate = rate
		}
	}
	field := func(sts []stageInfo, f func(stageInfo) float64) float64 {
		var v []float64
		for _, st := range sts {
			v = append(v, f(st))
		}
		return round(med(v))
	}
	if h.Rate > 0 {
		h.SingleCPU = field(ps[h.Rate], func(st stageInfo) float64 { return st.cpu })
		h.ClusterCPU = field(pc[h.Rate], func(st stageInfo) float64 { return st.cpu })
		h.RedisCPU = field(pc[h.Rate], func(st stageInfo) float64 { return st.redis })
		h.ExtraCPU = round(h.ClusterCPU + h.RedisCPU - h.SingleCPU)
		h.SingleP99 = field(ps[h.Rate], func(st stageInfo) float64 { return st.p99 })
		h.ClusterP99 = field(pc[h.Rate], func(st stageInfo) float64 { return st.p99 })
	}
	bcast := func(docs []map[string]any, path string) float64 {
		var v []float64
		for _, d := range docs {
			if x, ok := lookup(d, path); ok {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			return 0
		}
		return round(med(v))
	}
	h.BcastSingle = bcast(single, "broadcast.server_cpu_us_per_delivery")
	h.BcastCluster = bcast(cluster, "broadcast.server_cpu_us_per_delivery")
	h.BcastRedis = bcast(cluster, "broadcast.redis_cpu_us_per_delivery")
	return h
}
