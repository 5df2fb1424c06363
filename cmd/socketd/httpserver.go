package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Bounds on what a client may hold of the HTTP server before it has sent a
// whole request. A public server meets clients that open connections and send
// nothing, half a head, half a body, or that keep a connection alive and idle:
// each costs a goroutine and net/http's buffers (about 26 KB) for as long as it
// is allowed to. What a client holds once its request is in is bounded
// elsewhere: a held long-polling GET by the Engine.IO heartbeat, an upgraded
// WebSocket by nbio and the heartbeat, a Drupal API call by its handler.
type httpLimits struct {
	// KeepAlive closes a kept-alive connection that sends no new request
	// for this long (http.Server.IdleTimeout).
	KeepAlive time.Duration
	// Headers bounds reading a request's head, from the connection's start or
	// the first bytes of a kept-alive connection's next request
	// (http.Server.ReadHeaderTimeout). It bounds a TLS handshake too.
	Headers time.Duration
	// Body bounds reading a request's body, from the end of its head. It is
	// set per request, only on requests that have a body: http.Server's
	// ReadTimeout would also cut held long-polling GETs, whose context
	// net/http cancels when a read deadline passes.
	Body time.Duration
	// MaxHalfOpen caps the connections that have not delivered a complete
	// request: new ones, kept-alive idle ones, and those whose head or body
	// is still coming. Past it new connections are closed at once (and an
	// idle kept-alive one is closed rather than kept).
	MaxHalfOpen int
}

// newHTTPServer is the http.Server of socketd with lim applied to h.
func newHTTPServer(h http.Handler, lim httpLimits, log *slog.Logger) *http.Server {
	ho := newHalfOpen(lim.MaxHalfOpen, log)
	return &http.Server{
		Handler:           ho.handler(h, lim.Body),
		ReadHeaderTimeout: lim.Headers,
		IdleTimeout:       lim.KeepAlive,
		ConnState:         ho.connState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

type connKey struct{}

// halfOpen tracks the connections that have not delivered a complete request
// (see httpLimits.MaxHalfOpen). Only those are in its set, so it never holds
// more than max entries: a connection leaves it when its request is in, and
// held polls, WebSockets and running handlers are not in it.
type halfOpen struct {
	max int
	log *slog.Logger

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refused int       // connections closed at the cap since the last log line
	logged  time.Time // when the last "limit reached" line was written
}

// halfOpenLogEvery spaces the "limit reached" warnings: a flood logs one line
// a minute with the count, not one per connection.
const halfOpenLogEvery = time.Minute

func newHalfOpen(max int, log *slog.Logger) *halfOpen {
	return &halfOpen{max: max, log: log, conns: make(map[net.Conn]struct{})}
}

// connState is the http.Server's ConnState hook. net/http calls it for one
// connection from one goroutine at a time (StateNew before the connection's
// goroutine starts), and the handler runs in between on that goroutine, so a
// connection's entry follows its life in order.
func (h *halfOpen) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew, http.StateIdle:
		// StateNew: accepted, head not read yet. StateIdle: kept alive,
		// waiting for the next request's head.
		if !h.add(c) {
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		h.done(c)
	}
}

// add counts c as half-open; false when the cap is reached.
func (h *halfOpen) add(c net.Conn) bool {
	h.mu.Lock()
	if _, ok := h.conns[c]; ok || h.max <= 0 || len(h.conns) < h.max {
		h.conns[c] = struct{}{}
		h.mu.Unlock()
		return true
	}
	h.refused++
	now := time.Now()
	var refused int
	if now.Sub(h.logged) >= halfOpenLogEvery {
		refused, h.refused, h.logged = h.refused, 0, now
	}
	h.mu.Unlock()
	if refused > 0 {
		h.log.Warn("http: connections without a complete request at the limit; closing new ones",
			slog.Int("limit", h.max), slog.Int("closed", refused), slog.String("remote", c.RemoteAddr().String()))
	}
	return false
}

// done takes c out of the half-open set (no-op when it is not in it).
func (h *halfOpen) done(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// count is the number of half-open connections.
func (h *halfOpen) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// handler wraps next: a request without a body is complete once its head is
// read; one with a body gets a read deadline of bodyTimeout and is complete
// when the body has been read to its end (or the handler returned).
func (h *halfOpen) handler(next http.Handler, bodyTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(net.Conn)
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			h.done(c)
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
		r.Body = &bodyEnd{ReadCloser: r.Body, end: func() {
			h.done(c)
			// The body is in: a handler that then takes its time must not
			// have its request cancelled by the deadline (net/http reads
			// the connection in the background once the body is done).
			_ = rc.SetReadDeadline(time.Time{})
		}}
		defer h.done(c)
		next.ServeHTTP(w, r)
	})
}

// bodyEnd calls end once, when the body has been read to its end.
type bodyEnd struct {
	io.ReadCloser
	end func()
}

func (b *bodyEnd) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && b.end != nil {
		b.end()
		b.end = nil
	}
	return n, err
}
