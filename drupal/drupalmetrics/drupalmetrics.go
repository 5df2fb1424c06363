// Package drupalmetrics exposes the Drupal bridge's counters to Prometheus:
// the calls to Drupal (by kind and result, with their latency), the auth
// cache, and the bridge's gauges. Like server/metrics, it reads Stats()
// snapshots at scrape time; package drupal itself does not import
// Prometheus. Every metric is listed in docs/OPERATIONS.md.
package drupalmetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socketd/socketd/drupal"
	"github.com/socketd/socketd/server/metrics"
)

type collector struct {
	b *drupal.Bridge

	requests, duration, probes, probeFailures, cacheHits, cacheMisses *prometheus.Desc
	sockets, cacheEntries, onlineUsers, tokenChannels                 *prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "drupal", name), help, labels, nil)
}

// NewCollector returns the collector of b's counters.
func NewCollector(b *drupal.Bridge) prometheus.Collector {
	return &collector{
		b:             b,
		requests:      desc("backend_requests_total", "Calls to Drupal's message endpoint, by kind (authenticate, message) and result (ok, refused, http_4xx, http_5xx, bad_reply, timeout, unreachable, canceled).", "call", "result"),
		duration:      desc("backend_request_duration_seconds", "Time the calls to Drupal took, by kind; canceled calls are left out.", "call"),
		probes:        desc("backend_probes_total", "Requests the readiness check sent Drupal itself because no call had ended for 10 s."),
		probeFailures: desc("backend_probe_failures_total", "Readiness probes Drupal did not answer (timeout, unreachable, 5xx)."),
		cacheHits:     desc("auth_cache_hits_total", "Authentications served from the auth cache, without asking Drupal."),
		cacheMisses:   desc("auth_cache_misses_total", "Authentications that asked Drupal."),
		sockets:       desc("authenticated_sockets", "Sockets of this node authenticated with Drupal now."),
		cacheEntries:  desc("auth_cache_entries", "Authentications in the auth cache (health/check's authenticatedClients; the cluster's with a shared store)."),
		onlineUsers:   desc("online_users", "Drupal users (uid > 0) with at least one authenticated socket (health/check's onlineUsers; the cluster's with a shared store)."),
		tokenChannels: desc("token_channels", "Content token channels (health/check's tokenChannels; the cluster's with a shared store)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.requests, c.duration, c.probes, c.probeFailures, c.cacheHits, c.cacheMisses,
		c.sockets, c.cacheEntries, c.onlineUsers, c.tokenChannels,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	bs := c.b.Backend().Stats()
	for call := range drupal.NumBackendCalls {
		for r := range drupal.NumBackendResults {
			counter(ch, c.requests, bs.Results[call][r], call.String(), r.String())
		}
		h := bs.Duration[call]
		buckets := make(map[float64]uint64, drupal.NumLatencyBuckets)
		var cum uint64
		for i, n := range h.Buckets {
			cum += n
			buckets[drupal.LatencyBound(i)] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, h.Count, h.Sum.Seconds(), buckets, call.String())
	}
	counter(ch, c.probes, bs.Probes)
	counter(ch, c.probeFailures, bs.ProbeFailures)
	as := c.b.AuthStats()
	counter(ch, c.cacheHits, as.CacheHits)
	counter(ch, c.cacheMisses, as.CacheMisses)
	gauge(ch, c.sockets, int(as.Sockets))
	// The store's counts cross the network when it is shared: bounded, and
	// left out of this scrape (with the error) when it does not answer.
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := c.b.Stats(ctx)
	if err != nil {
		for _, d := range []*prometheus.Desc{c.cacheEntries, c.onlineUsers, c.tokenChannels} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	gauge(ch, c.cacheEntries, st.AuthenticatedClients)
	gauge(ch, c.onlineUsers, st.OnlineUsers)
	gauge(ch, c.tokenChannels, st.TokenChannels)
}

// storeTimeout bounds the store's answer during a scrape.
const storeTimeout = time.Second

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v int) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
}
