package socketio

import (
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
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
	onServerEmit    func(event string, args socketio.Args) (socketio.Args, bool)
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
	var count int
	if len(targets) > 0 {
		frames := encodeFrames(pkt)
		count = deliverParallel(targets, func(part []*Socket) int {
			return deliverTo(part, pkt.ID, frames, flags, ack)
		})
		n.srv.stats.delivered(count, frames)
	}
	clear(targets)
	*bp = targets[:0]
	socketPool.Put(bp)
	return count
}

// parallelChunk is the fewest sockets a broadcast writer is given. A write is a
// syscall of a few microseconds (on loopback it also pays for the receiver's TCP
// processing), so below this, starting a goroutine costs more than it saves.
const parallelChunk = 512

// deliverParallel runs deliver over targets, split across up to GOMAXPROCS
// goroutines when there are enough of them, and returns the summed count. Each
// socket is in exactly one part, so its frames still go out in order, and the
// call returns only when every part is done, so broadcasts made one after the
// other reach each socket in that order.
func deliverParallel(targets []*Socket, deliver func([]*Socket) int) int {
	workers := min(runtime.GOMAXPROCS(0), len(targets)/parallelChunk)
	if workers < 2 {
		return deliver(targets)
	}
	per := (len(targets) + workers - 1) / workers
	var (
		total atomic.Int64
		wg    sync.WaitGroup
	)
	for lo := per; lo < len(targets); lo += per {
		part := targets[lo:min(lo+per, len(targets))]
		wg.Go(func() { total.Add(int64(deliver(part))) })
	}
	total.Add(int64(deliver(targets[:per])))
	wg.Wait()
	return int(total.Load())
}

// deliverTo writes frames to each socket of targets and returns how many took
// them. With ack non-nil every socket first registers the ack id.
func deliverTo(targets []*Socket, ackID uint64, frames []*engine.Frame, flags adapter.Flags, ack adapter.AckFunc) int {
	count := 0
	for _, s := range targets {
		sess := s.client.sess
		if flags.Volatile && !sess.Writable() {
			continue
		}
		if ack != nil {
			id := adapter.SocketID(s.id)
			if !s.addAck(ackID, &pendingAck{fn: func(args socketio.Args, err error) {
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
