// Package floor is the benchmark's floor: the least a server can do and still
// serve the Drupal flow over WebSocket. It completes the Engine.IO (EIO=3 or 4)
// and Socket.IO handshake, asks the Drupal backend about the authenticate
// event's token, joins the reply's channels, pushes clientAuthenticated, and
// on POST <base>publish writes one pre-encoded WebSocket frame per target
// socket. Nothing else: no long-polling, no acks, no heartbeat deadlines, no
// presence notifications beyond Drupal's userOnline, no content tokens.
//
// It uses the same WebSocket stack as socketd (lesismal/nbio's poller behind
// net/http, see server/engine/websocket.go), so the distance between socketd
// and the floor measures socketd, not a library difference.
package floor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/socketd/socketd/internal/polltls"
)

// Config of the floor server. The zero value serves /socket.io/ and /nodejs/
// with an empty service key (every request passes) and no backend (every
// token is accepted with no channels).
type Config struct {
	// Backend is Drupal's message URL, e.g. http://127.0.0.1:8099/nodejs/message.
	Backend string
	// ServiceKey is checked on the Drupal routes and sent to the backend.
	ServiceKey string
	// Path is the Engine.IO path; empty means /socket.io/.
	Path string
	// BasePath is the Drupal routes prefix; empty means /nodejs/.
	BasePath string
	// PingInterval is announced and, in EIO=4, used to ping every socket. Zero
	// means 25s.
	PingInterval time.Duration
	// Writers splits a large publish's writes over this many goroutines (one
	// per core reaches the last socket soonest); zero or one writes them in
	// the handler's goroutine.
	Writers int
	// TLS, when set, serves https (ListenAndServe) as socketd does: through
	// internal/polltls, so upgraded WebSockets move to the poller.
	TLS *tls.Config
}

// Server is the floor. Create it with New; it is an http.Handler.
type Server struct {
	cfg Config
	nb  *nbhttp.Engine
	up  *websocket.Upgrader
	hc  *http.Client
	mux *http.ServeMux

	startOnce sync.Once
	startErr  error
	started   atomic.Bool
	stopPing  chan struct{}

	mu       sync.RWMutex
	conns    map[*conn]struct{} // every open socket
	authed   map[*conn]struct{}
	channels map[string]map[*conn]struct{}
	uids     map[int64]int // authenticated sockets per uid
	pool     sync.Pool     // []*conn snapshots for publish

	sidSeq atomic.Uint64
	sidKey [8]byte
}

// conn is one WebSocket client.
type conn struct {
	ws       *websocket.Conn
	raw      *nbio.Conn
	tls      *tls.Conn // over TLS on the poller (polltls)
	rev      int
	sid      string
	uid      int64
	channels []string
	authing  atomic.Bool
	authed   bool // guarded by Server.mu
}

// New builds the floor server.
func New(cfg Config) *Server {
	if cfg.Path == "" {
		cfg.Path = "/socket.io/"
	}
	if cfg.BasePath == "" {
		cfg.BasePath = "/nodejs/"
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	logging.SetLevel(logging.LevelNone)
	s := &Server{
		cfg:      cfg,
		conns:    map[*conn]struct{}{},
		authed:   map[*conn]struct{}{},
		channels: map[string]map[*conn]struct{}{},
		uids:     map[int64]int{},
		stopPing: make(chan struct{}),
		hc: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute,
				DisableCompression: true,
			},
		},
	}
	_, _ = rand.Read(s.sidKey[:])
	s.nb = nbhttp.NewEngine(nbhttp.Config{Name: "benchfloor", SupportServerOnly: true, ReleaseWebsocketPayload: true})
	up := websocket.NewUpgrader()
	up.Engine = s.nb
	up.KeepaliveTime = 0
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.BlockingModAsyncWrite = true
	up.OnMessage(s.onMessage)
	up.OnClose(s.onClose)
	s.up = up
	s.mux = http.NewServeMux()
	s.mux.HandleFunc(cfg.Path, s.serveEngine)
	s.mux.HandleFunc(cfg.BasePath, s.serveDrupal)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the event loop and closes every socket.
func (s *Server) Close() {
	if s.started.Load() {
		close(s.stopPing)
		s.nb.Stop()
	}
	s.hc.CloseIdleConnections()
}

func (s *Server) start() error {
	s.startOnce.Do(func() {
		s.startErr = s.nb.Start()
		if s.startErr == nil {
			s.started.Store(true)
			go s.pingLoop()
		}
	})
	return s.startErr
}

// newSID returns a 20-character session id: a counter, keyed so ids are not
// guessable from one another (the floor is not a security boundary; this only
// keeps the ids the same shape as engine.io's).
func (s *Server) newSID() string {
	var b [15]byte
	binary.BigEndian.PutUint64(b[:], s.sidSeq.Add(1))
	copy(b[8:], s.sidKey[:7])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// frame encodes one unmasked server text frame (RFC 6455 §5.2).
func frame(payload []byte) []byte {
	n := len(payload)
	f := make([]byte, 0, n+10)
	f = append(f, 0x81)
	switch {
	case n < 126:
		f = append(f, byte(n))
	case n <= 0xFFFF:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}

var pingFrame = frame([]byte("2"))
var pongFrame = frame([]byte("3"))

func (c *conn) write(f []byte) {
	if c.tls != nil { // sealed for this connection, then nbio's non-blocking write
		_, _ = c.tls.Write(f)
		return
	}
	if c.raw != nil {
		_, _ = c.raw.Write(f)
		return
	}
	_ = c.ws.WriteMessage(websocket.TextMessage, f[len(f)-payloadLen(f):])
}

func payloadLen(f []byte) int {
	switch f[1] & 0x7f {
	case 126:
		return len(f) - 4
	case 127:
		return len(f) - 10
	}
	return len(f) - 2
}

func (s *Server) serveEngine(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rev, _ := strconv.Atoi(q.Get("EIO"))
	if rev != 3 && rev != 4 {
		http.Error(w, `{"code":5,"message":"Unsupported protocol version"}`, http.StatusBadRequest)
		return
	}
	if q.Get("transport") != "websocket" {
		http.Error(w, `{"code":0,"message":"Transport unknown (the floor serves websocket only)"}`, http.StatusBadRequest)
		return
	}
	if err := s.start(); err != nil {
		http.Error(w, "event loop: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	c := &conn{rev: rev, sid: s.newSID()}
	var ws *websocket.Conn
	var err error
	if r.TLS != nil {
		ws, c.tls, err = polltls.UpgradeWebSocket(w, r, s.up, nil)
	} else {
		ws, err = s.up.UpgradeAndTransferConnToPoller(w, r, nil)
	}
	if err != nil {
		return
	}
	c.ws = ws
	c.raw, _ = ws.Conn.(*nbio.Conn)
	ws.SetSession(c)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	iv := s.cfg.PingInterval.Milliseconds()
	open := `0{"sid":"` + c.sid + `","upgrades":[],"pingInterval":` + strconv.FormatInt(iv, 10)
	if rev == 3 { // the root namespace connects at once: both frames in one write
		c.write(append(frame([]byte(open+`,"pingTimeout":5000}`)), frame([]byte("40"))...))
		return
	}
	c.write(frame([]byte(open + `,"pingTimeout":20000,"maxPayload":1000000}`)))
}

func (s *Server) onMessage(ws *websocket.Conn, _ websocket.MessageType, data []byte) {
	c, _ := ws.Session().(*conn)
	if c == nil || len(data) == 0 {
		return
	}
	switch {
	case data[0] == '2' && c.rev == 3: // client ping
		c.write(pongFrame)
	case len(data) >= 2 && data[0] == '4' && data[1] == '0' && c.rev == 4:
		c.write(frame([]byte(`40{"sid":"` + c.sid + `"}`)))
	case len(data) >= 2 && data[0] == '4' && data[1] == '2':
		s.onEvent(c, data[2:])
	}
}

// onEvent handles `["authenticate",{...}]`; other events are ignored.
func (s *Server) onEvent(c *conn, data []byte) {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil || len(args) < 2 || string(args[0]) != `"authenticate"` {
		return
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(args[1], &msg); err != nil || msg == nil {
		return
	}
	if !c.authing.CompareAndSwap(false, true) {
		return
	}
	sid, _ := json.Marshal(c.sid)
	msg["messageType"] = json.RawMessage(`"authenticate"`)
	msg["clientId"] = sid
	go s.authenticate(c, msg)
}

// authReply is the part of Drupal's answer the floor acts on.
type authReply struct {
	Valid    bool     `json:"nodejsValidAuthToken"`
	UID      int64    `json:"uid"`
	Channels []string `json:"channels"`
}

func (s *Server) authenticate(c *conn, msg map[string]json.RawMessage) {
	reply := []byte(`{"nodejsValidAuthToken":true,"uid":0}`)
	if s.cfg.Backend != "" {
		mj, _ := json.Marshal(msg)
		var err error
		reply, err = s.backend(mj)
		if err != nil {
			_ = c.ws.Close()
			return
		}
	}
	var ar authReply
	if err := json.Unmarshal(reply, &ar); err != nil || !ar.Valid {
		_ = c.ws.Close()
		return
	}
	s.mu.Lock()
	if _, open := s.conns[c]; !open {
		s.mu.Unlock()
		return
	}
	c.authed, c.uid, c.channels = true, ar.UID, ar.Channels
	s.authed[c] = struct{}{}
	for _, ch := range ar.Channels {
		set := s.channels[ch]
		if set == nil {
			set = map[*conn]struct{}{}
			s.channels[ch] = set
		}
		set[c] = struct{}{}
	}
	first := false
	if ar.UID != 0 {
		s.uids[ar.UID]++
		first = s.uids[ar.UID] == 1
	}
	s.mu.Unlock()
	p := make([]byte, 0, len(reply)+64)
	p = append(p, `42["message",{"callback":"clientAuthenticated","data":`...)
	p = append(p, bytes.TrimSpace(reply)...)
	p = append(p, "}]"...)
	c.write(frame(p))
	if first && s.cfg.Backend != "" {
		_, _ = s.backend([]byte(`{"uid":` + strconv.FormatInt(ar.UID, 10) + `,"messageType":"userOnline"}`))
	}
}

// backend posts one message to Drupal (spec §3 step 4).
func (s *Server) backend(messageJSON []byte) ([]byte, error) {
	form := url.Values{"messageJson": {string(messageJSON)}, "serviceKey": {s.cfg.ServiceKey}}
	resp, err := s.hc.Post(s.cfg.Backend, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("backend: HTTP %d", resp.StatusCode)
	}
	return b, nil
}

func (s *Server) onClose(ws *websocket.Conn, _ error) {
	c, _ := ws.Session().(*conn)
	if c == nil {
		return
	}
	s.mu.Lock()
	delete(s.conns, c)
	if c.authed {
		delete(s.authed, c)
		for _, ch := range c.channels {
			if set := s.channels[ch]; set != nil {
				delete(set, c)
			}
		}
		if c.uid != 0 {
			if s.uids[c.uid]--; s.uids[c.uid] <= 0 {
				delete(s.uids, c.uid)
			}
		}
	}
	s.mu.Unlock()
}

// pingLoop pings every EIO=4 socket each interval (EIO=3 clients ping).
func (s *Server) pingLoop() {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopPing:
			return
		case <-t.C:
		}
		targets := s.snapshot(everyone, "")
		for _, c := range targets {
			if c.rev == 4 {
				c.write(pingFrame)
			}
		}
		s.release(targets)
	}
}

// Targets of a snapshot.
const (
	everyone = iota // every open socket
	authenticated
	channel
)

// snapshot copies the targets of a write so that no lock is held while
// writing.
func (s *Server) snapshot(kind int, name string) []*conn {
	out, _ := s.pool.Get().([]*conn)
	out = out[:0]
	s.mu.RLock()
	set := s.conns
	switch kind {
	case authenticated:
		set = s.authed
	case channel:
		set = s.channels[name]
	}
	for c := range set {
		out = append(out, c)
	}
	s.mu.RUnlock()
	return out
}

func (s *Server) release(v []*conn) {
	clear(v)
	s.pool.Put(v[:0])
}

func (s *Server) serveDrupal(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if s.cfg.ServiceKey != "" && r.Header.Get("NodejsServiceKey") != s.cfg.ServiceKey {
		_, _ = io.WriteString(w, `{"error":"Invalid service key."}`)
		return
	}
	switch strings.TrimPrefix(r.URL.Path, s.cfg.BasePath) {
	case "publish":
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		s.publish(w, r)
	case "health/check":
		s.mu.RLock()
		n, a := len(s.conns), len(s.authed)
		s.mu.RUnlock()
		fmt.Fprintf(w, `{"authenticatedClients":%d,"sockets":%d,"onlineUsers":%d,"tokenChannels":0,"contentTokens":{},"status":"success","version":"1.0.13"}`, a, n, a)
	default:
		http.Error(w, "Not Found.", http.StatusNotFound)
	}
}

// publish sends the posted message to every authenticated socket (broadcast)
// or to a channel's members as `42["message",<body>]`, one frame encoded once.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var m struct {
		Broadcast any    `json:"broadcast"`
		Channel   string `json:"channel"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		_, _ = io.WriteString(w, `{"error":"Required parameters are missing."}`)
		return
	}
	broadcast := truthy(m.Broadcast)
	if !broadcast && m.Channel == "" {
		_, _ = io.WriteString(w, `{"error":"Required parameters are missing."}`)
		return
	}
	p := make([]byte, 0, len(body)+16)
	p = append(p, `42["message",`...)
	p = append(p, bytes.TrimSpace(body)...)
	p = append(p, ']')
	f := frame(p)
	kind := channel
	if broadcast {
		kind = authenticated
	}
	targets := s.snapshot(kind, m.Channel)
	writeAll(targets, f, s.cfg.Writers)
	n := len(targets)
	s.release(targets)
	fmt.Fprintf(w, `{"status":"success","sent":%d}`, n)
}

// writeAll writes f to every target, split over up to writers goroutines
// when there are enough targets to be worth it.
func writeAll(targets []*conn, f []byte, writers int) {
	const minPerWriter = 512
	writers = min(writers, len(targets)/minPerWriter)
	if writers <= 1 {
		for _, c := range targets {
			c.write(f)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(targets) + writers - 1) / writers
	for i := 0; i < len(targets); i += per {
		part := targets[i:min(i+per, len(targets))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range part {
				c.write(f)
			}
		}()
	}
	wg.Wait()
}

// truthy is JavaScript truthiness for a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

// ListenAndServe runs the floor on addr until ctx ends.
func ListenAndServe(ctx context.Context, addr string, cfg Config) error {
	s := New(cfg)
	defer s.Close()
	hs := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg.TLS}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if cfg.TLS != nil {
		ln = polltls.NewListener(ln, cfg.TLS)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
