// Command socketd is the socketd server.
//
// This first cut serves the Engine.IO endpoint at /socket.io/ (every message is
// echoed back) so the transport layer can be tried with any engine.io client; the
// Socket.IO layer and the Drupal drop-in replace the echo as they land.
package main

import (
	"context"
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

	"github.com/socketd/socketd/server/engine"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, logger); err != nil {
		logger.Error("socketd stopped", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

type echo struct{}

func (echo) OnMessage(s *engine.Session, data []byte, binary bool) {
	if binary {
		_ = s.Send(engine.BinaryMessage(data))
		return
	}
	_ = s.Send(engine.TextMessage(data))
}

func (echo) OnClose(*engine.Session, engine.CloseReason) {}

func run(addr string, logger *slog.Logger) error {
	eio, err := engine.New(engine.Config{Logger: logger}, func(*engine.Session) engine.Handler { return echo{} })
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", eio)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("socketd listening", slog.String("url", fmt.Sprintf("http://%s/socket.io/", ln.Addr())))
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = eio.Close(sctx)
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
