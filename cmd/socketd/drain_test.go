package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The first signal drains; a second, or the deadline, ends the process; a
// drain that finishes in time ends the watch.
func TestWatchSignals(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name     string
		second   bool
		served   bool
		deadline time.Duration
		exit     bool
	}{
		{"second signal", true, false, time.Hour, true},
		{"deadline", false, false, 10 * time.Millisecond, true},
		{"drained in time", false, true, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			served := make(chan struct{})
			drained := make(chan struct{})
			exits := make(chan int, 1)
			returned := make(chan struct{})
			go func() {
				watchSignals(sigs, func() { close(drained) }, tc.deadline, served, log, func(code int) { exits <- code })
				close(returned)
			}()
			sigs <- syscall.SIGTERM
			<-drained
			if tc.second {
				sigs <- syscall.SIGINT
			}
			if tc.served {
				close(served)
			}
			<-returned
			select {
			case code := <-exits:
				if !tc.exit || code != 1 {
					t.Fatalf("exit(%d), want exit %v", code, tc.exit)
				}
			default:
				if tc.exit {
					t.Fatal("the process was not ended")
				}
			}
		})
	}
	// Served before any signal: the watch ends, nothing drains.
	served := make(chan struct{})
	close(served)
	watchSignals(make(chan os.Signal), func() { t.Fatal("drained") }, time.Hour, served, log, func(int) { t.Fatal("exit") })
}

// drainTimeout: 10 s by default, from the file (ms or a duration), the flag
// over it; negative refused. In a cluster the clients are spread over 40% of
// it; alone, closed at once.
func TestDrainTimeoutConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nodejs.config.js")
	if err := os.WriteFile(file, []byte(`settings = { drainTimeout: 20000 };`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    flags
		want time.Duration
	}{
		{flags{dev: true}, 10 * time.Second},
		{flags{config: file}, 20 * time.Second},
		{flags{config: file, drainTimeout: 3 * time.Second}, 3 * time.Second},
	} {
		c, err := loadConfig(tc.f, env(nil), noFile)
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(c.DrainTimeout); got != tc.want {
			t.Errorf("%+v: drainTimeout %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := loadConfig(flags{dev: true, drainTimeout: -time.Second}, env(nil), noFile); err == nil || !strings.Contains(err.Error(), "drainTimeout") {
		t.Fatalf("negative drain timeout: %v", err)
	}
	f, err := parseFlags([]string{"-drain-timeout", "7s"}, io.Discard)
	if err != nil || f.drainTimeout != 7*time.Second {
		t.Fatalf("-drain-timeout 7s: %v %v", f.drainTimeout, err)
	}
}
