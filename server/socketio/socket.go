package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/socketd/socketd/protocol/engineio"
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
)

// Handshake describes how a socket connected.
type Handshake struct {
	Headers http.Header
	// Query is the query string of the Engine.IO handshake request.
	Query url.Values
	// Auth is the CONNECT payload of a v5 client ({} when none), or for a v4
	// client its namespace query as an object of strings.
	Auth    json.RawMessage
	Address string
	Host    string
	Secure  bool
	Time    time.Time
}

// AckFunc receives a client's acknowledgement, or ErrAckTimeout/ErrDisconnected.
type AckFunc func(args psio.Args, err error)

type pendingAck struct {
	fn    AckFunc
	timer *time.Timer
}

// Socket is one client's connection to one namespace.
type Socket struct {
	id     string
	nsp    *Namespace
	client *client
	auth   json.RawMessage // the CONNECT payload, Handshake().Auth

	mu        sync.Mutex
	connected bool
	recovered bool // set before the socket is shared (Recovered)
	handlers  map[string]EventHandler
	acks      map[uint64]*pendingAck
	extra     *socketExtra // nil until needed: most sockets have none of it
}

// socketExtra is what few sockets have: their own disconnect hooks
// (Namespace.OnDisconnecting and OnDisconnect serve every socket at no cost per
// socket) and data set by the application.
type socketExtra struct {
	disconnecting []func(*Socket, DisconnectReason)
	disconnect    []func(*Socket, DisconnectReason)
	data          json.RawMessage
	// pid is a recovered socket's private id (other sockets derive theirs).
	pid string
	// floor is the offset of the last packet a recovered socket was sent
	// as missed: deliveries of stored packets at or before it are dropped.
	// Written before the socket is among the namespace's sockets, then
	// only read.
	floor adapter.Offset
}

// extraLocked returns s.extra, allocating it; s.mu is held.
func (s *Socket) extraLocked() *socketExtra {
	if s.extra == nil {
		s.extra = &socketExtra{}
	}
	return s.extra
}

func newSocket(n *Namespace, c *client, auth json.RawMessage) *Socket {
	s := &Socket{nsp: n, client: c, auth: auth}
	if c.sess.Revision() == engineio.V3 {
		// v4 clients derive their socket id from the engine sid; so does Node.
		s.id = c.sess.ID()
		if n.name != "/" {
			s.id = n.name + "#" + s.id
		}
	} else {
		var b [15]byte
		_, _ = rand.Read(b[:])
		s.id = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return s
}

// ID is the socket id, the one the client sees as socket.id.
func (s *Socket) ID() string { return s.id }

// Namespace is the namespace the socket is in.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake describes the connection. It is built on each call from what the
// Engine.IO session keeps (headers and query as compact strings, so that idle
// sockets do not hold maps nobody reads); keep the result to read it often.
// Address is the client's IP address (engine.Session.ClientIP: the peer's,
// or behind trusted proxies the one they forwarded for), without a port, as
// socket.io gives it.
func (s *Socket) Handshake() *Handshake {
	sess := s.client.sess
	req := sess.Request()
	addr := req.RemoteAddr
	if ip := sess.ClientIP(); ip.IsValid() {
		addr = ip.String()
	}
	return &Handshake{
		Headers: req.Header(),
		Query:   req.Query(),
		Auth:    s.auth,
		Address: addr,
		Host:    req.Host,
		Secure:  req.Secure,
		Time:    req.Time,
	}
}

// Session is the Engine.IO session underneath (shared by the client's sockets in
// other namespaces).
func (s *Socket) Session() *engine.Session { return s.client.sess }

// Connected reports whether the socket is still in its namespace.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// On sets the handler of an event for this socket, overriding the namespace's.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	if s.handlers == nil {
		s.handlers = make(map[string]EventHandler)
	}
	s.handlers[event] = h
	s.mu.Unlock()
}

// OnDisconnecting registers a hook run when the socket is leaving, while it is
// still in its rooms.
func (s *Socket) OnDisconnecting(fn func(*Socket, DisconnectReason)) {
	s.mu.Lock()
	x := s.extraLocked()
	x.disconnecting = append(x.disconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect registers a hook run after the socket left.
func (s *Socket) OnDisconnect(fn func(*Socket, DisconnectReason)) {
	s.mu.Lock()
	x := s.extraLocked()
	x.disconnect = append(x.disconnect, fn)
	s.mu.Unlock()
}

// Join adds the socket to rooms. It does nothing once the socket has
// disconnected, so a late Join cannot leave a stale room entry behind.
func (s *Socket) Join(rooms ...string) { s.join(toRooms(rooms)) }

func (s *Socket) join(rooms []adapter.Room) {
	// Holding mu orders this against onClose: either the join lands before
	// the socket is marked gone (and DelAll removes it), or it is skipped.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		s.nsp.adapter.AddAll(adapter.SocketID(s.id), rooms)
	}
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) { s.nsp.adapter.Del(adapter.SocketID(s.id), adapter.Room(room)) }

// SetData sets the socket's data (socket.io's socket.data): JSON, because
// FetchSockets carries it to other nodes (RemoteSocket.Data). nil clears it.
func (s *Socket) SetData(data json.RawMessage) error {
	if data != nil && !json.Valid(data) {
		return errors.New("socketio: socket data is not valid JSON")
	}
	data = slices.Clone(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if data == nil && s.extra == nil {
		return nil
	}
	s.extraLocked().data = data
	return nil
}

// Data is the socket's data as set by SetData, or nil.
func (s *Socket) Data() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.extra == nil {
		return nil
	}
	return s.extra.data
}

// Rooms returns the socket's rooms, its own id room included.
func (s *Socket) Rooms() []string {
	rs := s.nsp.adapter.SocketRooms(adapter.SocketID(s.id))
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// Emit sends an event to this socket (arguments as in ToArgs).
func (s *Socket) Emit(event string, args ...any) error {
	a, err := ToArgs(args...)
	if err != nil {
		return err
	}
	return s.EmitArgs(event, a)
}

// EmitArgs sends an event with prepared arguments.
func (s *Socket) EmitArgs(event string, args psio.Args) error {
	p, err := eventPacket(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	s.observeSent(&p)
	return s.writePacket(p)
}

// EmitWithAck sends an event asking the client to acknowledge it; fn receives
// the answer, or ErrAckTimeout after timeout (zero: no timeout), or
// ErrDisconnected if the socket goes first. fn runs on the client's reading
// side or a timer; it must not block.
func (s *Socket) EmitWithAck(event string, timeout time.Duration, fn AckFunc, args ...any) error {
	a, err := ToArgs(args...)
	if err != nil {
		return err
	}
	return s.EmitArgsWithAck(event, timeout, fn, a)
}

// EmitArgsWithAck is EmitWithAck with prepared arguments.
func (s *Socket) EmitArgsWithAck(event string, timeout time.Duration, fn AckFunc, args psio.Args) error {
	p, err := eventPacket(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	p.ID, p.HasID = s.nsp.nextAckID(), true
	pa := &pendingAck{fn: fn}
	if !s.addAck(p.ID, pa) {
		return ErrDisconnected
	}
	s.observeSent(&p)
	if timeout > 0 {
		id := p.ID
		pa.timer = time.AfterFunc(timeout, func() {
			if s.takeAck(id) != nil {
				fn(psio.Args{}, ErrAckTimeout)
			}
		})
	}
	if err := s.writePacket(p); err != nil {
		if s.takeAck(p.ID) != nil && pa.timer != nil {
			pa.timer.Stop()
		}
		return err
	}
	return nil
}

func (s *Socket) addAck(id uint64, pa *pendingAck) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return false
	}
	if s.acks == nil {
		s.acks = make(map[uint64]*pendingAck)
	}
	s.acks[id] = pa
	return true
}

func (s *Socket) takeAck(id uint64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.acks[id]
	delete(s.acks, id)
	return pa
}

// Broadcast returns an operator that targets every socket of the namespace but
// this one.
func (s *Socket) Broadcast() BroadcastOperator {
	return s.nsp.operator().Except(s.id)
}

// To returns an operator that targets the sockets in rooms, except this one.
func (s *Socket) To(rooms ...string) BroadcastOperator {
	return s.Broadcast().To(rooms...)
}

// Disconnect removes the socket from its namespace; the client is told (reason
// "io server disconnect") and does not reconnect by itself. With close the
// whole connection is closed too, after every socket it has in other
// namespaces was disconnected the same way (socket.io's disconnect(true)).
func (s *Socket) Disconnect(close bool) {
	if close {
		s.client.disconnect()
		return
	}
	s.disconnect()
}

func (s *Socket) disconnect() {
	if !s.Connected() {
		return
	}
	_ = s.writePacket(psio.Packet{Type: psio.Disconnect, Namespace: s.nsp.name})
	s.onClose(ReasonServerNamespaceDisconnect)
}

func (s *Socket) writePacket(p psio.Packet) error {
	if !s.Connected() {
		return ErrDisconnected
	}
	return s.client.writePacket(p)
}

func (s *Socket) handler(event string) EventHandler {
	s.mu.Lock()
	h := s.handlers[event]
	s.mu.Unlock()
	if h != nil {
		return h
	}
	return s.nsp.handler(event)
}

func (s *Socket) onEvent(p *psio.Packet) {
	name, args, err := p.Event()
	if err != nil {
		// The decoder validated the packet; this cannot happen.
		return
	}
	if box := s.nsp.srv.observer.Load(); box != nil {
		box.o.EventReceived(s, p.Data)
	}
	h := s.handler(name)
	if h == nil {
		return
	}
	h(s, &Event{Name: name, Args: args, socket: s, ackID: p.ID, hasAck: p.HasID})
}

func (s *Socket) onAck(p *psio.Packet) {
	if !p.HasID {
		return
	}
	pa := s.takeAck(p.ID)
	if pa == nil {
		return
	}
	if pa.timer != nil {
		pa.timer.Stop()
	}
	args, err := p.AckArgs()
	if err != nil {
		return
	}
	pa.fn(args, nil)
}

// onClose takes the socket out of its namespace, once.
func (s *Socket) onClose(reason DisconnectReason) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected = false
	s.nsp.srv.stats.disconnected(reason)
	acks := s.acks
	s.acks = nil
	var own socketExtra
	if s.extra != nil {
		own = *s.extra
	}
	s.mu.Unlock()
	s.nsp.mu.RLock()
	disconnecting := append(slices.Clip(s.nsp.onDisconnecting), own.disconnecting...)
	disconnect := append(slices.Clip(s.nsp.onDisconnect), own.disconnect...)
	s.nsp.mu.RUnlock()

	for _, fn := range disconnecting {
		fn(s, reason)
	}
	if s.nsp.rec != nil && s.client.rev == psio.V5 && recoverable(reason) {
		s.saveSession()
	}
	s.nsp.remove(s)
	s.client.remove(s)
	for _, pa := range acks {
		if pa.timer != nil {
			pa.timer.Stop()
		}
		pa.fn(psio.Args{}, ErrDisconnected)
	}
	for _, fn := range disconnect {
		fn(s, reason)
	}
}

func toRooms(rooms []string) []adapter.Room {
	out := make([]adapter.Room, len(rooms))
	for i, r := range rooms {
		out[i] = adapter.Room(r)
	}
	return out
}
