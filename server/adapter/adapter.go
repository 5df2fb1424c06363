// Package adapter is socketd's cluster seam: which sockets are in which rooms, and
// how a packet reaches the sockets a broadcast targets, on this node and, with a
// cluster adapter, on every node.
//
// An Adapter serves one namespace. It acts on the namespace's own sockets only
// through the Local interface that the namespace implements, so this package does
// not import server/socketio (socket.io's in-memory-adapter reaches into the
// namespace instead; in Go that would be an import cycle).
//
// Memory is the single-node Adapter. A multi-node adapter (Redis, wire-compatible
// with socket.io's redis adapter) implements the same interface; adaptertest is the
// conformance suite every implementation must pass.
package adapter

import (
	"context"
	"errors"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
)

// Room names a set of sockets. Every socket is in the room named after its own id.
type Room string

// SocketID is a socket's id (Socket.id in socket.io), unique across the cluster.
type SocketID string

// Flags modify a broadcast, as socket.io's BroadcastFlags do.
type Flags struct {
	// Volatile packets may be dropped for clients that cannot take them now.
	Volatile bool
	// Local restricts the broadcast to this node.
	Local bool
	// Timeout bounds how long a broadcast with acks waits for the answers.
	Timeout time.Duration
	// Ordered applies the operation on this node in the cluster's order: a
	// cluster adapter applies it to the local sockets when it comes back from
	// the bus, as the other nodes do, instead of at once. Operations issued one
	// after another through different nodes then reach every socket in the
	// order they were issued (the Drupal API's case: PHP calls whichever node
	// the balancer picks). It never travels on the wire, and a single-node
	// adapter (or a cluster adapter whose bus is down) applies it at once.
	Ordered bool
	// Offset is set by an adapter with connection-state recovery on (see
	// Recoverer) for a packet it stored: Local.Deliver appends it to the
	// packet as a last argument for the clients that can recover. Callers
	// leave it zero; it does not travel on the classic wire.
	Offset Offset
}

// BroadcastOptions selects the target sockets: those in any of Rooms (every socket
// of the namespace when Rooms is empty), minus those in any of Except. A socket in
// several targeted rooms is a target once.
type BroadcastOptions struct {
	Rooms  []Room
	Except []Room
	Flags  Flags
}

// SocketInfo describes a socket for FetchSockets; on a cluster it may describe a
// socket of another node.
type SocketInfo struct {
	ID    SocketID
	Rooms []Room
	// Handshake and Data are JSON, as they travel between nodes.
	Handshake []byte
	Data      []byte
}

// AckFunc receives one client's answer to a broadcast that asked for acks.
type AckFunc func(id SocketID, args socketio.Args)

// Local is what an Adapter may ask of the namespace's sockets on this node. The
// namespace implements it.
type Local interface {
	// Deliver sends pkt, encoded once, to each listed local socket that is still
	// connected. ids is only valid during the call. With ack non-nil, pkt carries
	// an ack id and each socket's answer goes to ack. It returns how many sockets
	// the packet was written to.
	Deliver(pkt *socketio.Packet, ids []SocketID, flags Flags, ack AckFunc) int
	// Join and Leave make a local socket join or leave rooms (through the adapter,
	// so the socket's own bookkeeping stays in step).
	Join(id SocketID, rooms []Room)
	Leave(id SocketID, rooms []Room)
	// Disconnect disconnects a local socket from the namespace; close also closes
	// its whole connection.
	Disconnect(id SocketID, close bool)
	// Info describes a local socket.
	Info(id SocketID) (SocketInfo, bool)
	// ServerSideEmit delivers an event sent by another node with ServerSideEmit.
	// The answer, if the sender asked for one, is returned.
	ServerSideEmit(event string, args socketio.Args) (socketio.Args, bool)
}

// Adapter tracks room membership for one namespace and carries broadcasts.
// Methods that may talk to other nodes take a context; the room bookkeeping of
// local sockets does not block.
type Adapter interface {
	// AddAll adds a local socket to rooms.
	AddAll(id SocketID, rooms []Room)
	// Del removes a local socket from a room.
	Del(id SocketID, room Room)
	// DelAll removes a local socket from every room (it disconnected).
	DelAll(id SocketID)
	// SocketRooms returns the rooms of a local socket.
	SocketRooms(id SocketID) []Room
	// Sockets returns the local sockets in any of rooms (all when rooms is empty).
	Sockets(rooms []Room) []SocketID
	// Rooms returns the rooms that have local members.
	Rooms() []Room

	// Broadcast sends pkt to the targeted sockets.
	Broadcast(ctx context.Context, pkt *socketio.Packet, opts BroadcastOptions) error
	// BroadcastCount is Broadcast that also reports how many sockets the packet
	// was written to: on this node, plus what the other nodes report before ctx
	// ends (a cluster adapter documents which nodes report). The Drupal API's
	// "sent" counts come from it.
	BroadcastCount(ctx context.Context, pkt *socketio.Packet, opts BroadcastOptions) (int, error)
	// BroadcastWithAck sends pkt (which carries an ack id) and routes every
	// answer to ack. expect is called once per node with the number of sockets
	// that node reached, so the caller knows how many answers to wait for.
	BroadcastWithAck(ctx context.Context, pkt *socketio.Packet, opts BroadcastOptions, expect func(n int), ack AckFunc) error

	// FetchSockets describes the targeted sockets, on every node.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// AddSockets makes the targeted sockets join rooms, on every node.
	AddSockets(ctx context.Context, opts BroadcastOptions, rooms []Room) error
	// DelSockets makes the targeted sockets leave rooms, on every node.
	DelSockets(ctx context.Context, opts BroadcastOptions, rooms []Room) error
	// DisconnectSockets disconnects the targeted sockets, on every node.
	DisconnectSockets(ctx context.Context, opts BroadcastOptions, close bool) error

	// ServerSideEmit sends an event to the other nodes' namespaces (not to
	// clients). With wantAnswers it returns each node's answer.
	ServerSideEmit(ctx context.Context, event string, args socketio.Args, wantAnswers bool) ([]socketio.Args, error)
	// ServerCount is the number of nodes, this one included.
	ServerCount(ctx context.Context) (int, error)

	// Close releases the adapter.
	Close() error
}

// Factory makes the Adapter of one namespace.
type Factory func(nsp string, local Local) (Adapter, error)

// ErrClosed is returned by an adapter used after Close.
var ErrClosed = errors.New("adapter: closed")
