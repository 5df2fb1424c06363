package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/protocol/engineio"
)

// Server is the Engine.IO endpoint, an http.Handler. Mount it at the Engine.IO
// path (for Socket.IO, "/socket.io/"); it answers every request under that path.
type Server struct {
	cfg  Config
	open OpenFunc
	log  *slog.Logger
	ws   *wsEngine
	fwd  *forwarder // nil without Config.Nodes

	sessions *registry
	count    atomic.Int64
	stats    counters
	limits   *limiter
	shutdown atomic.Bool // Close
	draining atomic.Bool // Shutdown (drain.go)
}

// New builds a Server. open is called for every new session. Call Close when done:
// the server owns an event loop for its WebSocket connections.
func New(cfg Config, open OpenFunc) (*Server, error) {
	if open == nil {
		return nil, errors.New("engine: nil OpenFunc")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	srv := &Server{cfg: cfg, open: open, log: cfg.Logger, sessions: newRegistry(), limits: newLimiter(cfg.Limits)}
	// Forwarded polls and WebSockets are spliced on the WebSocket event loop,
	// so a cluster node has one even when it serves no WebSocket itself.
	if cfg.allows(WebSocket) || cfg.Nodes != nil {
		srv.ws, err = newWSEngine(srv)
		if err != nil {
			return nil, err
		}
	}
	if cfg.Nodes != nil {
		srv.fwd = newForwarder(srv)
	}
	return srv, nil
}

// Config returns the configuration in force, defaults applied.
func (srv *Server) Config() Config { return srv.cfg }

// Session returns the open session with the given sid.
func (srv *Server) Session(sid string) (*Session, bool) {
	s, ok := srv.lookup(sid)
	if !ok || s.closed() {
		return nil, false
	}
	return s, true
}

func (srv *Server) lookup(sid string) (*Session, bool) {
	return srv.sessions.load(sid)
}

// Close ends every session with ReasonServerShutdown (clients get a close packet)
// and stops the WebSocket event loop. New requests are refused from then on. It
// returns when the sessions are gone or ctx ends. To stop a cluster node
// without dropping its users, call Shutdown first.
func (srv *Server) Close(ctx context.Context) error {
	srv.shutdown.Store(true)
	for _, s := range srv.sessions.snapshot() {
		s.closeWith(ReasonServerShutdown, true)
	}
	// Polling sessions linger until their close packet is fetched; stop waiting
	// for that once ctx ends.
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var err error
	for srv.count.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
	}
	for _, s := range srv.sessions.snapshot() {
		s.finish()
	}
	if srv.ws != nil {
		srv.ws.stop()
	}
	if srv.fwd != nil {
		srv.fwd.client.CloseIdleConnections()
	}
	return err
}

func (srv *Server) register(s *Session) {
	srv.sessions.store(s)
	srv.count.Add(1)
	srv.stats.opened(s.rev, s.transport)
	srv.log.Debug("engine.io session open", slog.String("sid", s.id),
		slog.String("transport", s.transport.String()), slog.Int("eio", int(s.rev)),
		slog.Any("client", logClient{s}))
}

// closedPollGrace is how long a polling session the client closed itself stays
// findable: a GET the client had already sent when it POSTed its close packet
// is then ended with a noop, as if it had been held, rather than refused.
const closedPollGrace = 2 * time.Second

func (srv *Server) unregister(s *Session, reason CloseReason) {
	s.mu.Lock()
	lingering, transport := s.lingering, s.transport
	s.mu.Unlock()
	if lingering {
		if cur, ok := srv.sessions.load(s.id); !ok || cur != s {
			return
		}
		time.AfterFunc(closedPollGrace, func() { srv.sessions.remove(s) })
	} else if !srv.sessions.remove(s) {
		return
	}
	srv.count.Add(-1)
	srv.limits.release(s.ipKey)
	srv.stats.closed(s.rev, transport, reason)
	srv.log.Debug("engine.io session closed", slog.String("sid", s.id), slog.String("reason", reason.String()))
}

// newSID returns 20 characters of [A-Za-z0-9_-], the form Node's base64id
// gives: 120 random bits, or in a cluster the node's tag followed by 102.
func (srv *Server) newSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	sid := base64.RawURLEncoding.EncodeToString(b[:])
	if srv.cfg.Nodes != nil {
		if tag := srv.cfg.Nodes.Tag(); validTag(tag) {
			sid = tag + sid[NodeTagLen:]
		}
	}
	return sid
}

// validTag reports whether tag is NodeTagLen characters of the sid alphabet.
func validTag(tag string) bool {
	if len(tag) != NodeTagLen {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ServeHTTP implements http.Handler.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		srv.preflight(w, r)
		return
	}
	if r.Method == http.MethodDelete && r.Header.Get(forwardedHeader) != "" {
		srv.serveHandOff(w, r)
		return
	}
	q := r.URL.Query()
	rev, ok := engineio.ParseRevision(q.Get("EIO"))
	if !ok || (rev == engineio.V3 && srv.cfg.DisallowEIO3) {
		srv.writeError(w, r, errUnsupportedVersion, http.StatusBadRequest)
		return
	}
	transport, ok := parseTransport(q.Get("transport"))
	if !ok || !srv.cfg.allows(transport) {
		srv.writeError(w, r, errUnknownTransport, http.StatusBadRequest)
		return
	}
	isWS := r.Header.Get("Upgrade") != ""
	if isWS != (transport == WebSocket) {
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	}
	jsonp := -1
	if j, has := q["j"]; has {
		if transport != Polling || len(j) != 1 {
			srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
			return
		}
		if jsonp, ok = engineio.ParseJSONPIndex(j[0]); !ok {
			srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
			return
		}
	}

	sid := q.Get("sid")
	if sid == "" {
		if srv.Draining() {
			// Existing sessions still fetch their close packet; new ones are refused.
			srv.refuseDraining(w, r)
			return
		}
		if r.Method != http.MethodGet {
			srv.writeError(w, r, errBadHandshakeMethod, http.StatusBadRequest)
			return
		}
		client := srv.clientIP(r)
		ipKey, at, retry, ok := srv.limits.admit(client)
		if !ok {
			srv.refuseHandshake(w, r, client, at, retry)
			return
		}
		if srv.cfg.AllowRequest != nil {
			if err := srv.cfg.AllowRequest(r); err != nil {
				srv.limits.release(ipKey)
				srv.log.Debug("engine.io handshake refused", slog.String("error", err.Error()))
				srv.writeError(w, r, errForbidden, http.StatusForbidden)
				return
			}
		}
		s := srv.newSession(r, rev, transport, jsonp >= 0, q.Get("b64") != "")
		s.ipKey = ipKey
		if transport == WebSocket {
			srv.ws.handshake(w, r, s)
			return
		}
		srv.pollingHandshake(w, r, s, jsonp)
		return
	}

	s, ok := srv.lookup(sid)
	if !ok {
		if srv.fwd != nil && srv.fwd.refusedWhileDraining(r, sid) {
			srv.refuseDraining(w, r)
			return
		}
		if srv.fwd == nil || !srv.fwd.forward(w, r, sid, transport) {
			srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		}
		return
	}
	if s.rev != rev {
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	}
	if transport == WebSocket {
		srv.ws.upgrade(w, r, s)
		return
	}
	switch r.Method {
	case http.MethodGet:
		srv.pollGET(w, r, s, jsonp)
	case http.MethodPost:
		srv.pollPOST(w, r, s, jsonp >= 0)
	default:
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
	}
}

func (srv *Server) newSession(r *http.Request, rev engineio.Revision, t Transport, jsonp, b64 bool) *Session {
	return &Session{
		srv:       srv,
		id:        srv.newSID(),
		rev:       rev,
		jsonp:     jsonp,
		base64:    jsonp || b64,
		state:     stateOpen,
		transport: t,
		req:       newRequest(r, time.Now()),
	}
}

// handshakeFrame is the open packet for s.
func (srv *Server) handshakeFrame(s *Session) *Frame {
	var upgrades []string
	if s.transport == Polling && srv.cfg.allows(WebSocket) {
		upgrades = []string{"websocket"}
	}
	data := engineio.AppendHandshake(nil, s.rev, engineio.Handshake{
		SID:          s.id,
		Upgrades:     upgrades,
		PingInterval: srv.cfg.PingInterval,
		PingTimeout:  srv.cfg.PingTimeout,
		MaxPayload:   srv.cfg.MaxHTTPBufferSize,
	})
	return NewFrame(engineio.Packet{Type: engineio.Open, Data: data})
}

// openSession asks the application for the session's handler and registers it.
func (srv *Server) openSession(s *Session) {
	srv.register(s)
	h := srv.open(s)
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

func (srv *Server) setCookie(h http.Header, s *Session) {
	c := srv.cfg.Cookie
	if c == nil {
		return
	}
	ck := &http.Cookie{Name: c.Name, Value: s.id, Path: c.Path, HttpOnly: c.HTTPOnly, SameSite: c.SameSite}
	if v := ck.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
}

// writeError answers with engine.io's JSON error body.
func (srv *Server) writeError(w http.ResponseWriter, r *http.Request, e *HandshakeError, status int) {
	srv.stats.refused(e.Code)
	srv.corsHeaders(w.Header(), r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(e))
}

// errorBody is Node's JSON for a refused request: {"code":N,"message":"..."}.
func errorBody(e *HandshakeError) []byte {
	body := make([]byte, 0, 64)
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(e.Code), 10)
	body = append(body, `,"message":`...)
	body = strconv.AppendQuote(body, e.Message)
	return append(body, '}')
}
