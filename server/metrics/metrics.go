package metrics

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/socketd/socketd/server/health"
)

// Namespace prefixes every socketd metric.
const Namespace = "socketd"

// NewRegistry returns a registry holding the Go runtime's collector
// (goroutines, heap, GC) and the process's (CPU, RSS, open files), to which
// the program adds socketd's collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the operator's endpoints: /metrics (the registry, in the
// Prometheus text format or OpenMetrics when asked), /healthz (alive) and
// /readyz (ready). Serve it on its own, private listener: it says how many
// clients the server has and what fails. Collection errors are logged to log
// (nil: not logged).
func Handler(g prometheus.Gatherer, ready *health.Readiness, log *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{
		// A failing collector drops its metrics from the answer; the rest
		// still gets through.
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}
	if log != nil {
		opts.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, opts))
	mux.Handle("GET /healthz", health.Live())
	mux.Handle("GET /readyz", ready)
	return mux
}

// NewBuildInfo returns the constant metric socketd_build_info{version} 1,
// so dashboards can show which version runs where.
func NewBuildInfo(version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   Namespace,
		Name:        "build_info",
		Help:        "Always 1; the version label is socketd's version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return g
}

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
}
