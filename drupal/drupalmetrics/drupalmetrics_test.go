package drupalmetrics

import (
	"testing"

	"github.com/socketd/socketd/server/metrics/metricstest"
)

// Every metric of the bridge has its row in docs/OPERATIONS.md, as
// server/metrics checks for the server's.
func TestMetricsDocumented(t *testing.T) {
	// Describe reads no counters: no bridge is needed.
	if n := metricstest.Documented(t, "../../docs/OPERATIONS.md", NewCollector(nil)); n != 10 {
		t.Fatalf("%d metrics described, want the collector's 10", n)
	}
}
