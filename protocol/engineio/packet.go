package engineio

import (
	"errors"
	"strconv"
)

// PacketType is the Engine.IO packet type: the ASCII digit that starts a
// text packet, or the first byte of a revision 3 binary packet.
type PacketType uint8

// The packet types of the engine.io-protocol README ("Protocol" section);
// they are the same in revisions 3 and 4.
const (
	Open    PacketType = iota // server to client, carries the handshake JSON
	Close                     // either side: close the session
	Ping                      // heartbeat (revision 4: from the server; 3: from the client), and "2probe"
	Pong                      // heartbeat reply, and "3probe"
	Message                   // application data, text or binary
	Upgrade                   // client: the probed transport takes over
	Noop                      // server: releases a held polling GET during an upgrade
)

// String returns the name engine.io-parser uses for the type ("open",
// "message", ...), so logs read like the Node reference.
func (t PacketType) String() string {
	switch t {
	case Open:
		return "open"
	case Close:
		return "close"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	case Message:
		return "message"
	case Upgrade:
		return "upgrade"
	case Noop:
		return "noop"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven packet types.
func (t PacketType) Valid() bool { return t <= Noop }

// Revision is the Engine.IO protocol revision a client speaks, from the EIO
// query parameter.
type Revision uint8

// The two revisions still in use. Revisions 1 and 2 belonged to pre-1.0
// engine.io, which no socket.io release shipped.
const (
	V3 Revision = 3 // socket.io-client 1.x/2.x
	V4 Revision = 4 // socket.io-client 3.x/4.x
)

// ParseRevision parses the EIO query value. Only "3" and "4" are accepted:
// engine.io maps anything but "4" to 3, but a missing or odd value is a
// broken client, answered with "Unsupported protocol version".
func ParseRevision(s string) (Revision, bool) {
	switch s {
	case "3":
		return V3, true
	case "4":
		return V4, true
	}
	return 0, false
}

// String returns the EIO query value of r ("3", "4").
func (r Revision) String() string { return strconv.Itoa(int(r)) }

// Packet is one Engine.IO packet. Data is the payload after the type digit;
// for a binary message (Binary true, Type Message) it holds the raw bytes.
// Binary implies Message: encoders ignore Type when Binary is set, because
// the protocol has no binary packet of any other type.
//
// Decoders make Data alias their input wherever the wire carries the bytes
// verbatim, so a Packet is only valid as long as the decoded buffer is.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// Errors returned (wrapped, with detail) by the decoders.
var (
	// ErrEmptyPacket: a packet, frame or body with no bytes at all, so not
	// even a type.
	ErrEmptyPacket = errors.New("engineio: empty packet")

	// ErrUnknownType: the type digit is not 0-6, or a binary packet's type
	// byte is not message.
	ErrUnknownType = errors.New("engineio: unknown packet type")

	// ErrBadPayload: a polling payload whose framing is broken: a length
	// prefix that is not decimal digits, too large, unterminated, or that
	// runs past the end of the body.
	ErrBadPayload = errors.New("engineio: malformed payload")

	// ErrBadBase64: a "b" packet whose payload is not padded standard
	// base64.
	ErrBadBase64 = errors.New("engineio: invalid base64")

	// ErrBadJSONP: a JSONP POST body without exactly one d field.
	ErrBadJSONP = errors.New("engineio: malformed JSONP body")
)

// typeDigit returns the ASCII digit of t.
func typeDigit(t PacketType) byte { return '0' + byte(t) }

// parseTypeDigit returns the packet type of the ASCII digit c.
func parseTypeDigit(c byte) (PacketType, bool) {
	t := PacketType(c - '0') // wraps for c < '0', so Valid catches it
	return t, t.Valid()
}
