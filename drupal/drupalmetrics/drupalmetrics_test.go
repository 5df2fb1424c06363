package drupalmetrics

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every metric of the bridge has its row in docs/OPERATIONS.md, as
// server/metrics checks for the server's.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	ch := make(chan *prometheus.Desc, 64)
	NewCollector(nil).Describe(ch) // Describe reads no counters
	close(ch)
	n := 0
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
	if n != 10 {
		t.Fatalf("%d metrics described, want the collector's 10", n)
	}
}
