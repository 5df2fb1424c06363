// Command benchfloor runs the benchmark's floor server (package bench/floor):
// the Drupal flow over WebSocket with nothing but the handshake, the
// authenticate exchange and one pre-encoded frame per socket on publish.
package main

import (
	"context"
	"crypto/tls"
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
	tlsCert := flag.String("tls-cert", "", "serve https with this certificate (PEM) and -tls-key, as socketd does")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert (PEM)")
	flag.Parse()
	var tc *tls.Config
	scheme := "http"
	if *tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchfloor:", err)
			os.Exit(1)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		scheme = "https"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "benchfloor: listening on %s://%s (pid %d)\n", scheme, *addr, os.Getpid())
	err := floor.ListenAndServe(ctx, *addr, floor.Config{Backend: *backend, ServiceKey: *key, PingInterval: *ping, Writers: *writers, TLS: tc})
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfloor:", err)
		os.Exit(1)
	}
}
