// Package redistest starts a throwaway redis-server for tests: on a free
// loopback port, nothing saved to disk, stopped by its PID when the test ends.
// Fault tests kill it and start it again on the same port, or freeze it
// (SIGSTOP) and thaw it.
//
// Without redis-server on PATH the test is skipped, or fails when CI=true (in CI
// a missing dependency is a failure; `make test` installs it).
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long redis-server may take to answer PING.
const startTimeout = 15 * time.Second

// Server is a redis-server started by Start.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	t   testing.TB
	bin string
	dir string

	mu   sync.Mutex
	proc *os.Process
	done chan struct{} // closed when proc has exited and been reaped
}

// Start starts a redis-server on a free loopback port and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found on PATH (make test installs it as root: apt-get install -y redis-server)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: missing dependencies are failures)", msg)
		}
		t.Skip(msg + "; skipping")
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t, bin: bin, dir: t.TempDir()}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Kill ends the server at once with SIGKILL (a crash, for fault tests) and waits
// for the process to be gone.
func (s *Server) Kill() {
	proc, done := s.take()
	if proc == nil {
		return
	}
	_ = proc.Signal(syscall.SIGKILL)
	<-done
}

// Freeze stops the server with SIGSTOP: it keeps its port and connections
// but answers nothing, as a hung Redis or a network that drops packets
// would (the kernel still accepts new connections into the backlog). Thaw
// resumes it; Kill and Stop end a frozen server too.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a server stopped by Freeze.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: %v: the server is not running", sig)
	}
	if err := s.proc.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}

// take hands over the running process, if any.
func (s *Server) take() (*os.Process, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	proc, done := s.proc, s.done
	s.proc, s.done = nil, nil
	return proc, done
}

// Restart starts the server again on the same port after Kill. The port could
// have been taken meanwhile; the test fails then.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after a bound).
func (s *Server) Stop() {
	proc, done := s.take()
	if proc == nil {
		return
	}
	_ = proc.Signal(syscall.SIGTERM)
	_ = proc.Signal(syscall.SIGCONT) // a frozen server acts on SIGTERM once resumed
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = proc.Signal(syscall.SIGKILL)
		<-done
	}
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin,
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for ping(ctx, s.Addr) != nil {
		select {
		case <-done:
			return fmt.Errorf("redis-server on %s exited at start (port taken?)", s.Addr)
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return fmt.Errorf("redis-server on %s did not answer PING within %v", s.Addr, startTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.mu.Lock()
	s.proc, s.done = cmd.Process, done
	s.mu.Unlock()
	return nil
}

// ping sends PING and expects +PONG.
func ping(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New("unexpected reply " + strconv.Quote(line))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
