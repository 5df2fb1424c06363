package metrics

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/socketd/socketd/server/metrics/metricstest"
	"github.com/socketd/socketd/server/socketio"
)

// TestServerCollectorLint: the metrics follow Prometheus's naming rules
// (promlint) and what Collect sends matches Describe (a registry refuses
// otherwise).
func TestServerCollectorLint(t *testing.T) {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = io.Close(context.Background()) })
	c := NewServerCollector(io)
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	reg := NewRegistry()
	reg.MustRegister(c, NewBuildInfo("test"))
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "socketd_engine_sessions"); n != 4 {
		t.Fatalf("%d session series, want 4 (2 transports x 2 revisions)", n)
	}
	// The recovery counters (their values are socketio.Stats', tested there).
	for _, name := range []string{"socketd_socketio_recovered_total", "socketd_socketio_recovery_misses_total"} {
		if n := testutil.CollectAndCount(c, name); n != 1 {
			t.Errorf("%s: %d series, want 1", name, n)
		}
	}
}

// TestMetricsDocumented: every metric the package exports has its row in
// docs/OPERATIONS.md, so the operator's table does not fall behind.
func TestMetricsDocumented(t *testing.T) {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = io.Close(context.Background()) })
	n := metricstest.Documented(t, "../../docs/OPERATIONS.md", NewServerCollector(io), NewRedisCollector(nil), NewBuildInfo("test"))
	if n < 30 {
		t.Fatalf("only %d metrics described", n)
	}
}
