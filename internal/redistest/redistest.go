// Package redistest runs a throwaway redis-server for tests: on a free
// loopback port, with persistence off, stopped by its PID when the test
// ends. Kill and Restart let fault tests take Redis away under a running
// adapter and bring it back on the same port.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process (or none, between Kill and Restart).
type Server struct {
	t    testing.TB
	bin  string
	Port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a redis-server, or skips the test when there is none (a
// failure with CI=true: in CI a missing dependency must not pass silently).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found (CI=true: a missing dependency is a failure; make test installs it as root)")
		}
		t.Skip("redis-server not found; skipping (apt-get install redis-server, or set CI=true to fail)")
	}
	s := &Server{t: t, bin: bin, Port: freePort(t)}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// Reserve is Start without starting: the port is chosen, nothing listens on
// it until Restart (a node that starts before Redis).
func Reserve(t testing.TB) *Server {
	t.Helper()
	s := Start(t)
	s.Kill()
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startTimeout bounds how long redis-server may take to say it is ready.
const startTimeout = 20 * time.Second

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--logfile", "", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	// Ready is an event redis-server logs: wait for that line, not for time.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var log []string
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Ready to accept connections") {
				ready <- nil
				for sc.Scan() { // keep draining so the server never blocks on its log
				}
				return
			}
			log = append(log, line)
		}
		ready <- fmt.Errorf("redis-server exited before it was ready:\n%s", strings.Join(log, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			s.t.Fatal(err)
		}
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		s.t.Fatalf("redis-server on port %d not ready after %v", s.Port, startTimeout)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
}

// Kill stops the server with SIGKILL (by its PID) and waits for it to exit.
// Its clients see their connections reset, as when Redis crashes.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}
