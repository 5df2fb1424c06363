package socketio

import (
	"sync/atomic"

	psio "github.com/socketd/socketd/protocol/socketio"
)

// Event is an event received from a client.
type Event struct {
	// Name is the event name.
	Name string
	// Args are the arguments as raw JSON with their binary attachments.
	Args psio.Args

	socket *Socket
	ackID  uint64
	hasAck bool
	acked  atomic.Bool
}

// EventHandler handles one event of a socket.
type EventHandler func(s *Socket, e *Event)

// Arg decodes argument i into v (encoding/json; binary arrives as []byte).
func (e *Event) Arg(i int, v any) error { return e.Args.Arg(i, v) }

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasAck }

// Ack answers the client's acknowledgement callback with args (see ToArgs). Only
// the first call sends anything; without a requested ack it does nothing.
func (e *Event) Ack(args ...any) error {
	a, err := ToArgs(args...)
	if err != nil {
		return err
	}
	return e.AckArgs(a)
}

// AckArgs is Ack with prepared arguments.
func (e *Event) AckArgs(args psio.Args) error {
	if !e.hasAck || !e.acked.CompareAndSwap(false, true) {
		return nil
	}
	return e.socket.writePacket(psio.NewAck(e.socket.nsp.name, e.ackID, args))
}
