package main

import (
	"syscall"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/internal/clientip"
	"github.com/socketd/socketd/server/engine"
)

// fdReserve is what the default maxConnections leaves of the open-file
// limit for everything that is not a client: Drupal's API calls, calls to
// Drupal, Redis, the other nodes, the metrics listener, half-open
// connections.
const fdReserve = 1024

// defaultMaxConnections is maxConnections' default for an open-file limit
// of nofile: the limit less fdReserve, and at least three quarters of it.
// Each client holds a descriptor (two on a cluster node that bridges it),
// and a server out of descriptors refuses Drupal's calls as well as clients.
func defaultMaxConnections(nofile uint64) int {
	if nofile == 0 || nofile > 1<<30 {
		return 0 // unlimited or unknown: no cap
	}
	return int(max(nofile-min(fdReserve, nofile/4), 1))
}

// openFileLimit is the process's soft limit on open files (0 if unknown).
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// applyLimits sets the configuration's limits and trusted proxies on ec, for
// a process whose open-file limit is nofile.
func applyLimits(ec *engine.Config, cfg nodejsconfig.Config, nofile uint64) error {
	ec.Limits = engine.Limits{
		MaxSessions:         cfg.MaxConnections,
		MaxSessionsPerIP:    cfg.MaxConnectionsPerIP,
		HandshakeRatePerIP:  cfg.HandshakeRatePerIP,
		HandshakeBurstPerIP: cfg.HandshakeBurstPerIP,
	}
	switch cfg.MaxConnections {
	case 0:
		ec.Limits.MaxSessions = defaultMaxConnections(nofile)
	case -1:
		ec.Limits.MaxSessions = 0
	}
	trusted, err := clientip.Parse(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	ec.TrustedProxies = trusted
	return nil
}

// messageRate is maxMessagesPerSecond as socketio.Config.MessageRate: -1,
// no limit, is 0 there.
func messageRate(cfg nodejsconfig.Config) float64 {
	return max(cfg.MaxMessagesPerSecond, 0)
}
