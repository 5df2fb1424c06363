package socketio

import (
	"encoding/json"
	"fmt"
	"strings"
)

// checkPayload applies the per-type payload rules of socket.io-parser
// (Decoder.isPayloadValid in 4.2.4) plus the placeholder and depth checks.
// attachments is the announced attachment count for binary types and -1
// otherwise: placeholders only mean something in binary packets (Node
// reconstructs nothing else), so elsewhere they are plain objects.
//
// The rules, identical for V4 and V5 except where noted in doc.go:
//
//	CONNECT        absent or an object
//	DISCONNECT     absent
//	EVENT          a non-empty array whose first element is a string that
//	BINARY_EVENT   is not reserved, or a number
//	ACK            an array, possibly empty
//	BINARY_ACK
//	CONNECT_ERROR  absent, an object or a string
func checkPayload(t PacketType, data []byte, maxDepth, attachments int) error {
	if data == nil {
		switch t {
		case Event, BinaryEvent, Ack, BinaryAck:
			return fmt.Errorf("%w: %s without payload", ErrInvalidPayload, t)
		}
		return nil
	}
	s := newScanner(data, maxDepth, attachments)
	i := s.skipSpace(0)
	if i == len(data) {
		return fmt.Errorf("%w: empty payload", ErrInvalidJSON)
	}
	var ok bool
	switch c := data[i]; t {
	case Connect:
		ok = c == '{'
	case ConnectError:
		ok = c == '{' || c == '"'
	case Event, BinaryEvent, Ack, BinaryAck:
		ok = c == '['
	}
	if !ok {
		return fmt.Errorf("%w: %s payload %s", ErrInvalidPayload, t, describe(data[i]))
	}
	end, err := s.value(i, 0)
	if err != nil {
		return err
	}
	if end = s.skipSpace(end); end != len(data) {
		return s.syntaxError(end, "trailing data after payload")
	}
	if t == Event || t == BinaryEvent {
		return checkEventName(data[s.firstStart:s.firstEnd])
	}
	return nil
}

// checkEventName checks the first element of an EVENT payload. Numbers are
// accepted because socket.io-parser accepts them (Node turns them into the
// listener key String(n)); socketd uses their literal text as the name.
func checkEventName(first []byte) error {
	switch {
	case len(first) == 0:
		return fmt.Errorf("%w: EVENT payload is an empty array", ErrInvalidPayload)
	case first[0] == '"':
		if reservedName(first) {
			return reservedError(clip(first))
		}
		return nil
	case first[0] == '-' || isDigit(first[0]):
		return nil
	}
	return fmt.Errorf("%w: event name %s", ErrInvalidPayload, describe(first[0]))
}

// reservedError is an EVENT named after a reserved event; it matches both
// ErrInvalidPayload and ErrReservedEvent.
type reservedError string

func (e reservedError) Error() string {
	return "socketio: invalid payload: reserved event name " + string(e)
}

func (e reservedError) Unwrap() []error { return []error{ErrInvalidPayload, ErrReservedEvent} }

// clip shortens peer-controlled bytes quoted in error messages, so a
// megabyte of garbage does not end up in a log line.
func clip(b []byte) string {
	const limit = 32
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// reservedName reports whether the quoted JSON string names a reserved
// event, decoding escapes first ("con\u006eect" is "connect").
func reservedName(quoted []byte) bool {
	inner := quoted[1 : len(quoted)-1]
	if !strings.Contains(string(inner), `\`) {
		return isReservedBytes(inner)
	}
	var name string
	return json.Unmarshal(quoted, &name) == nil && IsReservedEvent(name)
}

// describe names the JSON kind that starts with c, for error messages.
func describe(c byte) string {
	switch {
	case c == '{':
		return "is an object"
	case c == '[':
		return "is an array"
	case c == '"':
		return "is a string"
	case c == 't' || c == 'f':
		return "is a boolean"
	case c == 'n':
		return "is null"
	case c == '-' || isDigit(c):
		return "is a number"
	}
	return fmt.Sprintf("starts with %q", c)
}
