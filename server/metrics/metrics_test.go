package metrics

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
}
