package engine

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/socketd/socketd/protocol/engineio"
)

// wsEngine runs the server's WebSocket connections. net/http accepts the upgrade
// request; the connection is then handed to nbio's epoll loop, so an idle
// WebSocket costs no goroutine and no read buffer (see docs/PERFORMANCE.md).
// Over TLS the same holds when the connection came through an internal/polltls
// listener (wstls.go); other TLS connections stay in nbio's blocking mode with a
// reader goroutine and an asynchronous writer.
type wsEngine struct {
	srv *Server
	nb  *nbhttp.Engine
	up  *websocket.Upgrader

	// attachMu and attached close a window in nbio: a message can be read before
	// Upgrade has returned the connection to us, so before we tie it to its session.
	attachMu sync.Mutex
	attached *sync.Cond

	startOnce sync.Once
	startErr  error
	startedAt time.Time
	started   atomic.Bool
}

// wsConn is one WebSocket connection of a session: its transport, or its probe
// during an upgrade.
type wsConn struct {
	sess     *Session
	probe    atomic.Bool
	attached atomic.Bool // conn and raw are set

	mu      sync.Mutex // guards conn and closing: a probe can be dropped mid-handshake
	conn    *websocket.Conn
	raw     *nbio.Conn // set when on the poller: frames are written pre-encoded
	tls     *tls.Conn  // set when on the poller over TLS: frames are encrypted, then written the same way
	closing bool
}

func newWSEngine(srv *Server) (*wsEngine, error) {
	// nbio logs through a package-level logger; socketd logs through slog only.
	logging.SetLevel(logging.LevelNone)
	nbc := nbhttp.Config{
		Name:                    "socketd",
		ReleaseWebsocketPayload: false, // handlers may keep message bytes
		MaxWriteBufferSize:      srv.cfg.MaxQueueBytes,
		SupportServerOnly:       true,
	}
	if srv.cfg.Nodes != nil {
		// A connection whose peer has closed is closed by nbio right after
		// the reads of that event. By default an event reads at most 3
		// buffers, so the tail of a large poll answer the owner wrote just
		// before closing would be lost on a bridge (bridge.go): read until
		// the socket is empty, as nbio does in edge-triggered mode.
		nbc.MaxConnReadTimesPerEventLoop = 1 << 30
	}
	nb := nbhttp.NewEngine(nbc)
	if srv.cfg.Nodes != nil {
		// Bridges (bridge.go) close an end once what was written to it has
		// left; nbio reports what left here. Only cluster nodes pay the call.
		nb.OnWrittenSize(func(c *nbio.Conn, _ []byte, n int) {
			if e, ok := c.Session().(*bridgeEnd); ok {
				e.written(n)
			}
		})
	}
	e := &wsEngine{srv: srv, nb: nb}
	e.attached = sync.NewCond(&e.attachMu)
	up := websocket.NewUpgrader()
	up.Engine = nb
	up.KeepaliveTime = 0 // liveness is the Engine.IO heartbeat's job
	up.MessageLengthLimit = int(srv.cfg.MaxHTTPBufferSize)
	// Browsers do not apply CORS to WebSockets; the origin policy for them is
	// Config.AllowRequest, checked before the upgrade like every handshake.
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.BlockingModAsyncWrite = true
	up.OnMessage(e.onMessage)
	up.OnClose(e.onClose)
	e.up = up
	return e, nil
}

// start runs the event loop on the first WebSocket. Starting lazily keeps a
// server that never sees one free of the loop's goroutines, and steps around an
// nbio race: a Stop right after Start can miss the pollers' shutdown signal.
func (e *wsEngine) start() error {
	e.startOnce.Do(func() {
		e.startErr = e.nb.Start()
		e.startedAt = time.Now()
		e.started.Store(e.startErr == nil)
	})
	return e.startErr
}

// nbioSettle is how long after Start the event loop must have run before Stop
// is safe: nbio's pollers clear their shutdown flag when their goroutine
// begins, so a Stop that lands first is lost and Stop waits forever.
const nbioSettle = 200 * time.Millisecond

func (e *wsEngine) stop() {
	if !e.started.Load() {
		return
	}
	if wait := nbioSettle - time.Since(e.startedAt); wait > 0 {
		time.Sleep(wait)
	}
	done := make(chan struct{})
	go func() { e.nb.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		e.srv.log.Warn("websocket event loop did not stop within 5s; leaving it")
	}
}

// accept completes the WebSocket handshake and ties the connection to wc.
func (e *wsEngine) accept(w http.ResponseWriter, r *http.Request, wc *wsConn, hdr http.Header) bool {
	if err := e.start(); err != nil {
		e.srv.log.Error("websocket event loop failed to start", slog.String("error", err.Error()))
		http.Error(w, "websocket unavailable", http.StatusServiceUnavailable)
		return false
	}
	var c *websocket.Conn
	var tc *tls.Conn
	var err error
	if r.TLS != nil {
		c, tc, err = e.upgradeTLS(w, r, hdr) // wstls.go
	} else {
		c, err = e.up.UpgradeAndTransferConnToPoller(w, r, hdr)
	}
	if err != nil {
		e.srv.log.Debug("websocket upgrade failed", slog.String("error", err.Error()))
		return false
	}
	wc.mu.Lock()
	wc.conn = c
	wc.raw, _ = c.Conn.(*nbio.Conn)
	wc.tls = tc
	closing := wc.closing
	wc.mu.Unlock()
	// attached publishes conn and raw to the reading side (see connOf).
	wc.attached.Store(true)
	e.attachMu.Lock()
	c.SetSession(wc)
	e.attached.Broadcast()
	e.attachMu.Unlock()
	if closing {
		wc.close()
		return false
	}
	return true
}

// connOf returns the wsConn of c, waiting for accept to have tied it.
func (e *wsEngine) connOf(c *websocket.Conn) *wsConn {
	if wc, ok := c.Session().(*wsConn); ok && wc.attached.Load() {
		return wc
	}
	e.attachMu.Lock()
	defer e.attachMu.Unlock()
	for c.Session() == nil {
		e.attached.Wait()
	}
	wc, _ := c.Session().(*wsConn)
	return wc
}

// handshake opens a session directly over WebSocket.
func (e *wsEngine) handshake(w http.ResponseWriter, r *http.Request, s *Session) {
	hdr := http.Header{}
	e.srv.setCookie(hdr, s)
	wc := &wsConn{sess: s}
	if !e.accept(w, r, wc, hdr) {
		e.srv.limits.release(s.ipKey) // admitted, never registered
		return
	}
	e.srv.openSession(s)
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		wc.close()
		return
	}
	frames := append([]*Frame{e.srv.handshakeFrame(s)}, s.takeQueueLocked()...)
	err := wc.write(s.rev, frames)
	s.ws = wc
	s.startHeartbeatLocked()
	s.mu.Unlock()
	if err != nil {
		s.closeWith(writeErrReason(err), false)
	}
}

// upgrade starts probing a WebSocket for a polling session.
func (e *wsEngine) upgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	if s.expire() {
		e.srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	}
	// The probe slot is taken before the WebSocket handshake answers, so that
	// the probe packets the client sends right after it find their session.
	wc := &wsConn{sess: s}
	wc.probe.Store(true)
	s.mu.Lock()
	reserved := s.state == stateOpen && s.transport == Polling && s.probe == nil
	if reserved {
		s.probe = wc
		s.upTimer = time.AfterFunc(e.srv.cfg.UpgradeTimeout, func() { s.dropProbe(wc, "upgrade timeout") })
	}
	s.mu.Unlock()
	if !e.accept(w, r, wc, nil) {
		if reserved {
			s.dropProbe(wc, "websocket handshake failed")
		}
		return
	}
	if !reserved {
		// A session already on WebSocket or mid-upgrade refuses another one
		// after the WebSocket handshake, as engine.io does: clients see a
		// close, not an HTTP error.
		wc.close()
	}
}

func (e *wsEngine) onMessage(c *websocket.Conn, mt websocket.MessageType, data []byte) {
	wc := e.connOf(c)
	if wc == nil {
		return
	}
	s := wc.sess
	p, err := engineio.DecodeWebSocket(s.rev, data, mt == websocket.BinaryMessage)
	if wc.probe.Load() {
		s.probeMessage(wc, p, err)
		return
	}
	if err != nil {
		s.fail(ReasonParseError, err.Error())
		return
	}
	s.receive(p)
}

func (e *wsEngine) onClose(c *websocket.Conn, err error) {
	wc, _ := c.Session().(*wsConn)
	if wc == nil {
		return
	}
	s := wc.sess
	s.mu.Lock()
	if s.probe == wc {
		s.mu.Unlock()
		s.dropProbe(wc, "probe closed")
		return
	}
	current := s.ws == wc
	s.mu.Unlock()
	if current {
		s.closeWith(closeErrReason(err), false)
	}
}

// probeMessage runs the upgrade handshake on a probe connection: "2probe" is
// answered "3probe" and polling is released with a noop; "5" moves the session
// onto this connection and flushes what polling had queued, in order.
func (s *Session) probeMessage(wc *wsConn, p engineio.Packet, err error) {
	switch {
	case err != nil:
		s.dropProbe(wc, "undecodable probe packet")
	case p.Type == engineio.Ping && string(p.Data) == "probe":
		if werr := wc.write(s.rev, []*Frame{probeReply}); werr != nil {
			s.dropProbe(wc, "probe write failed")
			return
		}
		s.mu.Lock()
		if s.probe == wc {
			s.upgrading = true
			s.wakePollLocked()
		}
		s.mu.Unlock()
	case p.Type == engineio.Upgrade:
		s.mu.Lock()
		if s.probe != wc || s.state != stateOpen {
			s.mu.Unlock()
			wc.close()
			return
		}
		if s.upTimer != nil {
			s.upTimer.Stop()
			s.upTimer = nil
		}
		s.probe = nil
		s.upgrading = false
		s.transport = WebSocket
		s.srv.stats.upgraded(s.rev)
		s.ws = wc
		wc.probe.Store(false)
		werr := wc.write(s.rev, s.takeQueueLocked())
		s.wakePollLocked()
		s.mu.Unlock()
		s.srv.log.Debug("engine.io session upgraded", slog.String("sid", s.id))
		if werr != nil {
			s.closeWith(writeErrReason(werr), false)
		}
	case p.Type == engineio.Noop:
	default:
		s.dropProbe(wc, "unexpected "+p.Type.String()+" packet during upgrade")
	}
}

// dropProbe abandons an upgrade; the session goes on over polling.
func (s *Session) dropProbe(wc *wsConn, why string) {
	s.mu.Lock()
	if s.probe == wc {
		s.srv.stats.upgradesAbandoned.Add(1)
		s.probe = nil
		s.upgrading = false
		if s.upTimer != nil {
			s.upTimer.Stop()
			s.upTimer = nil
		}
	}
	s.mu.Unlock()
	s.srv.log.Debug("engine.io upgrade abandoned", slog.String("sid", s.id), slog.String("why", why))
	wc.close()
}

// write sends frames in order without blocking: on the poller the pre-encoded
// WebSocket frames go out in one writev, and what the kernel does not take is
// kept by nbio up to MaxQueueBytes.
func (w *wsConn) write(rev engineio.Revision, frames []*Frame) error {
	switch {
	case len(frames) == 0:
		return nil
	case w.raw != nil && len(frames) == 1:
		_, err := w.raw.Write(frames[0].wsFrame(rev))
		return err
	case w.tls != nil:
		return writeTLS(w.tls, rev, frames)
	case w.raw != nil:
		bufs := make([][]byte, len(frames))
		for i, f := range frames {
			bufs[i] = f.wsFrame(rev)
		}
		_, err := w.raw.Writev(bufs)
		return err
	}
	for _, f := range frames {
		payload, bin := f.wsMessage(rev)
		mt := websocket.TextMessage
		if bin {
			mt = websocket.BinaryMessage
		}
		if err := w.conn.WriteMessage(mt, payload); err != nil {
			return err
		}
	}
	return nil
}

// close closes the connection with a normal close frame; before the handshake
// has completed it marks the connection to be closed once it has.
func (w *wsConn) close() {
	w.mu.Lock()
	w.closing = true
	c := w.conn
	w.mu.Unlock()
	if c != nil {
		_ = c.WriteClose(1000, "")
		_ = c.Close()
	}
}

func writeErrReason(err error) CloseReason {
	if errors.Is(err, nbio.ErrOverflow) || errors.Is(err, websocket.ErrMessageSendQuqueIsFull) {
		return ReasonSlowConsumer
	}
	if errors.Is(err, net.ErrClosed) {
		return ReasonTransportClose
	}
	return ReasonTransportError
}

// closeErrReason names why a WebSocket ended. A reset is the client leaving
// as surely as a FIN: a killed tab, or a client that closes with bytes
// still unread (the kernel then resets instead of finishing); engine.io
// (ws) reports both as "transport close", and so does a reset held poll.
func closeErrReason(err error) CloseReason {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		return ReasonTransportClose
	case errors.Is(err, websocket.ErrMessageTooLarge):
		return ReasonPayloadTooLarge
	case errors.Is(err, nbio.ErrOverflow):
		return ReasonSlowConsumer
	}
	return ReasonTransportError
}
