package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/drupal/drupalmetrics"
	"github.com/socketd/socketd/server/health"
	"github.com/socketd/socketd/server/metrics"
)

// newLogger is the process's logger: log/slog's text lines by default, or
// one JSON object per line (logFormat "json", -log-format json).
func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ops is the operator's listener (metricsAddr, -metrics-addr): /metrics,
// /healthz and /readyz, apart from the public one so it can stay private.
type ops struct {
	ready *health.Readiness
	hs    *http.Server
	addr  net.Addr
}

// serveOps starts the operator's listener for a. Readiness: the public
// listener is open (it is when serveOps is called), Drupal answers
// (drupal.Backend.Ready), and with a cluster, the node is on the Redis bus.
// When ctx ends (SIGTERM) the server stops being ready before anything
// closes, and stays so: the listener answers until close, so a balancer
// sees the node leave.
func serveOps(ctx context.Context, addr string, a *app, log *slog.Logger) (*ops, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(
		metrics.NewBuildInfo(version),
		metrics.NewServerCollector(a.io),
		drupalmetrics.NewCollector(a.bridge),
	)
	ready := &health.Readiness{}
	a.ready = ready
	var listening atomic.Bool
	listening.Store(true)
	ready.Add("listening", func(context.Context) error {
		if !listening.Load() {
			return errors.New("the public listener is shutting down")
		}
		return nil
	})
	ready.Add("drupal", a.bridge.Backend().Ready)
	if a.cluster != nil {
		reg.MustRegister(metrics.NewRedisCollector(a.cluster.bus))
		ready.Add("redis", metrics.RedisReady(a.cluster.bus))
	}
	o := &ops{ready: ready, addr: ln.Addr(), hs: &http.Server{
		Handler:           metrics.Handler(reg, ready, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	go func() {
		if err := o.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", slog.String("error", err.Error()))
		}
	}()
	go func() {
		<-ctx.Done()
		// The first step of a shutdown (and of the drain to come).
		ready.Drain()
		listening.Store(false)
	}()
	log.Info("metrics listening", slog.String("metrics", "http://"+ln.Addr().String()+"/metrics"),
		slog.String("readyz", "http://"+ln.Addr().String()+"/readyz"))
	return o, nil
}

// close stops the operator's listener; call it when the server is down.
func (o *ops) close() {
	if o != nil {
		_ = o.hs.Close()
	}
}
