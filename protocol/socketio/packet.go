package socketio

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// PacketType is the first character of every Socket.IO packet
// (socket.io-protocol README, "Exchange protocol").
type PacketType uint8

// Packet types. The numbers are the wire digits and identical in v4 and v5;
// v4 calls type 4 ERROR, v5 CONNECT_ERROR.
const (
	Connect      PacketType = 0
	Disconnect   PacketType = 1
	Event        PacketType = 2
	Ack          PacketType = 3
	ConnectError PacketType = 4
	BinaryEvent  PacketType = 5
	BinaryAck    PacketType = 6
)

// String returns the name the protocol README uses for t.
func (t PacketType) String() string {
	switch t {
	case Connect:
		return "CONNECT"
	case Disconnect:
		return "DISCONNECT"
	case Event:
		return "EVENT"
	case Ack:
		return "ACK"
	case ConnectError:
		return "CONNECT_ERROR"
	case BinaryEvent:
		return "BINARY_EVENT"
	case BinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven defined packet types.
func (t PacketType) Valid() bool { return t <= BinaryAck }

// IsBinary reports whether packets of type t carry an attachment count and
// may be followed by binary attachments.
func (t PacketType) IsBinary() bool { return t == BinaryEvent || t == BinaryAck }

// Revision is the Socket.IO protocol revision a connection speaks. The
// encoding is the same in both; what differs is how namespaces are joined
// and refused (see NewConnectReply, NewConnectError and DecoderConfig.Revision).
type Revision uint8

const (
	// V4 is spoken by socket.io 1.x/2.x clients over Engine.IO v3 (EIO=3):
	// implicit connection to "/", auth through the query string, string
	// CONNECT_ERROR payloads.
	V4 Revision = 4
	// V5 is spoken by socket.io 3.x/4.x clients over Engine.IO v4 (EIO=4):
	// explicit CONNECT with an auth object, {"sid"} in the reply,
	// {"message","data"} CONNECT_ERROR payloads.
	V5 Revision = 5
)

// String returns "v4" or "v5".
func (r Revision) String() string {
	switch r {
	case V4:
		return "v4"
	case V5:
		return "v5"
	}
	return "Revision(" + strconv.Itoa(int(r)) + ")"
}

// Packet is one Socket.IO packet. The JSON payload is kept as the raw bytes
// received so that arguments round-trip byte-exactly (key order, number
// formatting); nothing in this package re-marshals it.
type Packet struct {
	Type PacketType

	// Namespace is "/" when the wire omits it. The decoder always sets it;
	// the encoder treats "" as "/".
	Namespace string

	// Query is the part of a V4 namespace after '?' (`40/admin?token=abc,`
	// gives Namespace "/admin", Query "token=abc"), without the '?'. v4
	// clients authenticate through it; parse it with net/url.ParseQuery.
	// Only a V4 Decoder fills it; in V5 a '?' is part of the namespace, as
	// in Node. The encoder writes it back when not empty.
	Query string

	// ID is the acknowledgement id; it is meaningful only when HasID is
	// true. A value plus a flag (rather than *uint64) keeps Packet
	// comparable field by field and avoids an allocation per packet.
	ID    uint64
	HasID bool

	// Data is the JSON payload exactly as received, nil when absent. For
	// binary types it contains {"_placeholder":true,"num":N} objects where
	// the attachments go.
	Data json.RawMessage

	// Attachments are the binary attachments of a BinaryEvent or BinaryAck,
	// in placeholder order: Attachments[N] replaces placeholder N. Their
	// number is the count written in the header.
	Attachments [][]byte
}

// Equal reports whether p and q encode to the same packet. A nil and an
// empty Data differ (absent versus present), as on the wire.
func (p *Packet) Equal(q *Packet) bool {
	if p.Type != q.Type || p.namespace() != q.namespace() || p.Query != q.Query ||
		p.HasID != q.HasID || (p.HasID && p.ID != q.ID) ||
		(p.Data == nil) != (q.Data == nil) || !bytes.Equal(p.Data, q.Data) ||
		len(p.Attachments) != len(q.Attachments) {
		return false
	}
	for i := range p.Attachments {
		if !bytes.Equal(p.Attachments[i], q.Attachments[i]) {
			return false
		}
	}
	return true
}

func (p *Packet) namespace() string {
	if p.Namespace == "" {
		return "/"
	}
	return p.Namespace
}

// IsReservedEvent reports whether name may not be used as an event name on
// the wire, in either direction. These are RESERVED_EVENTS of
// socket.io-parser 4.2.3+ (lib/index.ts): a client must not be able to fake
// the server's own lifecycle events (CVE-2023-32695 hardening). "error" is
// not in the list; the server layer must still never route a client event
// named "error" into its own error handling (CVE-2024-38355).
func IsReservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// isReservedBytes is IsReservedEvent without the string allocation.
func isReservedBytes(name []byte) bool {
	switch string(name) {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}
