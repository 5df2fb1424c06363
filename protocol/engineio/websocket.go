package engineio

import (
	"encoding/base64"
	"fmt"
)

// AppendWebSocket appends the WebSocket message payload of p (one packet
// per frame, engine.io-protocol README "WebSocket") and reports whether it
// must go out as a binary frame. Text packets are "<type><data>" in a text
// frame. A binary message is a binary frame: in revision 4 the raw data
// ("sent as is"), in revision 3 a 0x04 type byte followed by the data
// (engine.io-parser 2.x encodeBuffer).
func AppendWebSocket(dst []byte, rev Revision, p Packet) (out []byte, binaryFrame bool) {
	if !p.Binary {
		dst = append(dst, typeDigit(p.Type))
		return append(dst, p.Data...), false
	}
	if rev == V3 {
		dst = append(dst, byte(Message))
	}
	return append(dst, p.Data...), true
}

// AppendText appends p as a text packet: "<type><data>", or for a binary
// message the base64 form a client without binary support expects ("b" +
// base64 in revision 4, "b4" + base64 in revision 3). engine.io sends this
// form over WebSocket to clients that connected with b64=1 (or the client
// option forceBase64), and it is the element of the text polling payloads.
func AppendText(dst []byte, rev Revision, p Packet) []byte {
	if !p.Binary {
		dst = append(dst, typeDigit(p.Type))
		return append(dst, p.Data...)
	}
	dst = append(dst, 'b')
	if rev == V3 {
		dst = append(dst, typeDigit(Message))
	}
	return base64.StdEncoding.AppendEncode(dst, p.Data)
}

// DecodeWebSocket parses one WebSocket message. p.Data aliases frame (no
// copy) except for a base64 text packet, whose bytes are decoded into a new
// slice.
//
// A text frame is "<type><data>", or a base64 binary message ("b<base64>"
// in revision 4, "b4<base64>" in revision 3): engine.io-parser decodes
// every text frame that starts with 'b' that way, and clients using
// forceBase64 send them. A revision 3 binary frame must start with the
// type byte 0x04 (message); a revision 4 binary frame is a binary message
// as is, and may be empty (a zero-length attachment).
func DecodeWebSocket(rev Revision, frame []byte, binaryFrame bool) (Packet, error) {
	if binaryFrame {
		if rev != V3 {
			return Packet{Type: Message, Data: frame, Binary: true}, nil
		}
		if len(frame) == 0 {
			return Packet{}, fmt.Errorf("%w: empty binary frame", ErrEmptyPacket)
		}
		if frame[0] != byte(Message) {
			return Packet{}, fmt.Errorf("%w: binary frame type byte %#02x", ErrUnknownType, frame[0])
		}
		return Packet{Type: Message, Data: frame[1:], Binary: true}, nil
	}
	return decodeText(rev, frame)
}

// decodeText parses one text packet: "<type><data>" or a base64 binary
// message, in the form of revision rev.
func decodeText(rev Revision, b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	if b[0] == 'b' {
		return decodeBase64Packet(rev, b[1:])
	}
	t, ok := parseTypeDigit(b[0])
	if !ok {
		return Packet{}, fmt.Errorf("%w: %q", ErrUnknownType, b[0])
	}
	return Packet{Type: t, Data: b[1:]}, nil
}

// decodeBase64Packet decodes the text after the 'b' of a base64 binary
// message. Revision 3 repeats the type digit there (engine.io-parser 2.x
// encodeBase64Packet writes "b" + type); only message is meaningful.
func decodeBase64Packet(rev Revision, b []byte) (Packet, error) {
	if rev == V3 {
		if len(b) == 0 {
			return Packet{}, fmt.Errorf("%w: \"b\" without a type", ErrUnknownType)
		}
		if b[0] != typeDigit(Message) {
			return Packet{}, fmt.Errorf("%w: base64 packet of type %q", ErrUnknownType, b[0])
		}
		b = b[1:]
	}
	data := make([]byte, 0, base64.StdEncoding.DecodedLen(len(b)))
	data, err := base64.StdEncoding.AppendDecode(data, b)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: %v", ErrBadBase64, err)
	}
	return Packet{Type: Message, Data: data, Binary: true}, nil
}
