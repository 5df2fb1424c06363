package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/drupal/store/redisstore"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter"
	nodetable "github.com/socketd/socketd/server/cluster"
)

// cluster is this node's membership of the Redis cluster of cfg.Redis.
type cluster struct {
	client *redis.Client
	bus    *redisadapter.Cluster
	// storeClient serves the Drupal store. It has short timeouts of its own:
	// a store call made while Redis is lost holds up a Drupal API answer or
	// an authentication until it fails, and the store then serves locally.
	storeClient *redis.Client
	// store is set by followNodes, once the table of live nodes it follows
	// has started; the table's OnChange may run before.
	store  atomic.Pointer[redisstore.Store]
	prefix string
}

// storeTimeout bounds each call of the Drupal store to Redis.
const storeTimeout = time.Second

// busTimeout bounds each dial, read and write of the adapter's client.
// PUBLISH and PUBSUB NUMSUB answer in well under a millisecond; a second of
// silence means Redis is frozen or the network is gone.
const busTimeout = time.Second

// busOptions are the adapter client's options: a refused, frozen or
// unreachable Redis fails a publish within busTimeout (the adapter then
// pings its subscription connection and, without an answer within half a
// second, goes off the bus), where go-redis's defaults took 1.7 s for a
// refused connection and 5 s for a frozen Redis. Values the URL sets are
// kept.
func busOptions(opts redis.Options) *redis.Options {
	if opts.DialTimeout == 0 {
		opts.DialTimeout = busTimeout // default 5 s: a host that drops SYNs
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = busTimeout // default 5 s: a frozen Redis
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = busTimeout
	}
	if opts.PoolTimeout == 0 {
		opts.PoolTimeout = busTimeout // default ReadTimeout + 1 s
	}
	buffers(&opts, 0, busPipelineBuffer)
	// One dial per attempt (default 5, 100 ms apart): the adapter retries
	// with its own backoff.
	opts.DialerRetries = 1
	if opts.MaxRetries == 0 {
		// No command retries (default 3, with backoff): a pipeline retried
		// after a read timeout reaches Redis twice once it answers again,
		// and a refused connection retried was most of the 1.7 s. go-redis
		// checks a pooled connection before use, so one Redis closed while
		// idle costs no message.
		opts.MaxRetries = -1
	}
	return &opts
}

// The buffers of the clients' connections. go-redis gives each connection
// 32 KiB for reading and 32 for writing, and each of its pipeline pool's (up
// to 10, kept once opened) 128 KiB and 128: after a connect storm a cluster
// node's heap held 5.4 MB of them (a 16,700-connection node; its RSS per
// connection did not move measurably with these sizes). The Drupal store's commands and replies are a few
// hundred bytes (a larger reply is read past the buffer); the bus's pipelines
// carry the publisher's batches, which a 32 KiB writer sends in a few writes.
const (
	storeBuffer       = 8 << 10
	busPipelineBuffer = 32 << 10
)

// buffers sets the connection buffer sizes left at go-redis's defaults: conn
// for the pool's connections (0: go-redis's), pipeline for the pipeline
// pool's.
func buffers(opts *redis.Options, conn, pipeline int) {
	if conn > 0 && opts.ReadBufferSize == 0 {
		opts.ReadBufferSize = conn
	}
	if conn > 0 && opts.WriteBufferSize == 0 {
		opts.WriteBufferSize = conn
	}
	if opts.PipelineReadBufferSize == 0 {
		opts.PipelineReadBufferSize = pipeline
	}
	if opts.PipelineWriteBufferSize == 0 {
		opts.PipelineWriteBufferSize = pipeline
	}
}

// redisOptions checks and parses the redis key: redis:// or rediss:// with
// password and DB (go-redis' ParseURL).
func redisOptions(raw string) (*redis.Options, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w (want redis://[:password@]host:port[/db] or rediss://...)", redactedURL(raw), err)
	}
	return opts, nil
}

// newCluster joins the cluster. It does not wait for Redis: a node whose Redis
// is unreachable serves its own clients and joins when Redis answers.
func newCluster(cfg nodejsconfig.Config, logger *slog.Logger) (*cluster, error) {
	opts, err := redisOptions(cfg.Redis)
	if err != nil {
		return nil, err
	}
	client := redis.NewClient(busOptions(*opts))
	bc := redisadapter.Config{Client: client, Prefix: cfg.RedisPrefix, Logger: logger}
	if cfg.RedisPrefix != "" && cfg.RedisPrefix != "socket.io" {
		// Connection-state recovery's keys follow a prefix of its own, so
		// that two sites on one Redis keep apart; the default prefix keeps
		// @socket.io/redis-streams-adapter's names ("socket.io",
		// "sio:session:").
		bc.StreamName = cfg.RedisPrefix + ":recovery"
		bc.SessionKeyPrefix = cfg.RedisPrefix + ":session:"
	}
	bus, err := redisadapter.New(bc)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	prefix := cfg.RedisPrefix
	if prefix == "" {
		prefix = "socket.io"
	}
	so := *opts
	so.DialTimeout, so.ReadTimeout, so.WriteTimeout = storeTimeout, storeTimeout, storeTimeout
	buffers(&so, storeBuffer, storeBuffer)
	logger.Info("cluster node", slog.String("redis", redactedURL(cfg.Redis)), slog.String("prefix", prefix), slog.String("node", bus.NodeID()))
	return &cluster{client: client, bus: bus, storeClient: redis.NewClient(&so), prefix: prefix}, nil
}

// followNodes makes the Drupal store, which takes the nodes that table (this
// node's copy of the table of live nodes, under the adapter's node id) no
// longer lists for dead.
func (c *cluster) followNodes(table *nodetable.Node, logger *slog.Logger) error {
	// The store's keys follow the adapter's prefix, so two sites sharing a
	// Redis with their own prefixes keep their Drupal data apart too.
	st, err := redisstore.New(redisstore.Config{
		Client: c.storeClient,
		Prefix: c.prefix + ":drupal",
		Nodes:  table,
		NodeID: table.ID(),
		Logger: logger,
	})
	if err != nil {
		return err
	}
	c.store.Store(st)
	return nil
}

// nodesLeft is the table's OnChange for departures: the store drops the
// nodes that left now rather than at its next tick.
func (c *cluster) nodesLeft() {
	if st := c.store.Load(); st != nil {
		st.NodesLeft()
	}
}

// drupalStore is the Drupal bridge's store: nil (the bridge's in-memory
// store) without a cluster. The bridge starts and closes it.
func (c *cluster) drupalStore() store.Store {
	if c == nil {
		return nil
	}
	if st := c.store.Load(); st != nil {
		return st
	}
	return nil
}

// factory is the adapter factory of the Socket.IO server; nil (the in-memory
// adapter) without a cluster.
func (c *cluster) factory() adapter.Factory {
	if c == nil {
		return nil
	}
	return c.bus.Factory()
}

// close leaves the cluster; call it after the Socket.IO server is closed.
func (c *cluster) close() {
	if c == nil {
		return
	}
	_ = c.bus.Close()
	_ = c.client.Close()
	_ = c.storeClient.Close()
}

// redactedURL is raw with its password hidden, for logs and errors.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
