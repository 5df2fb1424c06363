package e2e

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's first steps, as a new operator takes them: `make build` gives
// bin/socketd stamped with its version; `make run` ends cleanly on Ctrl-C.

const makeTimeout = 5 * time.Minute

// repoRoot is the checkout this test runs in (test/e2e is two levels down).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// makeBuild runs `make build` with its output in a temporary BINDIR (so the
// test leaves the checkout's bin/ alone) and returns the socketd it built.
func makeBuild(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		skipOrFail(t, "make not found in PATH")
	}
	bindir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", repoRoot(t), "build", "BINDIR="+bindir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	bin := filepath.Join(bindir, "socketd")
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("make build did not write an executable %s (%v)", bin, err)
	}
	return bin
}

// wantVersion is what make build stamps: git describe in a checkout, "dev"
// without git.
func wantVersion(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot(t), "describe", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

func TestMakeBuild(t *testing.T) {
	bin := makeBuild(t)
	want := wantVersion(t)
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("socketd -version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "socketd "+want+" (go") {
		t.Fatalf("socketd -version printed %q, want \"socketd %s (go...)\"", out, want)
	}
	// -h is help asked for: the synopsis, exit 0.
	out, err = exec.Command(bin, "-h").Output()
	if first, _, _ := strings.Cut(string(out), "\n"); err != nil || !strings.HasPrefix(first, "usage: socketd ") {
		t.Fatalf("socketd -h: %v, first line %q", err, first)
	}
}

// Ctrl-C on `make run` (SIGINT to make's process group, as a terminal sends
// it) stops socketd cleanly and make with it, without a make error.
func TestMakeRunInterrupted(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		skipOrFail(t, "make not found in PATH")
	}
	// Children inherit an ignored SIGINT (a test run in the background of a
	// shell has it ignored): catching it here makes it the default again in
	// make, which is what a terminal's make has.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	defer signal.Stop(sigs)

	w := &signalWriter{want: []byte(`msg="socketd listening"`), seen: make(chan struct{})}
	cmd := exec.Command("make", "-s", "-C", repoRoot(t), "run", "BINDIR="+t.TempDir(),
		"RUN_ARGS=-port "+strconv.Itoa(freePort(t)))
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = serverStopTimeout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(makeTimeout)
	defer timer.Stop()
	select {
	case <-w.seen:
	case err := <-done:
		t.Fatalf("make run ended before socketd listened (%v):\n%s", err, w.buf.String())
	case <-timer.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("socketd did not listen within %v:\n%s", makeTimeout, w.buf.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * serverStopTimeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("make run still running after Ctrl-C:\n%s", w.buf.String())
	}
	out := w.buf.String()
	if strings.Contains(out, "make: ***") || strings.Contains(out, "socketd:") || !strings.Contains(out, `msg="socketd shutting down"`) {
		t.Fatalf("make run after Ctrl-C:\n%s", out)
	}
}

// make test names each step as it starts and lists the end-to-end tests as
// they end (the listing itself is internal/testprogress's test).
func TestMakeTestShowsProgress(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		skipOrFail(t, "make not found in PATH")
	}
	out, err := exec.Command("make", "-n", "-C", repoRoot(t), "test").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test: %v\n%s", err, out)
	}
	for _, want := range []string{`echo "== go vet"`, `echo "== gofmt"`, `echo "== unit tests`, `echo "== fuzz`,
		`echo "== end-to-end tests`, `go test -json -count=1 -timeout 20m ./test/e2e/... 2>&1 | go run ./internal/testprogress`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make -n test lacks %q:\n%s", want, out)
		}
	}
}
