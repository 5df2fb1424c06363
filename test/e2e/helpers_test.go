package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Shared helpers of the end-to-end tests: build and start the conformance server,
// and run the Node client scripts in clients/ with the npm packages of
// node_modules/ (installed by `make e2e-deps`, i.e. `npm ci` in this directory).
//
// Environment:
//
//	CI=true              a missing node or node_modules fails the tests instead of
//	                     skipping them.
//	SOCKETD_E2E_SERVER   a command line (split on spaces) started instead of the
//	                     suiteserver built from ./suiteserver, e.g. a Node reference
//	                     server; it must print "listening on http://HOST:PORT" on
//	                     stdout and exit on SIGTERM.

const (
	serverStartTimeout = 30 * time.Second // the go build is not included
	serverStopTimeout  = 5 * time.Second
	listeningPrefix    = "listening on "
)

// tmpDir holds the built server binaries; TestMain removes it.
var tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "socketd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildOnce builds each Go package at most once per test binary run.
var buildOnce sync.Map // package path -> *builtBinary

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary builds the main package pkg (relative to this directory, e.g.
// "./suiteserver") into tmpDir and returns the executable's path.
func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(pkg, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		out := filepath.Join(tmpDir, filepath.Base(pkg))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		msg, err := cmd.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// skipOrFail skips the test, or fails it when CI=true: in CI a missing
// dependency must never pass silently.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: missing end-to-end dependencies are failures)", msg)
	}
	t.Skipf("%s; skipping (run `make e2e-deps`, or set CI=true to make this a failure)", msg)
}

// requireNode returns the path of the node executable after checking that the
// given npm packages (aliases such as "eio3") are installed in node_modules.
func requireNode(t testing.TB, packages ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node not found in PATH")
	}
	if _, err := os.Stat("node_modules"); err != nil {
		skipOrFail(t, "test/e2e/node_modules is missing (npm ci in test/e2e)")
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			skipOrFail(t, "npm package %s is not installed in test/e2e/node_modules (npm ci in test/e2e)", p)
		}
	}
	return node
}

// lockedBuffer collects a child's output from its copying goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a server process started by a test.
type testServer struct {
	URL    string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after done
	output *lockedBuffer // stdout after the "listening" line, and stderr
}

// startSuiteServer starts the conformance server (./suiteserver, built once) on a
// free loopback port, or the SOCKETD_E2E_SERVER command, and stops it when the test
// ends.
func startSuiteServer(t testing.TB) *testServer {
	t.Helper()
	if custom := strings.Fields(os.Getenv("SOCKETD_E2E_SERVER")); len(custom) > 0 {
		t.Logf("server: SOCKETD_E2E_SERVER=%q", strings.Join(custom, " "))
		return startServer(t, custom[0], custom[1:]...)
	}
	bin := buildBinary(t, "./suiteserver")
	return startServer(t, bin, "-addr", "127.0.0.1:0")
}

// startServer runs name with args, waits (bounded) for the line
// "listening on http://HOST:PORT" on its stdout and registers a cleanup that stops
// it with SIGTERM, then SIGKILL after serverStopTimeout. Everything else the server
// prints is logged if the test fails.
func startServer(t testing.TB, name string, args ...string) *testServer {
	t.Helper()
	s := &testServer{done: make(chan struct{}), output: &lockedBuffer{}}
	stdout := &firstLineWriter{line: make(chan string, 1), rest: s.output}
	cmd := exec.Command(name, args...)
	cmd.Stdout = stdout
	cmd.Stderr = s.output
	cmd.WaitDelay = serverStopTimeout // a grandchild holding the pipes cannot hang Wait
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server %s: %v", name, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop(t) })

	timer := time.NewTimer(serverStartTimeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-stdout.line:
	case <-s.done:
		select {
		case line = <-stdout.line:
		default:
			t.Fatalf("server %s exited before it was listening (%v); output:\n%s", name, s.err, s.output)
		}
	case <-timer.C:
		t.Fatalf("server %s did not print %q within %v; output:\n%s", name, listeningPrefix, serverStartTimeout, s.output)
	}
	addr, found := strings.CutPrefix(line, listeningPrefix)
	if !found || !strings.HasPrefix(addr, "http://127.0.0.1:") {
		t.Fatalf("server %s: first stdout line %q, want %q", name, line, listeningPrefix+"http://127.0.0.1:PORT")
	}
	s.URL = addr
	return s
}

// firstLineWriter hands the first line written to it to line and passes everything
// after it on to rest.
type firstLineWriter struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan string // buffered, receives exactly one line
	rest io.Writer
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return w.rest.Write(p)
	}
	w.buf = append(w.buf, p...)
	i := bytes.IndexByte(w.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	w.sent = true
	w.line <- strings.TrimRight(string(w.buf[:i]), "\r")
	if _, err := w.rest.Write(w.buf[i+1:]); err != nil {
		return 0, err
	}
	w.buf = nil
	return len(p), nil
}

// stop ends the server by its PID: SIGTERM, then SIGKILL after serverStopTimeout.
// A server that must be killed, or that fails on SIGTERM, fails the test: the
// contract is a clean exit on SIGTERM.
func (s *testServer) stop(t testing.TB) {
	t.Helper()
	defer func() {
		if t.Failed() {
			if out := s.output.String(); out != "" {
				t.Logf("server output:\n%s", out)
			}
		}
	}()
	select {
	case <-s.done:
		t.Errorf("server exited before the end of the test: %v", s.err)
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM server (pid %d): %v", s.cmd.Process.Pid, err)
	}
	timer := time.NewTimer(serverStopTimeout)
	defer timer.Stop()
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("server (pid %d) exited with %v after SIGTERM", s.cmd.Process.Pid, s.err)
		}
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("server (pid %d) did not exit within %v of SIGTERM; killed", s.cmd.Process.Pid, serverStopTimeout)
	}
}

// nodeResult is the outcome of one client script run.
type nodeResult struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Line     string `json:"-"` // the JSON line as printed
	Stderr   string `json:"-"`
	ExitCode int    `json:"-"`
}

// runNodeScript runs `node clients/<script> args...` bounded by timeout and decodes
// the JSON line the script prints last into details (when not nil). It fails the
// test if the script cannot be run, overruns timeout, prints no JSON line, or if
// the exit status disagrees with "ok".
func runNodeScript(t testing.TB, node string, timeout time.Duration, script string, details any, args ...string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("clients", script)}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()

	res := nodeResult{Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Fatalf("node %s %s: no result within %v; stdout:\n%s\nstderr:\n%s",
			script, strings.Join(args, " "), timeout, &stdout, &stderr)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("node %s: %v", script, err)
	}
	res.Line = lastLine(stdout.String())
	if err := json.Unmarshal([]byte(res.Line), &res); err != nil {
		t.Fatalf("node %s %s: exit %d, last stdout line is not JSON (%v); stdout:\n%s\nstderr:\n%s",
			script, strings.Join(args, " "), res.ExitCode, err, &stdout, &stderr)
	}
	if details != nil {
		if err := json.Unmarshal([]byte(res.Line), details); err != nil {
			t.Fatalf("node %s: decode %s: %v", script, res.Line, err)
		}
	}
	if res.OK != (res.ExitCode == 0) {
		t.Fatalf("node %s: exit status %d disagrees with %s; stderr:\n%s", script, res.ExitCode, res.Line, &stderr)
	}
	return res
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
