package metrics

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socketd/socketd/server/adapter/redisadapter"
)

// redisCollector reads a Redis cluster bus's counters at scrape time.
type redisCollector struct {
	c *redisadapter.Cluster

	up, published, received, malformed, dropped, reconnects *prometheus.Desc
	queueFull, queueBytes, batches                          *prometheus.Desc
}

// NewRedisCollector returns the collector of the Redis bus of a clustered
// node: whether its subscription connection is up, and its message counters.
func NewRedisCollector(c *redisadapter.Cluster) prometheus.Collector {
	return &redisCollector{
		c:          c,
		up:         desc("redis", "up", "1 while the node's Redis subscription connection is up (on the bus), 0 while it is not."),
		published:  desc("redis", "published_total", "Messages published on the Redis bus."),
		received:   desc("redis", "received_total", "Messages received from the Redis bus."),
		malformed:  desc("redis", "malformed_total", "Messages received from the Redis bus that did not decode (ignored)."),
		dropped:    desc("redis", "dropped_total", "Messages not published: Redis unreachable, a publish that failed, or the publish queue full."),
		reconnects: desc("redis", "reconnects_total", "Times the subscription connection came back after a loss."),
		queueFull:  desc("redis", "publish_queue_full_total", "Of the dropped messages, those refused because the publish queue stayed full."),
		queueBytes: desc("redis", "publish_queue_bytes", "Bytes the publish queue holds now."),
		batches:    desc("redis", "publish_batches_total", "Round trips the publisher made; published_total divided by it is the messages per round trip."),
	}
}

func (r *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.up, r.published, r.received, r.malformed, r.dropped, r.reconnects, r.queueFull, r.queueBytes, r.batches} {
		ch <- d
	}
}

func (r *redisCollector) Collect(ch chan<- prometheus.Metric) {
	st := r.c.Stats()
	up := 0.0
	if st.Up {
		up = 1
	}
	gauge(ch, r.up, up)
	counter(ch, r.published, st.Published)
	counter(ch, r.received, st.Received)
	counter(ch, r.malformed, st.Malformed)
	counter(ch, r.dropped, st.Dropped)
	counter(ch, r.reconnects, st.Reconnects)
	counter(ch, r.queueFull, st.QueueFull)
	gauge(ch, r.queueBytes, float64(st.QueueBytes))
	counter(ch, r.batches, st.Batches)
}

// RedisReady is the readiness check of a clustered node: ready while its
// subscription connection to Redis is up, so that it hears the other nodes'
// broadcasts.
func RedisReady(c *redisadapter.Cluster) func(context.Context) error {
	return func(context.Context) error {
		if !c.Stats().Up {
			return errors.New("redis: not subscribed (off the bus; this node hears no other node)")
		}
		return nil
	}
}
