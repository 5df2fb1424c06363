package socketio

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/protocol/engineio"
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/engine"
)

// client is one Engine.IO connection and the sockets it has in namespaces. It is
// the engine.Handler of its session, so its packet handling is serialised.
//
// A server holds one per connection: its fields are ordered so that it packs
// into 80 bytes, an allocation size class.
type client struct {
	srv  *Server
	sess *engine.Session
	// dec is held only while a binary packet waits for its attachments; other
	// packets are decoded with a pooled decoder, so idle clients hold none.
	// OnMessage (serialised by the engine) takes it while it decodes and puts
	// it back while a packet is pending; OnClose takes it away for good, so
	// the attachments are released at the close even if something (nbio
	// keeps recently closed connections) still refers to the client.
	dec atomic.Pointer[psio.Decoder]
	// tat is the client's message rate (Config.MessageRate) as GCRA keeps
	// it: when its schedule of messages at the rate would next allow one,
	// in ns since the server's epoch; rateExceeded once it was closed for
	// its rate. Only OnMessage, serialised, uses it.
	tat int64

	mu           sync.Mutex
	sockets      []*Socket // one per namespace; clients rarely join more than one or two
	connectTimer *time.Timer
	closed       bool

	rev psio.Revision
}

func newClient(srv *Server, sess *engine.Session) *client {
	c := &client{srv: srv, sess: sess}
	if sess.Revision() == engineio.V3 {
		c.rev = psio.V4
		// Socket.IO v4 clients are in "/" from the start, without asking.
		c.connect("/", emptyAuth)
		return c
	}
	c.rev = psio.V5
	c.connectTimer = time.AfterFunc(srv.cfg.ConnectTimeout, c.onConnectTimeout)
	return c
}

// socketLocked returns the client's socket in namespace name, or nil.
func (c *client) socketLocked(name string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == name {
			return s
		}
	}
	return nil
}

// stopConnectTimerLocked drops the connect timer, so a connected client does not
// keep it.
func (c *client) stopConnectTimerLocked() {
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
}

var emptyAuth = json.RawMessage("{}")

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && !c.closed
	c.mu.Unlock()
	if idle {
		c.srv.log.Debug("socket.io connect timeout: no namespace CONNECT; closing the connection",
			slog.String("sid", c.sess.ID()), slog.String("client", c.sess.ClientIP().String()))
		c.sess.CloseWithReason(engine.ReasonHandshakeTimeout)
	}
}

// rateExceeded marks a client closed for its message rate.
const rateExceeded = math.MaxInt64

// withinRate counts a message against the client's rate and reports whether
// it is within it. The first message past it closes the connection; that one
// and any after it (the rest of a polling payload) are dropped.
func (c *client) withinRate() bool {
	r := &c.srv.rate
	if c.tat == rateExceeded {
		return false
	}
	now := int64(time.Since(r.epoch))
	tat := max(c.tat, now)
	if tat-now > r.tolerance {
		c.tat = rateExceeded
		c.srv.log.Warn("socket.io: client over the message rate; closing the connection",
			slog.String("sid", c.sess.ID()), slog.String("client", c.sess.ClientIP().String()),
			slog.Float64("rate", c.srv.cfg.MessageRate), slog.Int("burst", c.srv.cfg.MessageBurst))
		c.sess.CloseWithReason(engine.ReasonMessageRate)
		return false
	}
	c.tat = tat + r.interval
	return true
}

// OnMessage implements engine.Handler.
func (c *client) OnMessage(_ *engine.Session, data []byte, binary bool) {
	var (
		p   psio.Packet
		ok  bool
		err error
	)
	if c.srv.rate.interval > 0 && !c.withinRate() {
		return
	}
	pool := &c.srv.decPool[c.rev-psio.V4]
	d := c.dec.Swap(nil)
	if d == nil {
		d = pool.Get().(*psio.Decoder)
	}
	held := d.Buffered()
	c.srv.stats.bytesIn.Add(uint64(len(data)))
	if binary {
		p, ok, err = d.AddBinary(data)
	} else {
		p, ok, err = d.Add(data)
	}
	if err == nil && c.srv.cfg.DisallowBinary && (d.Pending() || (ok && p.Type.IsBinary())) {
		err = errBinaryRefused
	}
	if err != nil {
		d.Reset()
	}
	c.srv.pending.Add(int64(d.Buffered() - held))
	if d.Pending() {
		c.dec.Store(d)
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed { // OnClose ran meanwhile and found no decoder to drop
			c.dropDecoder()
		}
	} else {
		pool.Put(d)
	}
	if err != nil {
		c.refuse(err)
		return
	}
	if ok {
		c.srv.stats.packetsIn.Add(1)
		c.dispatch(&p)
	}
}

// errBinaryRefused: a binary packet from a client while Config.DisallowBinary.
var errBinaryRefused = errors.New("socket.io: binary packet refused (clients may not send binary)")

// refuse closes the connection of a client that sent what cannot be
// accepted, with the reason logged.
func (c *client) refuse(err error) {
	switch {
	case errors.Is(err, psio.ErrBufferLimit):
		c.srv.log.Warn("socket.io: attachments of an incomplete packet over the limit; closing the connection",
			slog.String("sid", c.sess.ID()), slog.Int("limit", c.srv.cfg.MaxBufferedBytes))
		c.sess.CloseWithReason(engine.ReasonPayloadTooLarge)
	case errors.Is(err, errBinaryRefused):
		c.srv.log.Info("socket.io: binary packet refused; closing the connection", slog.String("sid", c.sess.ID()))
		c.sess.CloseWithReason(engine.ReasonProtocolError)
	default:
		c.srv.log.Debug("socket.io parse error", slog.String("sid", c.sess.ID()), slog.String("error", err.Error()))
		c.sess.CloseWithReason(engine.ReasonParseError)
	}
}

// dropDecoder releases a pending packet's attachments.
func (c *client) dropDecoder() {
	d := c.dec.Swap(nil)
	if d == nil {
		return
	}
	c.srv.pending.Add(-int64(d.Buffered()))
	d.Reset()
	c.srv.decPool[c.rev-psio.V4].Put(d)
}

func (c *client) dispatch(p *psio.Packet) {
	if p.Type == psio.Connect {
		auth := json.RawMessage(p.Data)
		if c.rev == psio.V4 {
			auth = queryAuth(p.Query)
		} else if len(auth) == 0 {
			auth = emptyAuth
		}
		c.connect(p.Namespace, auth)
		return
	}
	c.mu.Lock()
	s := c.socketLocked(p.Namespace)
	c.mu.Unlock()
	if s == nil {
		// Packets for a namespace the client is not in are dropped, as Node does.
		return
	}
	switch p.Type {
	case psio.Disconnect:
		s.onClose(ReasonClientNamespaceDisconnect)
	case psio.Event, psio.BinaryEvent:
		s.onEvent(p)
	case psio.Ack, psio.BinaryAck:
		s.onAck(p)
	}
}

// queryAuth turns a v4 namespace query into the auth object Node gives v4 clients.
func queryAuth(query string) json.RawMessage {
	if query == "" {
		return emptyAuth
	}
	out := []byte{'{'}
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		ku, err1 := url.QueryUnescape(k)
		vu, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = psio.AppendJSONString(out, ku)
		out = append(out, ':')
		out = psio.AppendJSONString(out, vu)
	}
	return append(out, '}')
}

// connect runs the namespace's middleware and, if they admit the client, adds a
// socket for it and answers CONNECT.
func (c *client) connect(name string, auth json.RawMessage) {
	n, ok := c.srv.lookup(name)
	if !ok {
		c.srv.stats.connectErrors.Add(1)
		c.writePacket(psio.NewConnectError(c.rev, name, "Invalid namespace", nil))
		return
	}
	c.mu.Lock()
	dup := c.socketLocked(name) != nil
	c.mu.Unlock()
	if dup {
		return
	}
	if n.rec != nil && c.rev == psio.V5 {
		if pid, off, ok := recoveryAuth(auth); ok {
			if c.restore(n, pid, off, auth) {
				return
			}
			c.srv.stats.recoveryMisses.Add(1)
		}
	}
	s := newSocket(n, c, auth)
	if err := n.admit(s); err != nil {
		c.refuseConnect(name, err)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets = append(c.sockets, s)
	c.stopConnectTimerLocked()
	c.mu.Unlock()
	n.add(s)
	c.srv.stats.connects.Add(1)
	pid := ""
	if n.rec != nil && c.rev == psio.V5 {
		pid = s.pid()
	}
	c.writePacket(psio.NewConnectReply(c.rev, name, s.id, pid))
	n.connected(s)
}

// refuseConnect answers a CONNECT a middleware refused.
func (c *client) refuseConnect(name string, err error) {
	msg, data := err.Error(), json.RawMessage(nil)
	if ce, ok := err.(*ConnectError); ok {
		data = ce.Data
	}
	c.srv.stats.connectErrors.Add(1)
	c.writePacket(psio.NewConnectError(c.rev, name, msg, data))
}

func (c *client) remove(s *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, s); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
	}
	c.mu.Unlock()
}

// disconnect disconnects every socket of the client, each told with a
// DISCONNECT packet, then closes the connection (the packets go out first).
func (c *client) disconnect() {
	c.mu.Lock()
	sockets := slices.Clone(c.sockets)
	c.mu.Unlock()
	for _, s := range sockets {
		s.disconnect()
	}
	c.sess.Close()
}

// OnClose implements engine.Handler.
func (c *client) OnClose(_ *engine.Session, reason engine.CloseReason) {
	c.mu.Lock()
	c.closed = true
	c.stopConnectTimerLocked()
	sockets := slices.Clone(c.sockets)
	c.mu.Unlock()
	c.dropDecoder()
	r := disconnectReason(reason)
	for _, s := range sockets {
		if s.nsp.delivering.Load() > 0 {
			// Maybe ended by a write of a delivery with an offset, on its
			// goroutine: the in-memory adapter holds its order lock there,
			// which a hook that broadcasts would wait for.
			go s.onClose(r)
			continue
		}
		s.onClose(r)
	}
}

func disconnectReason(r engine.CloseReason) DisconnectReason {
	switch r {
	case engine.ReasonPingTimeout:
		return ReasonPingTimeout
	case engine.ReasonTransportClose, engine.ReasonClientClose:
		return ReasonTransportClose
	case engine.ReasonParseError, engine.ReasonProtocolError, engine.ReasonPayloadTooLarge:
		return ReasonParseError
	case engine.ReasonServerShutdown:
		return ReasonServerShuttingDown
	case engine.ReasonServerClose, engine.ReasonHandshakeTimeout, engine.ReasonMessageRate:
		// The server ended the connection, as socket.io's
		// connectTimeout does (conn.close()).
		return ReasonForcedServerClose
	}
	return ReasonTransportError
}

// writePacket encodes p for this client and queues it.
func (c *client) writePacket(p psio.Packet) error {
	frames := encodeFrames(&p)
	err := c.sess.Send(frames...)
	if err == nil {
		c.srv.stats.sent(1, frames)
	}
	return err
}

// encodeFrames turns a packet into its Engine.IO frames: the text header, then
// one binary frame per attachment. The frames serve every client revision.
func encodeFrames(p *psio.Packet) []*engine.Frame {
	frames := make([]*engine.Frame, 1, 1+len(p.Attachments))
	frames[0] = engine.TextMessage(psio.AppendEncode(nil, p))
	for _, a := range p.Attachments {
		frames = append(frames, engine.BinaryMessage(a))
	}
	return frames
}
