package engine

import (
	"encoding/binary"
	"sync"

	"github.com/socketd/socketd/protocol/engineio"
)

// Frame is one outbound Engine.IO packet, encoded once and then immutable, so the
// same Frame can be queued on any number of sessions of either revision and either
// transport. It carries the complete server-to-client WebSocket frame (header and
// payload; server frames are unmasked), so writing it to a WebSocket is one copy
// into the socket and no per-session encoding at all.
type Frame struct {
	pkt engineio.Packet
	// ws is the WebSocket frame for a text packet (both revisions), or for a binary
	// message in EIO=4. payload is its tail without the frame header: the text
	// packet "<type><data>" (or the binary data), which is also what polling needs.
	ws      []byte
	payload []byte

	// wsV3 is the EIO=3 WebSocket frame of a binary message (a 0x04 type byte
	// precedes the data there); built on first use.
	v3once sync.Once
	wsV3   []byte
}

// NewFrame encodes p once. The caller must not modify p.Data afterwards.
func NewFrame(p engineio.Packet) *Frame {
	f := &Frame{pkt: p}
	if p.Binary {
		p.Type = engineio.Message
		f.pkt = p
		f.ws = appendWSFrame(nil, opBinary, len(p.Data), nil, p.Data)
		f.payload = f.ws[len(f.ws)-len(p.Data):]
		return f
	}
	n := 1 + len(p.Data)
	f.ws = appendWSFrame(make([]byte, 0, wsHeaderLen(n)+n), opText, n, []byte{'0' + byte(p.Type)}, p.Data)
	f.payload = f.ws[len(f.ws)-n:]
	return f
}

// TextMessage is a message packet carrying text (for Socket.IO: an encoded packet).
func TextMessage(data []byte) *Frame {
	return NewFrame(engineio.Packet{Type: engineio.Message, Data: data})
}

// BinaryMessage is a message packet carrying binary data (a Socket.IO attachment).
func BinaryMessage(data []byte) *Frame {
	return NewFrame(engineio.Packet{Type: engineio.Message, Data: data, Binary: true})
}

// Packet returns the packet the frame encodes. Its Data must not be modified.
func (f *Frame) Packet() engineio.Packet { return f.pkt }

// size is what the frame costs in an outbound queue.
func (f *Frame) size() int { return len(f.payload) }

// wsFrame returns the complete WebSocket frame for revision rev.
func (f *Frame) wsFrame(rev engineio.Revision) []byte {
	if !f.pkt.Binary || rev == engineio.V4 {
		return f.ws
	}
	f.v3once.Do(func() {
		f.wsV3 = appendWSFrame(nil, opBinary, 1+len(f.pkt.Data), []byte{byte(engineio.Message)}, f.pkt.Data)
	})
	return f.wsV3
}

// wsMessage returns the frame's WebSocket message payload and whether it is binary,
// for connections whose frames are written by the WebSocket library.
func (f *Frame) wsMessage(rev engineio.Revision) ([]byte, bool) {
	if !f.pkt.Binary {
		return f.payload, false
	}
	if rev == engineio.V4 {
		return f.payload, true
	}
	full := f.wsFrame(rev)
	return full[len(full)-1-len(f.pkt.Data):], true
}

// RFC 6455 §5.2 opcodes.
const (
	opText   = 0x1
	opBinary = 0x2
)

func wsHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// appendWSFrame appends one unmasked, final, uncompressed frame whose payload is
// prefix followed by data (n = len(prefix)+len(data)).
func appendWSFrame(dst []byte, op byte, n int, prefix, data []byte) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, 0, 0)
		binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(n))
	}
	dst = append(dst, prefix...)
	return append(dst, data...)
}
