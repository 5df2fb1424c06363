package socketio

import "errors"

// Decoding and validation errors. Every error this package returns wraps one
// of them (test with errors.Is); the wrapping adds the offending detail. Any
// of them means the peer sent a malformed packet and, per the protocol
// README, the whole connection must be closed.
var (
	// ErrUnknownType: the first byte is not a digit 0-6, or the message is
	// empty (Node reads an empty message as CONNECT; socketd refuses it).
	ErrUnknownType = errors.New("socketio: unknown packet type")

	// ErrInvalidAttachments: the attachment count of a binary packet is not
	// a decimal integer followed by '-' ("Illegal attachments" in Node).
	ErrInvalidAttachments = errors.New("socketio: illegal attachments")

	// ErrTooManyAttachments: the header announces more attachments than
	// MaxAttachments (CVE-2020-36049).
	ErrTooManyAttachments = errors.New("socketio: too many attachments")

	// ErrBufferLimit: the attachments of one packet exceed MaxBufferedBytes.
	ErrBufferLimit = errors.New("socketio: attachments exceed the buffer limit")

	// ErrUnexpectedBinary: a binary message arrived while no binary packet
	// was waiting for attachments.
	ErrUnexpectedBinary = errors.New("socketio: got binary data when not reconstructing a packet")

	// ErrUnexpectedText: a text message arrived while attachments were
	// still pending.
	ErrUnexpectedText = errors.New("socketio: got plaintext data when reconstructing a packet")

	// ErrInvalidNamespace: the namespace does not start with '/', or
	// contains ',' (which the encoding cannot carry).
	ErrInvalidNamespace = errors.New("socketio: invalid namespace")

	// ErrInvalidAckID: the ack id is not a decimal integer that fits in a
	// uint64, or an ACK packet has none.
	ErrInvalidAckID = errors.New("socketio: invalid ack id")

	// ErrInvalidJSON: the payload is not well-formed JSON.
	ErrInvalidJSON = errors.New("socketio: invalid JSON")

	// ErrTooDeep: the payload nests deeper than MaxDepth.
	ErrTooDeep = errors.New("socketio: JSON nested too deeply")

	// ErrInvalidPayload: well-formed JSON of the wrong shape for the packet
	// type (isPayloadValid in socket.io-parser).
	ErrInvalidPayload = errors.New("socketio: invalid payload")

	// ErrReservedEvent: an EVENT named after a reserved event (see
	// IsReservedEvent). Errors carrying it also match ErrInvalidPayload.
	ErrReservedEvent = errors.New("socketio: reserved event name")

	// ErrInvalidPlaceholder: a placeholder object whose num is missing, not
	// an integer, or not below the attachment count (CVE-2022-2421;
	// "illegal attachments" in Node).
	ErrInvalidPlaceholder = errors.New("socketio: illegal attachment placeholder")

	// ErrArgIndex: Args.Arg was asked for an argument that does not exist.
	ErrArgIndex = errors.New("socketio: argument index out of range")
)
