package socketio

import (
	"encoding/json"
	"errors"
)

// Errors passed to acknowledgement callbacks and returned by emits.
var (
	// ErrAckTimeout: the client did not acknowledge within the timeout.
	ErrAckTimeout = errors.New("socketio: acknowledgement timed out")
	// ErrDisconnected: the socket disconnected before it acknowledged, or an
	// emit was attempted on a disconnected socket.
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrReservedEvent: the application tried to emit a reserved event name.
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrAckUnbounded: a broadcast with acks was given neither a Timeout nor a
	// context deadline, so it could wait forever for a client that left.
	ErrAckUnbounded = errors.New("socketio: broadcast with acks needs a Timeout or a context deadline")
)

// ConnectError refuses a connection from a middleware. Message and Data reach
// the client: in its connect_error event (v5: err.message and err.data), or as the
// error packet's payload for v4 clients.
type ConnectError struct {
	Message string
	// Data is JSON sent along, or nil.
	Data json.RawMessage
}

func (e *ConnectError) Error() string { return e.Message }

// DisconnectReason says why a socket left its namespace. The values are
// socket.io's reason strings, which applications and clients compare against.
type DisconnectReason string

// Disconnect reasons.
const (
	ReasonServerNamespaceDisconnect DisconnectReason = "server namespace disconnect"
	ReasonClientNamespaceDisconnect DisconnectReason = "client namespace disconnect"
	ReasonServerShuttingDown        DisconnectReason = "server shutting down"
	ReasonPingTimeout               DisconnectReason = "ping timeout"
	ReasonTransportClose            DisconnectReason = "transport close"
	ReasonTransportError            DisconnectReason = "transport error"
	ReasonParseError                DisconnectReason = "parse error"
	ReasonForcedClose               DisconnectReason = "forced close"
	ReasonForcedServerClose         DisconnectReason = "forced server close"
)
