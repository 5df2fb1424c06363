package socketio

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendEncode appends the text header of p to dst and returns the result:
//
//	<type>[<attachments>-][<nsp>[?<query>],][<ack id>][<JSON>]
//
// (socket.io-protocol README, "Packet encoding"). The namespace is left out
// when it is "/" and there is no query; the attachment count is written for
// the binary types only. The attachments themselves are not part of the
// header: the caller sends p.Attachments after it, each as its own binary
// Engine.IO message, in order.
//
// AppendEncode does not validate p, so that a broadcast built once from
// trusted parts costs one append; use Encode or Packet.Validate for packets
// assembled from user input.
func AppendEncode(dst []byte, p *Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type.IsBinary() {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if (p.Namespace != "" && p.Namespace != "/") || p.Query != "" {
		dst = append(dst, p.namespace()...)
		if p.Query != "" {
			dst = append(dst, '?')
			dst = append(dst, p.Query...)
		}
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// Encode validates p and returns its text header and the attachments to
// send after it, mirroring Encoder.encode of socket.io-parser, which returns
// [header, ...buffers].
func Encode(p *Packet) (header []byte, attachments [][]byte, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	// type, count and '-', namespace and '?' and ',', ack id, payload
	size := 1 + 21 + len(p.Namespace) + len(p.Query) + 2 + 20 + len(p.Data)
	return AppendEncode(make([]byte, 0, size), p), p.Attachments, nil
}

// Validate reports whether p is a packet a Decoder would accept (with no
// depth limit), so that the server never sends what it would refuse:
// known type, namespace starting with '/' and free of ',', ack id on every
// ACK, payload of the right shape (see doc.go), placeholders that point at
// existing attachments, and attachments only on binary types.
func (p *Packet) Validate() error {
	if !p.Type.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownType, p.Type)
	}
	if ns := p.Namespace; ns != "" && (ns[0] != '/' || strings.IndexByte(ns, ',') >= 0) {
		return fmt.Errorf("%w: %q", ErrInvalidNamespace, ns)
	}
	if strings.IndexByte(p.Query, ',') >= 0 {
		return fmt.Errorf("%w: query %q contains ','", ErrInvalidNamespace, p.Query)
	}
	if p.Query != "" && strings.IndexByte(p.Namespace, '?') >= 0 {
		return fmt.Errorf("%w: namespace %q and a query", ErrInvalidNamespace, p.Namespace)
	}
	if (p.Type == Ack || p.Type == BinaryAck) && !p.HasID {
		return fmt.Errorf("%w: %s without id", ErrInvalidAckID, p.Type)
	}
	attachments := -1
	if p.Type.IsBinary() {
		attachments = len(p.Attachments)
	} else if len(p.Attachments) > 0 {
		return fmt.Errorf("%w: %s cannot carry attachments", ErrInvalidAttachments, p.Type)
	}
	return checkPayload(p.Type, p.Data, hardMaxDepth, attachments)
}

// NewConnectReply returns the packet that accepts a connection to namespace nsp.
//
// V5 replies {"sid":"<sid>"} with the socket id (distinct from the Engine.IO
// session id), plus "pid" when pid is not empty (connection state recovery).
// V4 replies with no payload (`40`, `40/admin,`); there the socket id is
// implied ("/admin#<engine sid>", or the engine sid for "/") and sid and
// pid are ignored.
func NewConnectReply(rev Revision, nsp, sid, pid string) Packet {
	p := Packet{Type: Connect, Namespace: nsp}
	if rev == V4 {
		return p
	}
	data := append(make([]byte, 0, 16+len(sid)+len(pid)), `{"sid":`...)
	data = AppendJSONString(data, sid)
	if pid != "" {
		data = append(data, `,"pid":`...)
		data = AppendJSONString(data, pid)
	}
	p.Data = append(data, '}')
	return p
}

// NewConnectError returns the packet that refuses a connection to nsp, in the
// form each revision's clients expect (Node: namespace.ts _doConnect).
//
// V5: {"message":<message>,"data":<data>}, "data" left out when data is nil.
//
// V4: Node sends err.data when it is truthy, else the message string. V4
// clients (socket.io-parser 3.x) only accept a string or an object there, so
// data is sent when it is a JSON object or a non-empty string and the
// message string otherwise: `44/admin,"Not authorized"`.
func NewConnectError(rev Revision, nsp, message string, data json.RawMessage) Packet {
	p := Packet{Type: ConnectError, Namespace: nsp}
	if rev == V4 {
		p.Data = AppendJSONString(nil, message)
		if s := newScanner(data, 0, -1); len(data) > 0 && s.whole() == nil {
			// Valid JSON: a string value has at least its two quotes.
			if i := s.skipSpace(0); data[i] == '{' || (data[i] == '"' && data[i+1] != '"') {
				p.Data = data
			}
		}
		return p
	}
	buf := append(make([]byte, 0, 32+len(message)+len(data)), `{"message":`...)
	buf = AppendJSONString(buf, message)
	if data != nil {
		buf = append(buf, `,"data":`...)
		buf = append(buf, data...)
	}
	p.Data = append(buf, '}')
	return p
}

// AppendJSONString appends s as a JSON string, escaped the way JavaScript's
// JSON.stringify escapes it (only '"', '\\' and control characters; "<",
// "&" and U+2028 are left alone), so that names and messages look the same
// as from a Node server. Invalid UTF-8 becomes U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
