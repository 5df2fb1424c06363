package redistest

import (
	"context"
	"testing"
)

// TestKillRestart checks the server answers, is gone after Kill, and answers
// again on the same address after Restart.
func TestKillRestart(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	if err := ping(ctx, s.Addr); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	s.Kill()
	if err := ping(ctx, s.Addr); err == nil {
		t.Fatal("ping answered after Kill")
	}
	s.Restart()
	if err := ping(ctx, s.Addr); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
	s.Stop()
	if err := ping(ctx, s.Addr); err == nil {
		t.Fatal("ping answered after Stop")
	}
}

// TestFreezeThaw checks a frozen server does not answer (ping's read
// deadline passes), answers again after Thaw, and that Stop ends a frozen
// server.
func TestFreezeThaw(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	s.Freeze()
	if err := ping(ctx, s.Addr); err == nil {
		t.Fatal("ping answered while frozen")
	}
	s.Thaw()
	if err := ping(ctx, s.Addr); err != nil {
		t.Fatalf("ping after Thaw: %v", err)
	}
	s.Freeze()
	s.Stop()
	if err := ping(ctx, s.Addr); err == nil {
		t.Fatal("ping answered after Stop")
	}
}
