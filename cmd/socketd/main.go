// Command socketd is the socketd server: a Socket.IO server that replaces
// drupal-node.js, the Node.js app of Drupal's "Node.js integration" module.
//
//	socketd /etc/socketd/nodejs.config.js     # the operator's existing config file
//	socketd -config nodejs.config.json        # or JSON / YAML with the same keys
//	socketd -dev                              # local try-out: built-in Drupal stand-in, /demo page
//
// Configuration comes from the file, then the NODE_* environment variables of
// the Lagoon/wodby images, then flags; see README.md for every key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/socketd/socketd/server/memreduce"
)

// version is socketd's own version, stamped by make build (-ldflags
// "-X main.version=..." from git describe); "dev" in a plain go build.
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "socketd:", err)
		os.Exit(1)
	}
}

// flags are the command line; a zero value leaves the configuration alone.
type flags struct {
	config       string
	dev          bool
	host         string
	port         int
	serviceKey   string
	backend      string
	clientBundle string
	logLevel     string
	debugAddr    string
	noReducer    bool
	redis        string
	redisPrefix  string
	advertise    string
	version      bool
	keepAlive    time.Duration
	headers      time.Duration
	body         time.Duration
	maxHalfOpen  int
	metricsAddr  string
	logFormat    string

	maxConns       int
	maxConnsPerIP  int
	handshakeRate  float64
	maxMessages    float64
	handshakeTO    time.Duration
	trustedProxies string
	drainTimeout   time.Duration
}

// synopsis is the first line of -h, and what a wrong flag gets.
const synopsis = "usage: socketd [flags] [nodejs.config.js]    (or socketd -dev to try it locally)"

// helpFooter ends -h: where the configuration keys the flags override are
// described, for an operator who has only the binary and the repository.
const helpFooter = `
Flags come before the config file and override its keys. The file (nodejs.config.js, or JSON
or YAML with the same keys), the NODE_* and SOCKETD_* environment variables and every key are
described in README.md, section "Configuration reference"; metrics, probes, logs and running
socketd under systemd, supervisord or Docker: docs/OPERATIONS.md.
`

// parseFlags reads the command line. -h prints the synopsis and the flags on
// stdout and returns flag.ErrHelp; a bad flag's error carries the synopsis.
func parseFlags(args []string, stdout io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("socketd", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // usage is printed below, where -h is told from a mistake
	fs.StringVar(&f.config, "config", "", "configuration file (nodejs.config.js, .json or .yaml); also accepted as the first argument")
	fs.BoolVar(&f.dev, "dev", false, "development mode: listen on 127.0.0.1:8080 with a built-in stand-in for Drupal's auth callback (accepts every token) and a demo page at /demo; reads no config file, not even ./nodejs.config.js")
	fs.StringVar(&f.host, "host", "", "listen host (overrides the config's host)")
	fs.IntVar(&f.port, "port", 0, "listen port (overrides the config's port)")
	fs.StringVar(&f.serviceKey, "service-key", "", "shared secret with Drupal (overrides serviceKey)")
	fs.StringVar(&f.backend, "backend", "", "Drupal's base URL for callbacks, e.g. http://drupal.local:80/ (overrides backend.scheme/host/port/basePath)")
	fs.StringVar(&f.clientBundle, "client-bundle", "", "socket.io browser client served at <path>/socket.io.js: 2 or 4 (overrides clientBundle)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info, or debug when the config has debug: true)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /metrics (Prometheus), /healthz and /readyz on this separate address, e.g. 127.0.0.1:9090 (overrides metricsAddr); off by default, keep it private (docs/OPERATIONS.md)")
	fs.StringVar(&f.logFormat, "log-format", "", "text or json (overrides logFormat; default text)")
	fs.StringVar(&f.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) on this separate address, e.g. 127.0.0.1:6060; off by default, keep it on loopback")
	fs.StringVar(&f.redis, "redis", "", "Redis URL joining this node to a cluster, e.g. redis://:password@host:6379/0 or rediss://... (overrides redis and SOCKETD_REDIS_URL); without it socketd is a single node")
	fs.StringVar(&f.redisPrefix, "redis-prefix", "", "prefix of the cluster's Redis channels (overrides redisPrefix; default socket.io, the Node adapter's)")
	fs.StringVar(&f.advertise, "advertise", "", "in a cluster (-redis), the URL the other nodes reach this one at, e.g. http://10.0.0.5:8080 (overrides advertise and SOCKETD_ADVERTISE; default: the listen address, or this host's first non-loopback address when listening on all)")
	fs.BoolVar(&f.noReducer, "no-memory-reducer", false, "do not give memory back to the OS when the server goes quiet (see server/memreduce)")
	fs.BoolVar(&f.version, "version", false, "print socketd's version and exit")
	fs.DurationVar(&f.keepAlive, "keep-alive-timeout", 0, "close kept-alive HTTP connections idle this long (overrides keepAliveTimeout; default 5s)")
	fs.DurationVar(&f.headers, "headers-timeout", 0, "bound on reading a request's head (overrides headersTimeout; default 10s)")
	fs.DurationVar(&f.body, "body-timeout", 0, "bound on reading a request's body (overrides bodyTimeout; default 30s)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 0, "on SIGTERM, exit within this long, having closed the clients spread out so they reconnect to other nodes (overrides drainTimeout; default 10s; docs/OPERATIONS.md); a second SIGTERM or SIGINT exits at once")
	fs.IntVar(&f.maxHalfOpen, "max-half-open", 0, "most connections without a complete request at once; more are closed (overrides maxHalfOpenConnections; default 4096)")
	fs.IntVar(&f.maxConns, "max-connections", 0, "most clients connected at once, -1 for no cap (overrides maxConnections; default: the open-file limit less 1024)")
	fs.IntVar(&f.maxConnsPerIP, "max-connections-per-ip", 0, "most clients one address may have connected (overrides maxConnectionsPerIP; default no cap)")
	fs.Float64Var(&f.handshakeRate, "handshake-rate-per-ip", 0, "connections per second one address may open on average (overrides handshakeRatePerIP; default no limit)")
	fs.Float64Var(&f.maxMessages, "max-messages-per-second", 0, "messages per second a client may send, -1 for no limit (overrides maxMessagesPerSecond; default 100)")
	fs.DurationVar(&f.handshakeTO, "handshake-timeout", 0, "time a client has to connect to the namespace, then to authenticate (overrides handshakeTimeout; default 45s)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs of the proxies whose X-Forwarded-For is believed (overrides trustedProxies; default none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, synopsis)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, helpFooter)
			return f, err
		}
		return f, fmt.Errorf("%w\n%s; socketd -h lists the flags", err, synopsis)
	}
	switch rest := fs.Args(); {
	case len(rest) > 1:
		return f, fmt.Errorf("one configuration file expected, got %q", rest)
	case len(rest) == 1 && f.config != "" && f.config != rest[0]:
		return f, errors.New("both -config and a config file argument given")
	case len(rest) == 1:
		f.config = rest[0]
	}
	return f, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.version {
		fmt.Fprintf(stdout, "socketd %s (%s)\n", version, runtime.Version())
		return nil
	}
	cfg, err := loadConfig(f, os.Getenv, fileExists)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	if f.logLevel != "" {
		if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
			return fmt.Errorf("-log-level: %w", err)
		}
	}
	logger := newLogger(stderr, cfg.LogFormat, level)
	for _, k := range cfg.Ignored {
		logger.Warn("configuration key ignored", slog.String("key", k))
	}
	if devIgnoresFile(f, fileExists) {
		logger.Info("dev mode: ./nodejs.config.js is not read (run without -dev to use it)")
	}
	app, err := newApp(cfg, f.dev, logger)
	if err != nil {
		return err
	}
	ln, err := app.listen()
	if err != nil {
		return err
	}
	ctx, drain := context.WithCancel(context.Background())
	defer drain()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan struct{})
	defer close(served)
	go watchSignals(sigs, drain, time.Duration(cfg.DrainTimeout), served, logger, os.Exit)
	if app.certs != nil {
		app.certs.reloadOnSIGHUP(ctx)
	}
	if !f.noReducer {
		// Idle push servers hold many quiet sockets: after a burst, give the
		// burst's garbage back instead of keeping the heap at its peak.
		go memreduce.New(memreduce.Config{Logger: logger}).Run(ctx)
	}
	if cfg.MetricsAddr != "" {
		o, err := serveOps(ctx, cfg.MetricsAddr, app, logger)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("metricsAddr %s: %w", cfg.MetricsAddr, err)
		}
		defer o.close()
	}
	if f.debugAddr != "" {
		if _, err := serveDebug(ctx, f.debugAddr, logger); err != nil {
			_ = ln.Close()
			return fmt.Errorf("-debug-addr: %w", err)
		}
	}
	return app.serve(ctx, ln)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// watchSignals drains the server (drain) on the first SIGTERM or SIGINT, and
// ends the process (exit(1)) on a second one, or when the drain is not done
// (served closed) within deadline: an operator's second Ctrl-C, or an
// orchestrator's patience, is never held up.
func watchSignals(sigs <-chan os.Signal, drain func(), deadline time.Duration, served <-chan struct{}, log *slog.Logger, exit func(int)) {
	select {
	case <-sigs:
	case <-served:
		return
	}
	drain()
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case sig := <-sigs:
		log.Warn("second signal: exiting without finishing the drain", slog.String("signal", sig.String()))
	case <-t.C:
		log.Error("drain deadline passed: exiting", slog.Duration("drain_timeout", deadline))
	case <-served:
		return
	}
	exit(1)
}
