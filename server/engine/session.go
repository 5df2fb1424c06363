package engine

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/internal/clientip"
	"github.com/socketd/socketd/protocol/engineio"
)

// Handler receives one session's inbound messages and its end. OnMessage calls for
// one session never overlap and arrive in the order the client sent them; data may
// be retained. OnMessage must not block for long: it holds up the session's reads.
type Handler interface {
	OnMessage(s *Session, data []byte, binary bool)
	// OnClose is called once, after the session left the server's registry.
	OnClose(s *Session, reason CloseReason)
}

// OpenFunc is called for every new session, before the client hears of it, and
// returns the session's Handler. Frames it sends on s go out with the handshake
// (EIO=3 Socket.IO clients expect their implicit CONNECT there).
type OpenFunc func(s *Session) Handler

// Request is what a session keeps of the request that opened it. The headers
// and query are kept as one string each and parsed on demand: a cloned
// http.Header and url.Values cost about 900 bytes per session, which for a
// server holding many idle sessions is memory spent on data rarely read.
type Request struct {
	header     string // "Name: value\n" per header value
	RawQuery   string // the handshake's query string, without '?'
	RemoteAddr string
	Host       string
	Secure     bool
	Time       time.Time
}

// newRequest keeps what a session needs of r.
func newRequest(r *http.Request, now time.Time) Request {
	n := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 3
		}
	}
	var b strings.Builder
	b.Grow(n)
	for k, vs := range r.Header {
		for _, v := range vs {
			// net/http refuses CR and LF in header values, so '\n' separates.
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return Request{
		header:     b.String(),
		RawQuery:   r.URL.RawQuery,
		RemoteAddr: r.RemoteAddr,
		Host:       r.Host,
		Secure:     r.TLS != nil,
		Time:       now,
	}
}

// Header returns a new copy of the handshake's headers on each call.
func (r *Request) Header() http.Header {
	h := make(http.Header, strings.Count(r.header, "\n"))
	for line := range strings.Lines(r.header) {
		k, v, _ := strings.Cut(line[:len(line)-1], ": ")
		h[k] = append(h[k], v)
	}
	return h
}

// HeaderValue returns the first value of the handshake header named key
// (canonical form, e.g. "Cookie"), without building the whole header map.
func (r *Request) HeaderValue(key string) string {
	for line := range strings.Lines(r.header) {
		if len(line) > len(key)+2 && line[len(key)] == ':' && line[:len(key)] == key {
			return line[len(key)+2 : len(line)-1]
		}
	}
	return ""
}

// headerValues returns every value of the handshake header named key
// (canonical form), in order.
func (r *Request) headerValues(key string) []string {
	var vs []string
	for line := range strings.Lines(r.header) {
		if len(line) > len(key)+2 && line[len(key)] == ':' && line[:len(key)] == key {
			vs = append(vs, line[len(key)+2:len(line)-1])
		}
	}
	return vs
}

// Query returns the handshake's query, parsed anew on each call (malformed
// pairs are skipped, as url.URL.Query does).
func (r *Request) Query() url.Values {
	v, _ := url.ParseQuery(r.RawQuery)
	return v
}

type state uint8

const (
	stateOpen    state = iota + 1
	stateClosing       // polling: the close packet waits for the client's next GET
	stateClosed
)

type timerKind uint8

const (
	timerPing  timerKind = iota + 1 // EIO=4: send the next ping
	timerPong                       // EIO=4: the pong is due
	timerIdle                       // EIO=3: the client's next ping is due
	timerClose                      // stateClosing: give up waiting for a GET
)

// Session is one Engine.IO connection; it outlives transport upgrades. The small
// fields are grouped so the struct packs without padding: a server holds one per
// connection (288 bytes, a size class below what the natural order took, and
// filled: a field more moves every session to the 320-byte class).
type Session struct {
	srv    *Server
	id     string
	req    Request
	rev    engineio.Revision
	jsonp  bool // polling answered as JSONP
	base64 bool // EIO=3 client cannot take binary polling payloads

	// These are guarded by mu, as are the fields after it.
	lingering bool // closed by the client; the next GET gets a noop (see closedPollGrace)
	state     state
	transport Transport
	upgrading bool // probe answered; polling GETs are released with noop
	posting   bool
	timerKind timerKind
	reason    CloseReason
	timerGen  uint32

	recvMu sync.Mutex // serialises calls into handler.OnMessage; taken before mu

	mu       sync.Mutex
	handler  Handler // set once, before the client hears of the session
	ws       *wsConn // current transport, when it is WebSocket
	probe    *wsConn // WebSocket being probed during an upgrade
	queue    []*Frame
	queued   int
	poll     chan struct{} // non-nil while a GET is held; receives one wake-up
	parked   *parkedPoll   // the held GET, when it is parked off net/http (park.go)
	timer    *time.Timer
	timerAt  time.Time
	upTimer  *time.Timer
	lastRecv atomic.Int64 // EIO=3: UnixNano of the last packet from the client

	ipKey uint64 // the client's entry in the per-address limits (limits.go); 0: none
}

// ID is the Engine.IO session id (sid).
func (s *Session) ID() string { return s.id }

// Revision is the Engine.IO protocol revision the client speaks.
func (s *Session) Revision() engineio.Revision { return s.rev }

// Request describes the handshake request. It must not be modified.
func (s *Session) Request() *Request { return &s.req }

// ClientIP is the client's address: the handshake's peer, or behind
// Config.TrustedProxies the address they forwarded the handshake for. It is
// worked out on each call from what the session keeps of the handshake (an
// address costs 24 bytes a session otherwise). It is the zero Addr when the
// peer's address does not parse (not over TCP).
func (s *Session) ClientIP() netip.Addr {
	return clientip.Trusted(s.srv.cfg.TrustedProxies).Of(s.req.RemoteAddr, s.req.headerValues("X-Forwarded-For"))
}

// clientIP is the client's address for a request.
func (srv *Server) clientIP(r *http.Request) netip.Addr {
	return clientip.Trusted(srv.cfg.TrustedProxies).Of(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// logClient logs a session's client address, worked out only when the line
// is written.
type logClient struct{ s *Session }

func (c logClient) LogValue() slog.Value { return slog.StringValue(c.s.ClientIP().String()) }

// expire closes the session if its heartbeat deadline has passed and reports
// whether it did.
func (s *Session) expire() bool {
	s.mu.Lock()
	expired := s.state == stateOpen && s.heartbeatExpiredLocked(time.Now())
	s.mu.Unlock()
	if expired {
		s.closeWith(ReasonPingTimeout, false)
	}
	return expired
}

func (s *Session) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}

// Transport is the transport in use now.
func (s *Session) Transport() Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Send queues frames for the client, in order and contiguously. It never blocks
// on the network: on WebSocket the bytes go to the socket or to the poller's
// bounded buffer, on polling to the session queue that the next GET takes. Passing
// MaxQueueBytes closes the session with ReasonSlowConsumer and returns
// ErrSlowConsumer; a closed session returns ErrClosed.
func (s *Session) Send(frames ...*Frame) error {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.ws != nil {
		err := s.ws.write(s.rev, frames)
		s.mu.Unlock()
		if err != nil {
			r := writeErrReason(err)
			s.closeWith(r, false)
			if r == ReasonSlowConsumer {
				return ErrSlowConsumer
			}
			return ErrClosed
		}
		return nil
	}
	for _, f := range frames {
		s.queue = append(s.queue, f)
		s.queued += f.size()
	}
	if s.queued > s.srv.cfg.MaxQueueBytes {
		s.mu.Unlock()
		s.closeWith(ReasonSlowConsumer, false)
		return ErrSlowConsumer
	}
	s.wakePollLocked()
	s.mu.Unlock()
	return nil
}

// Close ends the session from the server side: the client receives a close
// packet (so it does not reconnect at once) and OnClose gets ReasonServerClose.
func (s *Session) Close() { s.closeWith(ReasonServerClose, true) }

// CloseWithReason is Close with the reason recorded, for a layer above that ends
// the session for its own cause (ReasonParseError for a packet it could not
// decode, ReasonProtocolError for one it must refuse).
func (s *Session) CloseWithReason(reason CloseReason) { s.closeWith(reason, true) }

// Writable reports whether a frame sent now would go out at once: a WebSocket,
// or polling with a GET held. Volatile sends skip sessions that are not.
func (s *Session) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateOpen && (s.ws != nil || (s.poll != nil && len(s.queue) == 0))
}

func (s *Session) wakePollLocked() {
	if s.poll != nil {
		select {
		case s.poll <- struct{}{}:
		default:
		}
	}
	if s.parked != nil {
		s.parked.wake()
	}
}

// takeQueueLocked removes and returns everything queued.
func (s *Session) takeQueueLocked() []*Frame {
	q := s.queue
	s.queue = nil
	s.queued = 0
	return q
}

// armLocked re-arms the session's one heartbeat timer for d from now.
func (s *Session) armLocked(kind timerKind, d time.Duration) {
	s.armAtLocked(kind, time.Now().Add(d))
}

// armAtLocked re-arms the timer for an absolute deadline, so that deadlines
// derived from one another (the pong is due PingTimeout after the ping was due)
// do not add up the latency of each timer firing. A new timer per arm (rather
// than Reset) with a generation check makes a callback that already fired for an
// older deadline harmless.
func (s *Session) armAtLocked(kind timerKind, at time.Time) {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerGen++
	gen := s.timerGen
	s.timerKind = kind
	s.timerAt = at
	s.timer = time.AfterFunc(time.Until(at), func() { s.onTimer(gen) })
}

// heartbeatExpiredLocked reports whether the client has missed its heartbeat
// deadline even if the timer has not fired yet, so a request arriving just
// after the deadline finds the session gone, exactly as the protocol promises.
func (s *Session) heartbeatExpiredLocked(now time.Time) bool {
	switch s.timerKind {
	case timerPong:
		return !now.Before(s.timerAt)
	case timerIdle:
		idle := s.srv.cfg.PingInterval + s.srv.cfg.PingTimeout
		return !now.Before(time.Unix(0, s.lastRecv.Load()).Add(idle))
	}
	return false
}

func (s *Session) startHeartbeatLocked() {
	if s.rev == engineio.V3 {
		s.lastRecv.Store(time.Now().UnixNano())
		s.armLocked(timerIdle, s.srv.cfg.PingInterval+s.srv.cfg.PingTimeout)
	} else {
		s.armLocked(timerPing, s.srv.cfg.PingInterval)
	}
}

func (s *Session) onTimer(gen uint32) {
	s.mu.Lock()
	if gen != s.timerGen || s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	switch s.timerKind {
	case timerPing:
		s.armAtLocked(timerPong, s.timerAt.Add(s.srv.cfg.PingTimeout))
		s.mu.Unlock()
		_ = s.Send(pingFrame)
	case timerIdle:
		idle := s.srv.cfg.PingInterval + s.srv.cfg.PingTimeout
		if left := time.Until(time.Unix(0, s.lastRecv.Load()).Add(idle)); left > 0 {
			s.armLocked(timerIdle, left)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.closeWith(ReasonPingTimeout, false)
	case timerPong:
		s.mu.Unlock()
		s.closeWith(ReasonPingTimeout, false)
	case timerClose:
		s.mu.Unlock()
		s.finish()
	default:
		s.mu.Unlock()
	}
}

// receive handles one inbound packet from the session's current transport.
func (s *Session) receive(p engineio.Packet) {
	switch p.Type {
	case engineio.Message:
		if s.rev == engineio.V3 {
			s.heartbeatFromClient()
		}
		s.mu.Lock()
		h := s.handler
		s.mu.Unlock()
		if h != nil {
			s.recvMu.Lock()
			h.OnMessage(s, p.Data, p.Binary)
			s.recvMu.Unlock()
		}
	case engineio.Ping:
		if s.rev != engineio.V3 {
			s.fail(ReasonProtocolError, "invalid heartbeat direction")
			return
		}
		s.heartbeatFromClient()
		_ = s.Send(pongFrame)
	case engineio.Pong:
		if s.rev == engineio.V3 {
			s.fail(ReasonProtocolError, "invalid heartbeat direction")
			return
		}
		s.mu.Lock()
		if s.state == stateOpen && s.timerKind == timerPong {
			s.armLocked(timerPing, s.srv.cfg.PingInterval)
		}
		s.mu.Unlock()
	case engineio.Close:
		s.closeWith(ReasonClientClose, false)
	case engineio.Noop, engineio.Upgrade:
		// A late upgrade packet or a noop changes nothing.
	default:
		s.fail(ReasonProtocolError, "unexpected "+p.Type.String()+" packet")
	}
}

// heartbeatFromClient pushes back the EIO=3 idle deadline: any packet proves the
// client alive, as engine.io 3.x (the server behind drupal-node.js) counted it. It
// only records the time; the idle timer re-arms itself for the remainder when it
// fires, so a message costs no timer operation.
func (s *Session) heartbeatFromClient() {
	s.lastRecv.Store(time.Now().UnixNano())
}

func (s *Session) fail(reason CloseReason, detail string) {
	s.srv.log.Debug("engine.io session error", slog.String("sid", s.id), slog.String("reason", reason.String()), slog.String("detail", detail))
	s.closeWith(reason, false)
}

// closeWith ends the session. notify sends the client a close packet first; over
// polling with no GET held, the session lingers in stateClosing until the next GET
// takes that packet (or CloseTimeout passes), as engine.io does.
func (s *Session) closeWith(reason CloseReason, notify bool) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	if s.state == stateClosing {
		if notify {
			s.mu.Unlock()
			return
		}
	} else {
		s.reason = reason
		if reason == ReasonSlowConsumer {
			s.logSlowConsumerLocked()
		}
	}
	if notify && s.ws == nil && s.state == stateOpen {
		s.queue = append(s.queue, closeFrame)
		s.state = stateClosing
		if s.poll != nil {
			s.wakePollLocked()
		} else {
			s.armLocked(timerClose, s.srv.cfg.CloseTimeout)
		}
		s.mu.Unlock()
		return
	}
	// A client closing over polling with no GET held may have one on its way;
	// that one GET is answered with a noop instead of an error.
	s.lingering = reason == ReasonClientClose && s.ws == nil && s.poll == nil
	if notify && s.ws != nil {
		_ = s.ws.write(s.rev, []*Frame{closeFrame})
	} else if s.poll != nil && reason != ReasonClientClose && s.state == stateOpen {
		// A held GET learns of the end from a close packet; engine.io answers a
		// client's own close with a noop instead.
		s.queue = append(s.queue, closeFrame)
	}
	s.mu.Unlock()
	s.finish()
}

// logSlowConsumerLocked tells the operator a client was cut off for not
// reading: a few of these point at clients on bad networks, many at
// MaxQueueBytes too low for what is published. Only a log call is made
// under s.mu.
func (s *Session) logSlowConsumerLocked() {
	attrs := []slog.Attr{slog.String("sid", s.id), slog.String("transport", s.transport.String()),
		slog.Int("limit_bytes", s.srv.cfg.MaxQueueBytes)}
	if s.ws == nil {
		// Polling: what the client had not fetched. On WebSocket the bytes
		// the kernel would not take sit in nbio's buffer, which does not
		// say how full it is; it refused a write that would pass the limit.
		attrs = append(attrs, slog.Int("queued_bytes", s.queued))
	}
	attrs = append(attrs, slog.Any("client", logClient{s}))
	s.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "engine.io: slow consumer cut off: the client does not read what is sent to it", attrs...)
}

// finish moves the session to stateClosed, releases its transports and timers,
// unregisters it and tells the handler. It runs once.
func (s *Session) finish() {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.upTimer != nil {
		s.upTimer.Stop()
	}
	ws, probe := s.ws, s.probe
	s.probe = nil
	s.wakePollLocked()
	reason := s.reason
	h := s.handler
	s.mu.Unlock()

	if ws != nil {
		ws.close()
	}
	if probe != nil {
		probe.close()
	}
	s.srv.unregister(s, reason)
	if h != nil {
		h.OnClose(s, reason)
	}
}

// Packets the server sends that are the same for every session.
var (
	pingFrame  = NewFrame(engineio.Packet{Type: engineio.Ping})
	pongFrame  = NewFrame(engineio.Packet{Type: engineio.Pong})
	closeFrame = NewFrame(engineio.Packet{Type: engineio.Close})
	noopFrame  = NewFrame(engineio.Packet{Type: engineio.Noop})
	probeReply = NewFrame(engineio.Packet{Type: engineio.Pong, Data: []byte("probe")})
)
