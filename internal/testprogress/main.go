// Command testprogress turns the output of `go test -json` into progress
// lines for make test: each top-level test as it ends (PASS, FAIL or SKIP
// with its time), everything a failed test printed, and each package's
// result. The end-to-end tests run for minutes in one package; with plain
// `go test` make test says nothing until they are all done, and with -v it
// says far too much.
//
//	go test -json ./test/e2e/... 2>&1 | go run ./internal/testprogress
//
// Lines that are not JSON (a build error on stderr) are passed through. The
// exit status is 1 when a test or package failed, so a pipeline without
// pipefail still fails.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(filter(os.Stdin, os.Stdout))
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// maxKept bounds the output kept for one test or package (only shown when it
// fails): the last lines are the ones that say why.
const maxKept = 2000

// outputs keeps the output of running tests, by package and top-level test
// ("" for the package's own output).
type outputs map[[2]string][]string

func (o outputs) add(pkg, test, line string) {
	k := [2]string{pkg, test}
	lines := append(o[k], line)
	if len(lines) > maxKept {
		lines = append(lines[:0], lines[len(lines)-maxKept:]...)
	}
	o[k] = lines
}

func (o outputs) take(pkg, test string) []string {
	k := [2]string{pkg, test}
	lines := o[k]
	delete(o, k)
	return lines
}

func filter(r io.Reader, w io.Writer) int {
	status := 0
	kept := outputs{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		top, _, sub := strings.Cut(e.Test, "/")
		switch e.Action {
		case "output":
			kept.add(e.Package, top, e.Output)
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			status = 1
		case "pass", "fail", "skip":
			if sub {
				continue // a subtest: its parent's line covers it
			}
			if e.Test == "" {
				status |= packageEnd(w, e, kept.take(e.Package, ""))
				continue
			}
			fmt.Fprintf(w, "    --- %s: %s (%.2fs)\n", strings.ToUpper(e.Action), e.Test, e.Elapsed)
			lines := kept.take(e.Package, top)
			if e.Action == "fail" {
				status = 1
				for _, l := range lines {
					fmt.Fprint(w, "        "+l)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testprogress:", err)
		return 1
	}
	return status
}

// packageEnd prints a package's result, with its own output when it failed
// (a panic, a timeout, a failing TestMain).
func packageEnd(w io.Writer, e event, lines []string) int {
	switch e.Action {
	case "pass":
		fmt.Fprintf(w, "ok  \t%s\t%.1fs\n", e.Package, e.Elapsed)
	case "skip":
		fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
	default:
		for _, l := range lines {
			fmt.Fprint(w, l)
		}
		fmt.Fprintf(w, "FAIL\t%s\t%.1fs\n", e.Package, e.Elapsed)
		return 1
	}
	return 0
}
