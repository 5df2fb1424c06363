package socketio

import (
	"context"
	"encoding/json"
	"fmt"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// The operations in this file may cross the network when the namespace's
// adapter is a cluster adapter (every node of the cluster takes part), so they
// take a context; with the in-memory adapter they act on this node at once.

// RemoteSocket describes a socket FetchSockets found, on this node or another
// (socket.io's RemoteSocket). It is a snapshot: Rooms and Data are what they
// were when its node answered. Its methods act on the socket wherever it is,
// through the adapter.
type RemoteSocket struct {
	// ID is the socket id, unique across the cluster.
	ID string
	// Rooms are the socket's rooms, its own id room included.
	Rooms []string
	// Handshake is how the socket connected, as its node described it. A
	// socket of a Node socket.io node gives its headers, query, auth, address,
	// secure flag and time; Host is the Host header.
	Handshake *Handshake
	// Data is the socket's data (Socket.Data, socket.data on a Node node) as
	// JSON, or nil when it has none.
	Data json.RawMessage

	nsp *Namespace
}

func newRemoteSocket(n *Namespace, info adapter.SocketInfo) *RemoteSocket {
	rooms := make([]string, len(info.Rooms))
	for i, r := range info.Rooms {
		rooms[i] = string(r)
	}
	var data json.RawMessage
	if len(info.Data) > 0 && string(info.Data) != "null" {
		data = json.RawMessage(info.Data)
	}
	return &RemoteSocket{
		ID:        string(info.ID),
		Rooms:     rooms,
		Handshake: parseHandshake(info.Handshake),
		Data:      data,
		nsp:       n,
	}
}

func (r *RemoteSocket) only() BroadcastOperator { return r.nsp.To(r.ID) }

// Emit sends an event to the socket, on whichever node it is (arguments as in
// ToArgs).
func (r *RemoteSocket) Emit(event string, args ...any) error { return r.only().Emit(event, args...) }

// Join makes the socket join rooms, on whichever node it is.
func (r *RemoteSocket) Join(ctx context.Context, rooms ...string) error {
	return r.only().SocketsJoin(ctx, rooms...)
}

// Leave makes the socket leave rooms, on whichever node it is.
func (r *RemoteSocket) Leave(ctx context.Context, rooms ...string) error {
	return r.only().SocketsLeave(ctx, rooms...)
}

// Disconnect disconnects the socket, on whichever node it is; close closes its
// whole connection too.
func (r *RemoteSocket) Disconnect(ctx context.Context, close bool) error {
	return r.only().DisconnectSockets(ctx, close)
}

// FetchSockets describes the targeted sockets on every node (socket.io's
// fetchSockets). A node that does not answer before ctx ends or the adapter's
// request timeout passes is missing from the result; the error says so.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	infos, err := b.nsp.adapter.FetchSockets(ctx, b.opts())
	out := make([]*RemoteSocket, len(infos))
	for i, info := range infos {
		out[i] = newRemoteSocket(b.nsp, info)
	}
	return out, err
}

// SocketsJoin makes the targeted sockets join rooms, on every node.
func (b BroadcastOperator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return b.nsp.adapter.AddSockets(ctx, b.opts(), toRooms(rooms))
}

// SocketsLeave makes the targeted sockets leave rooms, on every node.
func (b BroadcastOperator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return b.nsp.adapter.DelSockets(ctx, b.opts(), toRooms(rooms))
}

// DisconnectSockets disconnects the targeted sockets, on every node: each
// client is told (reason "io server disconnect"); close closes the
// connections too.
func (b BroadcastOperator) DisconnectSockets(ctx context.Context, close bool) error {
	return b.nsp.adapter.DisconnectSockets(ctx, b.opts(), close)
}

// FetchSockets describes every socket of the namespace, on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.operator().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms, on every node.
func (n *Namespace) SocketsJoin(ctx context.Context, rooms ...string) error {
	return n.operator().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms, on every node.
func (n *Namespace) SocketsLeave(ctx context.Context, rooms ...string) error {
	return n.operator().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace, on every node.
func (n *Namespace) DisconnectSockets(ctx context.Context, close bool) error {
	return n.operator().DisconnectSockets(ctx, close)
}

// ServerSideHandler receives an event another node of the cluster sent to this
// namespace with ServerSideEmit or ServerSideEmitWithAck (socket.io's
// serverSideEmit). When the sender waits for answers, answer goes back to it if
// ok is true; with ok false nothing is sent, and the sender's wait for this node
// ends only at its timeout, as in socket.io when a listener does not call its
// callback. Handlers run on the adapter's receiving path: they must not block.
//
// Between nodes on the Redis adapter's classic wire (socket.io's redis
// adapter) events and answers travel as JSON, and an answer is one value, as
// socket.io's callback takes one: only the first value of answer is sent, and
// binary arguments do not keep their bytes.
type ServerSideHandler func(args psio.Args) (answer psio.Args, ok bool)

// OnServerSideEmit sets the handler of a server-side event: one the other nodes
// send with ServerSideEmit (socket.io's io.on(event) for serverSideEmit). It
// replaces an earlier handler of the same event.
func (n *Namespace) OnServerSideEmit(event string, h ServerSideHandler) {
	n.mu.Lock()
	if n.serverSide == nil {
		n.serverSide = make(map[string]ServerSideHandler)
	}
	n.serverSide[event] = h
	n.mu.Unlock()
}

// ServerSideEmit sends an event to this namespace on every other node of the
// cluster, not to clients (socket.io's serverSideEmit; arguments as in ToArgs).
// The other nodes' OnServerSideEmit handlers receive it. On a single node it
// does nothing.
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	a, err := serverSideArgs(event, args)
	if err != nil {
		return err
	}
	_, err = n.adapter.ServerSideEmit(ctx, event, a, false)
	return err
}

// ServerSideEmitWithAck is ServerSideEmit that waits for every other node's
// answer (socket.io's serverSideEmitWithAck) and returns them, one per node that
// answered. A node that does not answer before ctx ends or the adapter's
// request timeout passes is missing; the error says so, and the answers that
// did arrive are returned with it. On a single node there are no answers.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]psio.Args, error) {
	a, err := serverSideArgs(event, args)
	if err != nil {
		return nil, err
	}
	return n.adapter.ServerSideEmit(ctx, event, a, true)
}

func serverSideArgs(event string, args []any) (psio.Args, error) {
	if psio.IsReservedEvent(event) {
		return psio.Args{}, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return ToArgs(args...)
}
