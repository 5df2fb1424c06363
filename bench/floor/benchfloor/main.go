// Command benchfloor runs the benchmark's floor server (package bench/floor):
// the Drupal flow over WebSocket with nothing but the handshake, the
// authenticate exchange and one pre-encoded frame per socket on publish.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/socketd/socketd/bench/floor"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "listen address")
	backend := flag.String("backend", "http://127.0.0.1:8099/nodejs/message", `Drupal message URL ("" accepts every token)`)
	key := flag.String("service-key", "bench-service-key", "serviceKey")
	ping := flag.Duration("ping-interval", 25*time.Second, "Engine.IO pingInterval")
	writers := flag.Int("writers", runtime.GOMAXPROCS(0), "goroutines writing one large publish (1: the handler's own; default one per core)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "benchfloor: listening on http://%s (pid %d)\n", *addr, os.Getpid())
	err := floor.ListenAndServe(ctx, *addr, floor.Config{Backend: *backend, ServiceKey: *key, PingInterval: *ping, Writers: *writers})
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfloor:", err)
		os.Exit(1)
	}
}
