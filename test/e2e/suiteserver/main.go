// Command suiteserver is the conformance server the official protocol test suites
// run against (see ../../../README.md, "Conformance"):
//
//	go run ./test/e2e/suiteserver -addr 127.0.0.1:3000
//
// It serves an Engine.IO echo endpoint at /engine.io/ configured as the
// engine.io-protocol test suite expects, and a Socket.IO endpoint at /socket.io/
// with the handlers and settings of the socket.io-protocol suite plus those the
// end-to-end tests use (socketio.go). Both take pingInterval 300 ms, pingTimeout
// 200 ms, maxHttpBufferSize 1e6 and CORS for every origin, and accept EIO=3 as
// well, so older clients run against the same handlers. With -redis URL it joins
// the cluster on that Redis and serves the cluster test events too (cluster.go).
// With -tls-cert and -tls-key it serves https as socketd does. It prints one
// line, "listening on http://HOST:PORT" (https://), once it accepts
// connections.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/socketd/socketd/internal/polltls"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address (loopback; port 0 picks a free port)")
	verbose := flag.Bool("v", false, "log session events to stderr")
	redisURL := flag.String("redis", "", "join the cluster on this Redis (redis://HOST:PORT) and serve the cluster test events")
	name := flag.String("name", "", "this node's name in the cluster test events' answers")
	tlsCert := flag.String("tls-cert", "", "serve https with this certificate (PEM) and -tls-key, as socketd does (internal/polltls)")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert (PEM)")
	sioPingTimeout := flag.Duration("sio-ping-timeout", 200*time.Millisecond,
		"pingTimeout of the Socket.IO endpoint; the conformance suite wants 200ms, the end-to-end tests give a loaded machine more")
	flag.Parse()
	if err := run(*addr, *verbose, *redisURL, *name, *tlsCert, *tlsKey, *sioPingTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "suiteserver:", err)
		os.Exit(1)
	}
}

// echo sends every message back unchanged, as the suite's reference server does.
type echo struct{}

func (echo) OnMessage(s *engine.Session, data []byte, binary bool) {
	if binary {
		_ = s.Send(engine.BinaryMessage(data))
		return
	}
	_ = s.Send(engine.TextMessage(data))
}

func (echo) OnClose(*engine.Session, engine.CloseReason) {}

func run(addr string, verbose bool, redisURL, name, tlsCert, tlsKey string, sioPingTimeout time.Duration) error {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	eio, err := engine.New(engine.Config{
		PingInterval:      300 * time.Millisecond,
		PingTimeout:       200 * time.Millisecond,
		MaxHTTPBufferSize: 1e6,
		CORS:              engine.CORSConfig{AllowedOrigins: []string{"*"}},
		Logger:            logger,
	}, func(*engine.Session) engine.Handler { return echo{} })
	if err != nil {
		return err
	}
	var factory adapter.Factory // nil: in memory, a single node
	if redisURL != "" {
		f, closeCluster, err := newCluster(redisURL, logger)
		if err != nil {
			return err
		}
		defer closeCluster()
		factory = f
	}
	sio, err := newSocketIO(logger, factory, sioPingTimeout)
	if err != nil {
		return err
	}
	if redisURL != "" {
		clusterHandlers(sio.Of("/"), name)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			_ = ln.Close()
			return err
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		ln = polltls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("listening on %s://%s\n", scheme, ln.Addr())

	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = eio.Close(sctx)
	_ = sio.Close(sctx)
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
