// Package metricstest holds what the metrics packages' tests share: the check
// that every metric a collector describes has its row in the operator's
// table (docs/OPERATIONS.md).
package metricstest

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Documented fails t for every metric of cs whose name, in backquotes, is not
// in the file at doc, and returns how many metrics cs describe. Describe
// alone is called: the collectors may wrap nothing.
func Documented(t testing.TB, doc string, cs ...prometheus.Collector) int {
	t.Helper()
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Errorf("no name in %s", d)
				continue
			}
			n++
			if !strings.Contains(string(text), "`"+m[1]+"`") {
				t.Errorf("%s is not in %s", m[1], doc)
			}
		}
	}
	return n
}
