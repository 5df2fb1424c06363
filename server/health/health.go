// Package health answers the liveness and readiness probes of a load
// balancer or an orchestrator: /healthz (the process is alive) and /readyz
// (it should be sent clients: every readiness check passes and it is not
// draining). It imports nothing of socketd; the checks are functions the
// program registers (cmd/socketd: listening, Drupal reachable, Redis
// subscribed).
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// CheckTimeout bounds a readiness check: an orchestrator's probe has a short
// timeout of its own (Kubernetes: 1 s by default), and a check that cannot
// tell by then counts as failed for this answer.
const CheckTimeout = 900 * time.Millisecond

// Readiness is whether the server should be sent clients. The zero value is
// ready: no checks, not draining.
type Readiness struct {
	draining atomic.Bool

	mu     sync.Mutex
	checks []check
}

type check struct {
	name string
	fn   func(context.Context) error
}

// Add registers a check under name; it is ready when fn returns nil. fn runs
// on every readiness request, with the others, bounded by CheckTimeout: it
// must be cheap or answer from state it keeps.
func (r *Readiness) Add(name string, fn func(context.Context) error) {
	r.mu.Lock()
	r.checks = append(r.checks, check{name, fn})
	r.mu.Unlock()
}

// Drain makes the server not ready from now on, whatever the checks say, so
// that balancers stop sending it clients before it closes the ones it has.
// It is the first step of a graceful shutdown, and cannot be undone.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Draining reports whether Drain was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// Report is the outcome of the readiness checks.
type Report struct {
	Ready    bool `json:"ready"`
	Draining bool `json:"draining"`
	// Checks maps each check to "ok" or to its error.
	Checks map[string]string `json:"checks"`
}

// Check runs every check at once, each bounded by CheckTimeout and ctx.
func (r *Readiness) Check(ctx context.Context) Report {
	r.mu.Lock()
	checks := r.checks
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { errs[i] = run(ctx, c.fn) })
	}
	wg.Wait()
	rep := Report{Ready: !r.Draining(), Draining: r.Draining(), Checks: make(map[string]string, len(checks))}
	for i, c := range checks {
		if errs[i] != nil {
			rep.Ready = false
			rep.Checks[c.name] = errs[i].Error()
		} else {
			rep.Checks[c.name] = "ok"
		}
	}
	return rep
}

// run calls fn, giving up when ctx ends: a check that overstays counts as
// failed and is left to finish on its own.
func run(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP answers a readiness probe: 200 when ready, 503 otherwise, with
// the Report as JSON either way, so an operator sees what is not ready.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rep := r.Check(req.Context())
	status := http.StatusOK
	if !rep.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rep)
}

// Live answers a liveness probe: 200 while the process can serve HTTP at all.
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
