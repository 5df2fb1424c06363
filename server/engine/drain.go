package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Draining: a node that is to stop without dropping its users (Shutdown).
//
// Close ends every session at once: right for a server that stops for good,
// but in a cluster every client of the node would reconnect to the other
// nodes in the same second. Shutdown instead refuses new clients and closes
// the open sessions one after another over Config.DrainSpread, while it goes
// on serving every request of the sessions still open (their polls, POSTs and
// upgrades, direct or forwarded by another node). Each client is told with an
// Engine.IO close packet: socket.io-client takes that as a transport close
// and reconnects by itself, through the balancer, where a Socket.IO
// DISCONNECT would make it stay away.
//
// The connections this node forwards to other nodes (bridge.go) are clients
// of those nodes that the balancer happened to send here: a WebSocket, or a
// held poll. Cutting them when the process exits would end their sessions
// abruptly, as if the clients had left. Instead, in the same spread, the
// owner of each is asked (hand-off) to close that session as a drain does: a
// close packet through the bridge, the reason "server shutting down", so the
// owner's application treats it as a client that will be back (the Drupal
// bridge holds its count-off back). Meanwhile the draining node forwards
// POSTs still, but answers new polls and upgrades for other nodes' sessions
// with 503, which a balancer retries on another node; so no new long-lived
// bridge forms.
//
// Refused handshakes get HTTP 503 with the Engine.IO error body of code 4
// ("Forbidden"): to the client it is a failed attempt, retried after its
// reconnection delay, but a balancer can retry a 503 on another node at once
// (nginx: proxy_next_upstream http_503), so the client never sees it.

// drainMinRate is the slowest pace of Shutdown, in sessions a second: below
// it, reconnecting clients are no load for the other nodes, and spreading a
// few sessions over the whole window would only delay the stop.
const drainMinRate = 100

// drainTick is how often Shutdown checks what is left.
const drainTick = 20 * time.Millisecond

// Draining reports whether Shutdown (or Close) has begun: new sessions are
// refused.
func (srv *Server) Draining() bool {
	return srv.draining.Load() || srv.shutdown.Load()
}

// Shutdown drains the server: new handshakes are refused (HTTP 503, code 4),
// as are polls and upgrades for other nodes' sessions (their balancer can
// send them to another node), and the sessions open now are closed spread
// over Config.DrainSpread (ReasonServerShutdown; the clients reconnect),
// with, in the same spread, the sessions of other nodes whose polls or
// WebSockets this node forwards, which their owners are asked to close
// alike. Meanwhile the requests of the sessions still open here, direct or
// forwarded by another node, are served as usual, and POSTs for other nodes'
// sessions are still forwarded.
//
// It returns when no session and no forwarded connection is left, or with
// ctx's error when ctx ends first. It releases nothing: call Close after it,
// which ends what is left.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.draining.Store(true)
	targets := srv.drainTargets()
	// Sessions and forwarded ones mixed, so that each node the clients go
	// to sees the same pace.
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	window := DrainWindow(ctx, srv.cfg.DrainSpread, len(targets))
	srv.log.Debug("engine.io draining", slog.Int("sessions", len(targets)), slog.Duration("window", window))
	if err := spread(ctx, targets, window); err != nil {
		return err
	}
	t := time.NewTicker(drainTick)
	defer t.Stop()
	for {
		if srv.count.Load() == 0 && (srv.fwd == nil || srv.fwd.open.Load() == 0) {
			return nil
		}
		// A handshake under way when draining began registers its session
		// after the snapshot; polling sessions told already are left to
		// fetch their close packet. Likewise a poll or upgrade for another
		// node that passed the draining check just before it was set forms
		// its bridge after the snapshot: its owner is asked now.
		for _, d := range srv.drainTargets() {
			d.close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// drainTarget is a session, or a forwarded connection, for Shutdown to close.
type drainTarget struct {
	s *Session
	b *liveBridge
	f *forwarder
}

// drainTargets lists what Shutdown closes: every session open here (closing
// one again is harmless), and the forwarded connections whose owner has not
// been asked yet.
func (srv *Server) drainTargets() []drainTarget {
	var targets []drainTarget
	for _, s := range srv.sessions.snapshot() {
		targets = append(targets, drainTarget{s: s})
	}
	if srv.fwd != nil {
		for _, b := range srv.fwd.untoldBridges() {
			targets = append(targets, drainTarget{b: b, f: srv.fwd})
		}
	}
	return targets
}

func (d drainTarget) close() {
	if d.s != nil {
		d.s.closeWith(ReasonServerShutdown, true)
		return
	}
	go d.f.handOff(d.b)
}

// DrainWindow is the time over which Shutdown(ctx) closes n sessions with
// Config.DrainSpread spread: spread, but at least drainMinRate a second, and
// within half the time ctx leaves.
func DrainWindow(ctx context.Context, spread time.Duration, n int) time.Duration {
	if spread <= 0 || n <= 1 {
		return 0
	}
	w := min(spread, time.Duration(n)*time.Second/drainMinRate)
	if dl, ok := ctx.Deadline(); ok {
		w = min(w, time.Until(dl)/2)
	}
	return max(w, 0)
}

// spread closes targets evenly over window: target i at window*i/n from now.
func spread(ctx context.Context, targets []drainTarget, window time.Duration) error {
	n := len(targets)
	start := time.Now()
	var timer *time.Timer
	for i := 0; i < n; {
		due := n
		if window > 0 {
			due = min(n, int(int64(n)*int64(time.Since(start))/int64(window))+1)
		}
		for ; i < due; i++ {
			targets[i].close()
		}
		if i == n {
			break
		}
		wait := max(time.Until(start.Add(time.Duration(int64(window)*int64(i)/int64(n)))), drainTick/4)
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
	return nil
}

// refuseDraining answers a request that a draining server does not take.
func (srv *Server) refuseDraining(w http.ResponseWriter, r *http.Request) {
	srv.writeError(w, r, errForbidden, http.StatusServiceUnavailable)
}

// liveBridge is an open bridge in the forwarder's list, so that Shutdown can
// have the session it carries closed (handOff). A list through the bridges
// rather than a map: two pointers per bridge.
type liveBridge struct {
	prev, next *liveBridge
	upgrade    bool
	told       bool   // Shutdown has asked the owner (handOff); under liveBridges.mu
	owner      string // the owner's base URL
	path       string // the Engine.IO path the request was for
	sid        string
	end        func() // closes both connections; the bridge then untracks itself
}

// liveBridges is the forwarder's list of open bridges.
type liveBridges struct {
	mu   sync.Mutex
	head liveBridge // sentinel: head.next is the first
}

func (l *liveBridges) track(b *liveBridge) {
	l.mu.Lock()
	if l.head.next == nil {
		l.head.next, l.head.prev = &l.head, &l.head
	}
	b.prev, b.next = l.head.prev, &l.head
	b.prev.next = b
	l.head.prev = b
	l.mu.Unlock()
}

func (l *liveBridges) untrack(b *liveBridge) {
	l.mu.Lock()
	if b.next != nil {
		b.prev.next, b.next.prev = b.next, b.prev
		b.prev, b.next = nil, nil
	}
	l.mu.Unlock()
}

// untoldBridges returns the open bridges whose owner Shutdown has not asked
// yet to close their session, and marks them asked: each is handed off once.
func (f *forwarder) untoldBridges() []*liveBridge {
	l := &f.live
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*liveBridge
	for b := l.head.next; b != nil && b != &l.head; b = b.next {
		if !b.told {
			b.told = true
			out = append(out, b)
		}
	}
	return out
}

// refusedWhileDraining reports whether a request for sid, not a session of
// this server, is refused because the server drains: a poll or an upgrade for
// another node's session would form a bridge that outlives the drain. The
// balancer can send it to another node. POSTs are short, and forwarded.
func (f *forwarder) refusedWhileDraining(r *http.Request, sid string) bool {
	return f.srv.draining.Load() && r.Method == http.MethodGet && r.Header.Get(forwardedHeader) == "" &&
		len(sid) > NodeTagLen && sid[:NodeTagLen] != f.nodes.Tag()
}

// handOff asks the owner of the session b carries to close it as a drain
// does: its client gets a close packet through the bridge, which then ends,
// and the owner's application sees "server shutting down", a client that
// will be back. An owner that cannot be asked gets the bridge cut instead.
func (f *forwarder) handOff(b *liveBridge) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	u := strings.TrimSuffix(b.owner, "/") + b.path + "?sid=" + url.QueryEscape(b.sid)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err == nil {
		req.Header.Set(forwardedHeader, f.nodes.Tag())
		var resp *http.Response
		if resp, err = f.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New("HTTP " + resp.Status)
		}
	}
	f.srv.log.Debug("engine.io drain: the owner did not close a forwarded session; cutting it",
		slog.String("sid", b.sid), slog.String("node", b.owner), slog.String("error", err.Error()))
	b.end()
}

// serveHandOff is the owner's side of handOff: a DELETE from another node
// (forwardedHeader) closes the session as a drain does. A client sending it
// can only close its own session, which it may anyway.
func (srv *Server) serveHandOff(w http.ResponseWriter, r *http.Request) {
	s, ok := srv.Session(r.URL.Query().Get("sid"))
	if !ok {
		srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	}
	s.closeWith(ReasonServerShutdown, true)
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = io.WriteString(w, "ok")
}
