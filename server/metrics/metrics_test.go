package metrics

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
	doc, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = io.Close(context.Background()) })
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	n := 0
	for _, c := range []prometheus.Collector{NewServerCollector(io), NewRedisCollector(nil), NewBuildInfo("test")} {
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			n++
			if !strings.Contains(string(doc), "`"+m[1]+"`") {
				t.Errorf("%s is not in docs/OPERATIONS.md", m[1])
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d metrics described", n)
	}
}
