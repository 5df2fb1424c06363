package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's first steps, as a new operator takes them: `make build` gives
// bin/socketd stamped with its version.

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
}
