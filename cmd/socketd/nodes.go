package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	nodetable "github.com/socketd/socketd/server/cluster" // "cluster" is this package's Redis membership (cluster.go)
	"github.com/socketd/socketd/server/engine"
)

// membership is this node in the table of live nodes kept in Redis
// (server/cluster): the engine puts its tag in every sid and forwards a
// request for another node's session there, so the balancer in front need
// not be sticky.
type membership struct {
	node *nodetable.Node
}

// joinTimeout bounds the first announcement; a Redis that does not answer
// by then is joined later, by the heartbeat.
const joinTimeout = 2 * time.Second

// joinNodes announces this node, under id (the adapter's node id), in Redis
// through client (the cluster's, which it does not close). It does not wait
// for Redis: the node serves alone until Redis answers. left, when not nil,
// is called when nodes leave the table (withdrawn, or lease ended); it must
// return at once.
func joinNodes(cfg nodejsconfig.Config, client *redis.Client, id string, left func(), logger *slog.Logger) (*membership, error) {
	self, err := advertiseURL(cfg)
	if err != nil {
		return nil, err
	}
	prefix := cfg.RedisPrefix
	if prefix == "" {
		prefix = "socket.io"
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	node, err := nodetable.Start(ctx, nodetable.Config{
		URL:      self,
		ID:       id,
		Registry: nodetable.NewRedis(client, prefix+"#nodes"),
		TagLen:   engine.NodeTagLen,
		Logger:   logger,
		OnChange: func(_, gone []nodetable.Member) {
			if len(gone) > 0 && left != nil {
				left()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &membership{node: node}, nil
}

// nodes is what the engine is given: nil on a single node.
func (m *membership) nodes() engine.Nodes {
	if m == nil {
		return nil
	}
	return m.node
}

// leave withdraws this node; call it once its sessions are closed, before
// the Redis client is.
func (m *membership) leave() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	_ = m.node.Close(ctx)
}

// advertiseURL is cfg.Advertise, or the listen address when it is one the
// other nodes can use, or this host's first non-loopback address.
func advertiseURL(cfg nodejsconfig.Config) (string, error) {
	if cfg.Advertise != "" {
		if err := nodetable.CheckURL(cfg.Advertise); err != nil {
			return "", fmt.Errorf("advertise: %w", err)
		}
		return cfg.Advertise, nil
	}
	if cfg.Port == 0 {
		return "", errors.New("advertise: the port is chosen at start (port 0); give -advertise")
	}
	host := cfg.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		var err error
		if host, err = outwardHost(); err != nil {
			return "", fmt.Errorf("advertise: listening on every address and %w; give -advertise", err)
		}
	}
	u := cfg.Scheme + "://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port))
	if err := nodetable.CheckURL(u); err != nil {
		return "", fmt.Errorf("advertise: %w", err)
	}
	return u, nil
}

// outwardHost is the first global unicast address of an interface that is
// up (IPv4 first), or else the host name.
func outwardHost() (string, error) {
	addrs, _ := net.InterfaceAddrs()
	var v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
		if v6 == "" {
			v6 = ipn.IP.String()
		}
	}
	if v6 != "" {
		return v6, nil
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		return "", errors.New("no address of this host found")
	}
	return name, nil
}
