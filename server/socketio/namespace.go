package socketio

import (
	"sync"
	"sync/atomic"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
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
	// Disconnect hooks of every socket, run before each socket's own.
	onDisconnecting []func(*Socket, DisconnectReason)
	onDisconnect    []func(*Socket, DisconnectReason)
	handlers        map[string]EventHandler
	serverSide      map[string]ServerSideHandler // nil until one is registered
}

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

// OnDisconnecting registers a hook run for every socket of the namespace when
// it is leaving, while it is still in its rooms (before the socket's own hooks).
// One hook here costs nothing per socket, unlike Socket.OnDisconnecting.
func (n *Namespace) OnDisconnecting(fn func(*Socket, DisconnectReason)) {
	n.mu.Lock()
	n.onDisconnecting = append(n.onDisconnecting, fn)
	n.mu.Unlock()
}

// OnDisconnect registers a hook run for every socket of the namespace after it
// left (before the socket's own hooks).
func (n *Namespace) OnDisconnect(fn func(*Socket, DisconnectReason)) {
	n.mu.Lock()
	n.onDisconnect = append(n.onDisconnect, fn)
	n.mu.Unlock()
}

// On sets the handler of an event for every socket of the namespace; a socket's
// own On overrides it. Shared handlers cost no memory per socket.
func (n *Namespace) On(event string, h EventHandler) {
	n.mu.Lock()
	n.handlers[event] = h
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

func (n *Namespace) operator() BroadcastOperator { return BroadcastOperator{nsp: n} }

// To targets the sockets in rooms.
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// Local restricts what follows to this node's sockets.
func (n *Namespace) Local() BroadcastOperator { return n.operator().Local() }

// Timeout bounds EmitWithAck.
func (n *Namespace) Timeout(d time.Duration) BroadcastOperator { return n.operator().Timeout(d) }

// Except targets every socket but those in rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator { return n.operator().Except(rooms...) }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// EmitArgs sends an event with prepared arguments to every socket of the namespace.
func (n *Namespace) EmitArgs(event string, args psio.Args) error {
	return n.operator().EmitArgs(event, args)
}
