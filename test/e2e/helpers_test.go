package e2e

import (
	"bufio"
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
//	                     stdout and exit on SIGTERM. To restart a server on the port
//	                     it had, the tests start the command again with
//	                     "-addr 127.0.0.1:PORT" appended.

const (
	serverStartTimeout = 30 * time.Second // the go build is not included
	serverStopTimeout  = 5 * time.Second
	listeningPrefix    = "listening on "
)

// tmpDir holds the built server binaries; TestMain removes it.
var tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "socketd-e2e-")
	if err == nil {
		tmpDir = dir
		err = setupTLS(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
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
	URL     string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, valid after done
	output  *lockedBuffer // stdout after the "listening" line, and stderr
	stopped bool          // stop has run
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
	return startServer(t, bin, "-addr", "127.0.0.1:0", "-sio-ping-timeout", e2ePingTimeout)
}

// e2ePingTimeout is the suiteserver's Socket.IO pingTimeout in these tests:
// the conformance suite's 200 ms ended sessions of clients that a loaded
// machine (CI beside other builds) left waiting a little longer; no scenario
// here tests the heartbeat's timing (the engine's own tests do).
const e2ePingTimeout = "2s"

// startSuiteServerTLS is startSuiteServer serving https (the suiteserver's
// -tls-cert/-tls-key, the e2e certificate: see tls_test.go).
func startSuiteServerTLS(t testing.TB) *testServer {
	t.Helper()
	return startServer(t, buildBinary(t, "./suiteserver"), "-addr", "127.0.0.1:0",
		"-tls-cert", e2eTLS.certFile, "-tls-key", e2eTLS.keyFile, "-sio-ping-timeout", e2ePingTimeout)
}

// startSuiteServerAt is startSuiteServer on the given address (127.0.0.1:PORT): the
// suiteserver gets "-addr addr", a SOCKETD_E2E_SERVER command gets it appended.
func startSuiteServerAt(t testing.TB, addr string) *testServer {
	t.Helper()
	if custom := strings.Fields(os.Getenv("SOCKETD_E2E_SERVER")); len(custom) > 0 {
		return startServer(t, custom[0], append(custom[1:], "-addr", addr)...)
	}
	return startServer(t, buildBinary(t, "./suiteserver"), "-addr", addr, "-sio-ping-timeout", e2ePingTimeout)
}

// restart stops the server (SIGTERM, as at the end of a test) and starts a new one on
// the same address, which is checked: clients must find it where they left the old one.
func (s *testServer) restart(t testing.TB) *testServer {
	t.Helper()
	addr := strings.TrimPrefix(s.URL, "http://")
	s.stop(t)
	n := startSuiteServerAt(t, addr)
	if n.URL != s.URL {
		t.Fatalf("restarted server listens on %s, want %s", n.URL, s.URL)
	}
	return n
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
	if !found || !strings.HasPrefix(addr, "http://127.0.0.1:") && !strings.HasPrefix(addr, "https://127.0.0.1:") {
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
// contract is a clean exit on SIGTERM. Only the first call acts (restart stops a
// server during the test, the cleanup registered by startServer comes later).
func (s *testServer) stop(t testing.TB) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
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
	if ctx.Err() != nil {
		t.Fatalf("node %s %s: no result within %v; stdout:\n%s\nstderr:\n%s",
			script, strings.Join(args, " "), timeout, &stdout, &stderr)
	}
	return decodeNodeResult(t, script, args, err, cmd.ProcessState, stdout.String(), stderr.String(), details)
}

// decodeNodeResult checks how a client script ended and decodes its last stdout line
// (see runNodeScript).
func decodeNodeResult(t testing.TB, script string, args []string, runErr error, state *os.ProcessState,
	stdout, stderr string, details any) nodeResult {
	t.Helper()
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		t.Fatalf("node %s: %v", script, runErr)
	}
	res := nodeResult{Stderr: stderr, ExitCode: state.ExitCode()}
	res.Line = lastLine(stdout)
	if err := json.Unmarshal([]byte(res.Line), &res); err != nil {
		t.Fatalf("node %s %s: exit %d, last stdout line is not JSON (%v); stdout:\n%s\nstderr:\n%s",
			script, strings.Join(args, " "), res.ExitCode, err, stdout, stderr)
	}
	if details != nil {
		if err := json.Unmarshal([]byte(res.Line), details); err != nil {
			t.Fatalf("node %s: decode %s: %v", script, res.Line, err)
		}
	}
	if res.OK != (res.ExitCode == 0) {
		t.Fatalf("node %s: exit status %d disagrees with %s; stderr:\n%s", script, res.ExitCode, res.Line, stderr)
	}
	return res
}

// nodeProcess is a client script that talks with the test while it runs: the test
// reads its stdout line by line and writes lines to its stdin.
type nodeProcess struct {
	script  string
	args    []string
	timeout time.Duration
	cmd     *exec.Cmd
	ctx     context.Context
	cancel  context.CancelFunc
	stdin   io.WriteCloser
	lines   chan string // stdout lines; closed at EOF
	stdout  *lockedBuffer
	stderr  *lockedBuffer
}

// startNodeScript starts `node clients/<script> args...` bounded by timeout (the
// process is killed then) and registers a cleanup that kills it if the test has not
// collected its result.
func startNodeScript(t testing.TB, node string, timeout time.Duration, script string, args ...string) *nodeProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	p := &nodeProcess{script: script, args: args, timeout: timeout, ctx: ctx, cancel: cancel,
		lines: make(chan string, 64), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	p.cmd = exec.CommandContext(ctx, node, append([]string{filepath.Join("clients", script)}, args...)...)
	p.cmd.WaitDelay = 2 * time.Second
	p.cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatalf("node %s: %v", script, err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("node %s: %v", script, err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("node %s: %v", script, err)
	}
	t.Cleanup(cancel) // kills the process if result was not reached
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.stdout.Write([]byte(line + "\n"))
			select {
			case p.lines <- line:
			default: // nobody is waiting for more lines; the buffer keeps them all
			}
		}
	}()
	return p
}

// waitLine waits, at most within, for a stdout line for which match is true and
// returns it. It fails the test if the script ends or prints its result first.
func (p *nodeProcess) waitLine(t testing.TB, within time.Duration, what string, match func(string) bool) string {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				res := p.result(t, nil)
				t.Fatalf("node %s ended before %s: %s\nstderr:\n%s", p.script, what, res.Line, res.Stderr)
			}
			if match(line) {
				return line
			}
		case <-timer.C:
			t.Fatalf("node %s: no %s within %v; stdout:\n%s\nstderr:\n%s", p.script, what, within, p.stdout, p.stderr)
		}
	}
}

// send writes line and a newline to the script's stdin.
func (p *nodeProcess) send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("node %s: write stdin: %v\nstderr:\n%s", p.script, err, p.stderr)
	}
}

// result closes stdin, waits for the script to exit (within the timeout given to
// startNodeScript) and decodes its last stdout line as runNodeScript does.
func (p *nodeProcess) result(t testing.TB, details any) nodeResult {
	t.Helper()
	_ = p.stdin.Close()
	for range p.lines { // drain: Wait must not run before stdout is read to EOF
	}
	err := p.cmd.Wait()
	timedOut := p.ctx.Err() != nil
	p.cancel()
	if timedOut {
		t.Fatalf("node %s %s: no result within %v (%v); stdout:\n%s\nstderr:\n%s",
			p.script, strings.Join(p.args, " "), p.timeout, err, p.stdout, p.stderr)
	}
	return decodeNodeResult(t, p.script, p.args, err, p.cmd.ProcessState, p.stdout.String(), p.stderr.String(), details)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
