package socketio

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// Middleware admits or refuses a socket connecting to a namespace. Return a
// *ConnectError to choose the message and data the client gets; any other error
// is sent with its text as the message. Middleware runs on the client's reading
// side and may block it (for example to call an auth backend).
type Middleware func(s *Socket) error

// Namespace is a Socket.IO namespace: a set of sockets with their own handlers,
// middleware, rooms and adapter.
type Namespace struct {
	name    string
	srv     *Server
	adapter adapter.Adapter
	ackIDs  atomic.Uint64

	mu           sync.RWMutex
	sockets      map[adapter.SocketID]*Socket
	middleware   []Middleware
	onConnection []func(*Socket)
	handlers     map[string]EventHandler
	onServerEmit func(event string, args socketio.Args) (socketio.Args, bool)
}

var _ adapter.Local = (*Namespace)(nil)

func newNamespace(srv *Server, name string) *Namespace {
	return &Namespace{
		name:     name,
		srv:      srv,
		sockets:  make(map[adapter.SocketID]*Socket),
		handlers: make(map[string]EventHandler),
	}
}

// Name is the namespace's name, starting with "/".
func (n *Namespace) Name() string { return n.name }

// Adapter is the namespace's adapter.
func (n *Namespace) Adapter() adapter.Adapter { return n.adapter }

// Use appends a connect middleware.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	n.middleware = append(n.middleware, mw)
	n.mu.Unlock()
}

// OnConnection registers a function run for every socket that connected.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, fn)
	n.mu.Unlock()
}

// On sets the handler of an event for every socket of the namespace; a socket's
// own On overrides it. Shared handlers cost no memory per socket.
func (n *Namespace) On(event string, h EventHandler) {
	n.mu.Lock()
	n.handlers[event] = h
	n.mu.Unlock()
}

// OnServerSideEmit sets the receiver of events other nodes send with
// ServerSideEmit. Its answer goes back when the sender asked for answers.
func (n *Namespace) OnServerSideEmit(fn func(event string, args socketio.Args) (socketio.Args, bool)) {
	n.mu.Lock()
	n.onServerEmit = fn
	n.mu.Unlock()
}

func (n *Namespace) handler(event string) EventHandler {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.handlers[event]
}

func (n *Namespace) nextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

func (n *Namespace) admit(s *Socket) error {
	n.mu.RLock()
	mws := n.middleware
	n.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s); err != nil {
			return err
		}
	}
	return nil
}

func (n *Namespace) add(s *Socket) {
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	n.mu.Lock()
	n.sockets[adapter.SocketID(s.id)] = s
	n.mu.Unlock()
	n.adapter.AddAll(adapter.SocketID(s.id), []adapter.Room{adapter.Room(s.id)})
}

func (n *Namespace) connected(s *Socket) {
	n.mu.RLock()
	fns := n.onConnection
	n.mu.RUnlock()
	for _, fn := range fns {
		fn(s)
	}
}

func (n *Namespace) remove(s *Socket) {
	n.adapter.DelAll(adapter.SocketID(s.id))
	n.mu.Lock()
	if n.sockets[adapter.SocketID(s.id)] == s {
		delete(n.sockets, adapter.SocketID(s.id))
	}
	n.mu.Unlock()
}

// Socket returns a connected local socket by id.
func (n *Namespace) Socket(id string) (*Socket, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s, ok := n.sockets[adapter.SocketID(id)]
	return s, ok
}

// Len is the number of local sockets.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

var socketPool = sync.Pool{New: func() any { s := make([]*Socket, 0, 64); return &s }}

// Deliver implements adapter.Local: pkt is encoded once and the same frames are
// queued on every target's connection.
func (n *Namespace) Deliver(pkt *socketio.Packet, ids []adapter.SocketID, flags adapter.Flags, ack adapter.AckFunc) int {
	bp := socketPool.Get().(*[]*Socket)
	targets := (*bp)[:0]
	n.mu.RLock()
	for _, id := range ids {
		if s := n.sockets[id]; s != nil {
			targets = append(targets, s)
		}
	}
	n.mu.RUnlock()
	count := 0
	if len(targets) > 0 {
		frames := encodeFrames(pkt)
		for _, s := range targets {
			sess := s.client.sess
			if flags.Volatile && !sess.Writable() {
				continue
			}
			if ack != nil {
				id := adapter.SocketID(s.id)
				if !s.addAck(pkt.ID, &pendingAck{fn: func(args socketio.Args, err error) {
					if err == nil {
						ack(id, args)
					}
				}}) {
					continue
				}
			}
			if sess.Send(frames...) == nil {
				count++
			}
		}
	}
	clear(targets)
	*bp = targets[:0]
	socketPool.Put(bp)
	return count
}

// Join implements adapter.Local.
func (n *Namespace) Join(id adapter.SocketID, rooms []adapter.Room) {
	if _, ok := n.Socket(string(id)); ok {
		n.adapter.AddAll(id, rooms)
	}
}

// Leave implements adapter.Local.
func (n *Namespace) Leave(id adapter.SocketID, rooms []adapter.Room) {
	if _, ok := n.Socket(string(id)); ok {
		for _, r := range rooms {
			n.adapter.Del(id, r)
		}
	}
}

// Disconnect implements adapter.Local.
func (n *Namespace) Disconnect(id adapter.SocketID, close bool) {
	if s, ok := n.Socket(string(id)); ok {
		s.Disconnect(close)
	}
}

// Info implements adapter.Local.
func (n *Namespace) Info(id adapter.SocketID) (adapter.SocketInfo, bool) {
	s, ok := n.Socket(string(id))
	if !ok {
		return adapter.SocketInfo{}, false
	}
	hs, _ := json.Marshal(handshakeJSON(s.Handshake()))
	return adapter.SocketInfo{ID: id, Rooms: n.adapter.SocketRooms(id), Handshake: hs}, true
}

// ServerSideEmit implements adapter.Local.
func (n *Namespace) ServerSideEmit(event string, args socketio.Args) (socketio.Args, bool) {
	n.mu.RLock()
	fn := n.onServerEmit
	n.mu.RUnlock()
	if fn == nil {
		return socketio.Args{}, false
	}
	return fn(event, args)
}

// handshakeJSON is the handshake as socket.io's fetchSockets shows it.
func handshakeJSON(h *Handshake) map[string]any {
	return map[string]any{
		"headers": h.Headers,
		"time":    h.Time.String(),
		"address": h.Address,
		"xdomain": h.Headers.Get("Origin") != "",
		"secure":  h.Secure,
		"issued":  h.Time.UnixMilli(),
		"url":     "",
		"query":   h.Query,
		"auth":    h.Auth,
	}
}

func (n *Namespace) operator() BroadcastOperator { return BroadcastOperator{nsp: n} }

// To targets the sockets in rooms.
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// Except targets every socket but those in rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator { return n.operator().Except(rooms...) }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// EmitArgs sends an event with prepared arguments to every socket of the namespace.
func (n *Namespace) EmitArgs(event string, args socketio.Args) error {
	return n.operator().EmitArgs(event, args)
}
