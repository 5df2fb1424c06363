package redistest

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// ping sends PING and reports whether +PONG came back.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// TestKillRestart checks the server answers, is gone after Kill, and answers
// again on the same address after Restart.
func TestKillRestart(t *testing.T) {
	s := Start(t)
	if !ping(s.Addr()) {
		t.Fatal("no PONG after Start")
	}
	s.Kill()
	if ping(s.Addr()) {
		t.Fatal("PONG after Kill")
	}
	s.Restart()
	if !ping(s.Addr()) {
		t.Fatal("no PONG after Restart")
	}
}
