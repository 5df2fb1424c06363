package engineio

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// PayloadFormat is the wire form of a polling body (a "payload": several
// packets in one HTTP body). The server picks it per response: revision 4
// always uses PayloadV4; revision 3 uses PayloadV3Binary when the client
// supports binary (no b64 query parameter) and the batch holds a binary
// packet, PayloadV3Text otherwise (engine.io-parser 2.x encodePayload). A
// request body's format follows from the revision and its Content-Type
// (application/octet-stream means PayloadV3Binary).
type PayloadFormat uint8

const (
	// PayloadV4 joins packets with the record separator 0x1e and writes a
	// binary message as "b" + standard base64 (engine.io-protocol README,
	// "HTTP long-polling"): "4hello\x1ebAQIDBA==".
	PayloadV4 PayloadFormat = iota

	// PayloadV3Text writes "<length>:<packet>" for each packet, the length
	// in UTF-16 code units (see UTF16Len), with no separator; a binary
	// message is "b4" + base64 and its length counts that text:
	// "2:4€10:b4AQIDBA==" (engine.io-protocol v3 README, "Payload").
	PayloadV3Text

	// PayloadV3Binary is the XHR2 form (engine.io-parser 2.x
	// encodePayloadAsBinary): per packet a marker byte (0 text, 1 binary),
	// the length as decimal digits written one byte per digit (values 0-9),
	// a 0xFF byte, then the packet. A text packet is "<type><data>" as
	// UTF-8 and, unlike PayloadV3Text, its length counts bytes (the parser
	// UTF-8-encodes the string before measuring it); a binary packet is the
	// type byte 0x04 followed by the data, the length including the type
	// byte. The README example is
	// 00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04 ("4€" and <01 02 03 04>).
	PayloadV3Binary
)

// String names the format for logs.
func (f PayloadFormat) String() string {
	switch f {
	case PayloadV4:
		return "v4"
	case PayloadV3Text:
		return "v3-text"
	case PayloadV3Binary:
		return "v3-binary"
	}
	return "PayloadFormat(" + strconv.Itoa(int(f)) + ")"
}

// payloadSeparator is the record separator of revision 4 payloads.
const payloadSeparator = 0x1e

// AppendPayload appends packets as one polling body of format f. An empty
// list gives what engine.io-parser gives for it: "0:" in PayloadV3Text and
// nothing in the other formats; a server never sends one (it answers a
// poll with nothing to say with a noop, or keeps it waiting).
//
// Revision 4 cannot carry text containing 0x1e (the README: "this assumes
// the record separator is not used in the data"); such data would split
// into two packets on the client, as it does with the Node server.
func AppendPayload(dst []byte, f PayloadFormat, packets []Packet) []byte {
	if len(packets) == 0 && f == PayloadV3Text {
		return append(dst, "0:"...)
	}
	for i, p := range packets {
		dst = AppendPayloadPacket(dst, f, p, i == 0)
	}
	return dst
}

// AppendPayloadPacket appends one packet of a payload of format f, with the
// separator or prefix the format needs; first says whether it is the first
// packet of the payload (revision 4 puts 0x1e only between packets). A
// payload is the concatenation of its packets, so a server can build one
// from packets encoded at different times.
func AppendPayloadPacket(dst []byte, f PayloadFormat, p Packet, first bool) []byte {
	switch f {
	case PayloadV3Text:
		n := 1 + UTF16Len(p.Data)
		if p.Binary {
			n = 2 + base64.StdEncoding.EncodedLen(len(p.Data))
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, ':')
		return AppendText(dst, V3, p)
	case PayloadV3Binary:
		marker, typ := byte(0), typeDigit(p.Type)
		if p.Binary {
			marker, typ = 1, byte(Message)
		}
		dst = append(dst, marker)
		digits := len(dst)
		dst = strconv.AppendInt(dst, int64(1+len(p.Data)), 10)
		for i := digits; i < len(dst); i++ {
			dst[i] -= '0'
		}
		dst = append(dst, 0xFF, typ)
		return append(dst, p.Data...)
	default:
		if !first {
			dst = append(dst, payloadSeparator)
		}
		return AppendText(dst, V4, p)
	}
}

// DecodePayload parses a whole polling body of format f. An empty body, an
// empty packet, an unknown type, a bad or overlong length prefix, a
// truncated packet and bad base64 are errors wrapping the matching
// sentinel; the first error rejects the whole body, as engine.io-parser
// does ("parser error - ignoring payload"). Data of text packets aliases
// body; base64 packets are decoded into new slices.
//
// Text is not checked for valid UTF-8, except in PayloadV3Binary, where
// the Node parser rejects a text packet that does not decode.
func DecodePayload(f PayloadFormat, body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrEmptyPacket)
	}
	switch f {
	case PayloadV3Text:
		return decodeV3Text(body)
	case PayloadV3Binary:
		return decodeV3Binary(body)
	case PayloadV4:
		return decodeV4(body)
	}
	return nil, fmt.Errorf("%w: unknown payload format %v", ErrBadPayload, f)
}

// decodeV4 splits body on 0x1e (engine.io-parser 5.x decodePayload).
func decodeV4(body []byte) ([]Packet, error) {
	packets := make([]Packet, 0, 1+bytes.Count(body, []byte{payloadSeparator}))
	for i := 0; ; i++ {
		end := bytes.IndexByte(body, payloadSeparator)
		chunk := body
		if end >= 0 {
			chunk = body[:end]
		}
		p, err := decodeText(V4, chunk)
		if err != nil {
			return nil, fmt.Errorf("%w (packet %d)", err, i)
		}
		packets = append(packets, p)
		if end < 0 {
			return packets, nil
		}
		body = body[end+1:]
	}
}

// decodeV3Text reads "<length>:<packet>" records (engine.io-parser 2.x
// decodePayload), walking the UTF-8 body while counting UTF-16 units.
func decodeV3Text(body []byte) ([]Packet, error) {
	var packets []Packet
	for i := 0; len(body) > 0; i++ {
		colon := bytes.IndexByte(body, ':')
		if colon < 0 {
			return nil, fmt.Errorf("%w: length prefix without ':' (packet %d)", ErrBadPayload, i)
		}
		n, err := parseLength(body[:colon], '0', len(body)-colon-1)
		if err != nil {
			return nil, fmt.Errorf("%w (packet %d)", err, i)
		}
		body = body[colon+1:]
		size, ok := utf16Prefix(body, n)
		if !ok {
			return nil, fmt.Errorf("%w: %d characters announced, body ends first (packet %d)", ErrBadPayload, n, i)
		}
		p, err := decodeText(V3, body[:size])
		if err != nil {
			return nil, fmt.Errorf("%w (packet %d)", err, i)
		}
		packets = append(packets, p)
		body = body[size:]
	}
	return packets, nil
}

// parseLength parses the decimal length prefix digits, whose digit values
// are zero ('0' for text, 0 for the XHR2 form) to zero+9; the length must
// be positive and at most limit (the bytes left in the body, an upper bound
// for both byte and UTF-16 unit lengths); the bound also keeps the
// arithmetic from overflowing. Leading zeros are accepted, as Number()
// accepts them in engine.io-parser.
func parseLength(digits []byte, zero byte, limit int) (int, error) {
	if len(digits) == 0 {
		return 0, fmt.Errorf("%w: empty length prefix", ErrBadPayload)
	}
	n := 0
	for _, c := range digits {
		d := c - zero // wraps for c < zero
		if d > 9 {
			return 0, fmt.Errorf("%w: length prefix %s is not decimal", ErrBadPayload, quoteShort(digits))
		}
		n = n*10 + int(d)
		if n > limit {
			return 0, fmt.Errorf("%w: length prefix %s exceeds the %d bytes left", ErrBadPayload, quoteShort(digits), limit)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: zero length prefix", ErrEmptyPacket)
	}
	return n, nil
}

// decodeV3Binary reads XHR2 records (engine.io-parser 2.x
// decodePayloadAsBinary).
func decodeV3Binary(body []byte) ([]Packet, error) {
	var packets []Packet
	for i := 0; len(body) > 0; i++ {
		marker := body[0]
		if marker > 1 {
			return nil, fmt.Errorf("%w: marker byte %#02x, want 0 (text) or 1 (binary) (packet %d)", ErrBadPayload, marker, i)
		}
		end := bytes.IndexByte(body, 0xFF)
		if end < 0 {
			return nil, fmt.Errorf("%w: length without 0xFF terminator (packet %d)", ErrBadPayload, i)
		}
		n, err := parseLength(body[1:end], 0, len(body)-end-1)
		if err != nil {
			return nil, fmt.Errorf("%w (packet %d)", err, i)
		}
		pkt := body[end+1 : end+1+n]
		body = body[end+1+n:]
		if marker == 1 {
			if pkt[0] != byte(Message) {
				return nil, fmt.Errorf("%w: binary type byte %#02x (packet %d)", ErrUnknownType, pkt[0], i)
			}
			packets = append(packets, Packet{Type: Message, Data: pkt[1:], Binary: true})
			continue
		}
		if !utf8.Valid(pkt) {
			return nil, fmt.Errorf("%w: text is not valid UTF-8 (packet %d)", ErrBadPayload, i)
		}
		p, err := decodeText(V3, pkt)
		if err != nil {
			return nil, fmt.Errorf("%w (packet %d)", err, i)
		}
		packets = append(packets, p)
	}
	return packets, nil
}

// quoteShort quotes b for an error message, cut to a few bytes so that a
// hostile body cannot blow up logs.
func quoteShort(b []byte) string {
	const max = 16
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
