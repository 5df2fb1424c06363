package engine

import (
	"errors"
	"strconv"
)

// Sentinel errors returned by Session methods.
var (
	// ErrClosed is returned when sending on a session that has closed.
	ErrClosed = errors.New("engine: session closed")
	// ErrSlowConsumer is returned when a send would pass the session's outbound byte limit;
	// the session is closed with ReasonSlowConsumer.
	ErrSlowConsumer = errors.New("engine: outbound queue full (slow consumer)")
)

// HandshakeError is an Engine.IO request error, answered with HTTP 400 and the JSON
// body {"code":N,"message":"..."} exactly as the Node server does (engine.io
// lib/server.ts, Server.errors). Codes 0-5 are protocol; clients read them.
type HandshakeError struct {
	Code    int
	Message string
}

func (e *HandshakeError) Error() string {
	return "engine: " + e.Message + " (code " + strconv.Itoa(e.Code) + ")"
}

// The handshake error table of engine.io's server.ts.
var (
	errUnknownTransport   = &HandshakeError{0, "Transport unknown"}
	errUnknownSID         = &HandshakeError{1, "Session ID unknown"}
	errBadHandshakeMethod = &HandshakeError{2, "Bad handshake method"}
	errBadRequest         = &HandshakeError{3, "Bad request"}
	errForbidden          = &HandshakeError{4, "Forbidden"}
	errUnsupportedVersion = &HandshakeError{5, "Unsupported protocol version"}
)

// CloseReason says why a session ended. Every close carries one; it is logged,
// counted in Stats and handed to Handler.OnClose.
type CloseReason uint8

// Close reasons. The strings match the reasons engine.io gives where it has one.
const (
	// ReasonTransportClose: the client closed the connection or stopped polling.
	ReasonTransportClose CloseReason = iota + 1
	// ReasonTransportError: a read or write on the transport failed.
	ReasonTransportError
	// ReasonClientClose: the client sent a close packet.
	ReasonClientClose
	// ReasonPingTimeout: no heartbeat within pingInterval+pingTimeout.
	ReasonPingTimeout
	// ReasonParseError: the client sent a packet or payload that does not decode.
	ReasonParseError
	// ReasonPayloadTooLarge: a POST body or WebSocket message exceeded MaxHTTPBufferSize.
	ReasonPayloadTooLarge
	// ReasonSlowConsumer: the outbound queue passed MaxQueueBytes.
	ReasonSlowConsumer
	// ReasonDuplicatePoll: a second GET arrived while one was held.
	ReasonDuplicatePoll
	// ReasonProtocolError: a packet that is valid but not allowed here
	// (wrong heartbeat direction, upgrade packet outside an upgrade).
	ReasonProtocolError
	// ReasonServerClose: the application closed the session.
	ReasonServerClose
	// ReasonServerShutdown: the server is shutting down.
	ReasonServerShutdown
	// ReasonHandshakeTimeout: the client did not complete its handshake in
	// time: no Socket.IO CONNECT within socketio.Config.ConnectTimeout, or
	// what the application waits for (the Drupal bridge: authenticate).
	ReasonHandshakeTimeout
	// ReasonMessageRate: the client sent messages faster than it may
	// (socketio.Config.MessageRate).
	ReasonMessageRate
	numReasons
)

var reasonNames = [numReasons]string{
	"",
	"transport close",
	"transport error",
	"client close",
	"ping timeout",
	"parse error",
	"payload too large",
	"slow consumer",
	"duplicate poll",
	"protocol error",
	"server close",
	"server shutting down",
	"handshake timeout",
	"message rate exceeded",
}

func (r CloseReason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return "CloseReason(" + strconv.Itoa(int(r)) + ")"
}
