package main

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter"
)

// cluster is this node's membership of the Redis cluster of cfg.Redis.
type cluster struct {
	client *redis.Client
	bus    *redisadapter.Cluster
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
func newCluster(cfg drupal.Config, logger *slog.Logger) (*cluster, error) {
	opts, err := redisOptions(cfg.Redis)
	if err != nil {
		return nil, err
	}
	client := redis.NewClient(opts)
	bus, err := redisadapter.New(redisadapter.Config{Client: client, Prefix: cfg.RedisPrefix, Logger: logger})
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	prefix := cfg.RedisPrefix
	if prefix == "" {
		prefix = "socket.io"
	}
	logger.Info("cluster node", slog.String("redis", redactedURL(cfg.Redis)), slog.String("prefix", prefix), slog.String("node", bus.NodeID()))
	return &cluster{client: client, bus: bus}, nil
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
}

// redactedURL is raw with its password hidden, for logs and errors.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
