package socketio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Defaults applied when a DecoderConfig field is zero.
const (
	// DefaultMaxAttachments is socket.io-parser's maxAttachments default.
	DefaultMaxAttachments = 10
	// DefaultMaxDepth bounds JSON nesting. Real payloads stay far below it;
	// it keeps a hostile payload from costing deep recursion per message.
	DefaultMaxDepth = 64
)

// DecoderConfig configures a Decoder. Its zero value decodes V5 with the
// Node defaults.
type DecoderConfig struct {
	// Revision selects the protocol revision. Zero means V5. It changes one
	// thing in decoding: in V4 the namespace is split at its first '?' into
	// Packet.Namespace and Packet.Query (v4 clients send `40/admin?token=x,`;
	// Node 4.x parses every EIO=3 namespace as a URL, Node 2.x the CONNECT
	// ones, and clients only put a query on CONNECT).
	Revision Revision

	// MaxAttachments is the largest attachment count a binary packet may
	// announce. Zero means DefaultMaxAttachments (10). A header announcing
	// more fails with ErrTooManyAttachments before anything is buffered.
	MaxAttachments int

	// MaxBufferedBytes caps the total size of the attachments buffered for
	// one packet. Zero means no limit beyond the Engine.IO message size
	// limit (maxHttpBufferSize), which bounds each attachment; with
	// MaxAttachments that bounds the total anyway.
	MaxBufferedBytes int

	// MaxDepth is the deepest JSON nesting accepted in a payload, counting
	// the payload's own array or object as one level. Zero means
	// DefaultMaxDepth (64); the hard ceiling is 10000, as in encoding/json.
	MaxDepth int
}

// Validate reports whether c is usable, so that a server can reject a bad
// configuration once at start-up rather than per connection.
func (c DecoderConfig) Validate() error {
	switch {
	case c.Revision != 0 && c.Revision != V4 && c.Revision != V5:
		return fmt.Errorf("socketio: unknown revision %d", c.Revision)
	case c.MaxAttachments < 0:
		return errors.New("socketio: negative MaxAttachments")
	case c.MaxBufferedBytes < 0:
		return errors.New("socketio: negative MaxBufferedBytes")
	case c.MaxDepth < 0 || c.MaxDepth > hardMaxDepth:
		return fmt.Errorf("socketio: MaxDepth outside [0, %d]", hardMaxDepth)
	}
	return nil
}

// Decoder turns the Engine.IO messages of one connection into packets. It is
// a small state machine (BinaryReconstructor in socket.io-parser): a
// BINARY_EVENT or BINARY_ACK header announcing N attachments makes it wait
// for N binary messages before the packet is complete.
//
// Feed text messages to Add and binary messages to AddBinary, in arrival
// order. Each returns ok == true with a complete packet, ok == false while
// attachments are pending, or an error. After an error the Decoder is reset
// (it can be reused), but the protocol says to close the connection.
//
// The Decoder keeps the slices it is given: Packet.Data aliases the text
// passed to Add and Packet.Attachments are the slices passed to AddBinary.
// The caller hands them over and must not modify them afterwards. This
// avoids copying attachments of up to maxHttpBufferSize each.
//
// The zero value is ready to use with the defaults. A Decoder is not safe
// for concurrent use; one connection has one reader.
type Decoder struct {
	cfg      DecoderConfig
	pending  Packet // the binary packet waiting for attachments
	want     int    // attachment count announced by pending
	buffered int    // bytes of attachments received for pending
}

// NewDecoder returns a Decoder using cfg. It panics if cfg.Validate fails:
// configurations are checked once at start-up, so a bad one here is a
// programming error.
func NewDecoder(cfg DecoderConfig) *Decoder {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Decoder{cfg: cfg}
}

// Pending reports whether a binary packet is waiting for attachments.
func (d *Decoder) Pending() bool { return d.want > 0 }

// Buffered is the number of attachment bytes held for the pending packet.
func (d *Decoder) Buffered() int { return d.buffered }

// Reset drops a partially received binary packet.
func (d *Decoder) Reset() {
	d.pending = Packet{}
	d.want = 0
	d.buffered = 0
}

func (d *Decoder) maxAttachments() int {
	if d.cfg.MaxAttachments == 0 {
		return DefaultMaxAttachments
	}
	return d.cfg.MaxAttachments
}

func (d *Decoder) maxDepth() int {
	if d.cfg.MaxDepth == 0 {
		return DefaultMaxDepth
	}
	return d.cfg.MaxDepth
}

// Add decodes one text message (the Engine.IO message data, without its "4"
// type prefix). It returns ok == false with no error when the packet is
// binary and its attachments are still to come.
func (d *Decoder) Add(text []byte) (p Packet, ok bool, err error) {
	if d.Pending() {
		d.Reset()
		return Packet{}, false, ErrUnexpectedText
	}
	p, attachments, err := d.parse(text)
	if err != nil {
		return Packet{}, false, err
	}
	if attachments > 0 {
		p.Attachments = make([][]byte, 0, attachments)
		d.pending, d.want, d.buffered = p, attachments, 0
		return Packet{}, false, nil
	}
	return p, true, nil
}

// AddBinary adds one binary message as the next attachment of the pending
// packet and returns the packet once its last attachment arrived.
func (d *Decoder) AddBinary(b []byte) (p Packet, ok bool, err error) {
	if !d.Pending() {
		return Packet{}, false, ErrUnexpectedBinary
	}
	d.buffered += len(b)
	if limit := d.cfg.MaxBufferedBytes; limit > 0 && d.buffered > limit {
		d.Reset()
		return Packet{}, false, fmt.Errorf("%w: more than %d bytes", ErrBufferLimit, limit)
	}
	d.pending.Attachments = append(d.pending.Attachments, b)
	if len(d.pending.Attachments) < d.want {
		return Packet{}, false, nil
	}
	p = d.pending
	d.Reset()
	return p, true, nil
}

// parse decodes a header and payload and returns the packet and, for binary
// types, the announced attachment count. It follows Decoder.decodeString of
// socket.io-parser, stricter where Node's loose Number() parsing accepts
// garbage (see doc.go).
func (d *Decoder) parse(text []byte) (p Packet, attachments int, err error) {
	if len(text) == 0 {
		return p, 0, fmt.Errorf("%w: empty message", ErrUnknownType)
	}
	if c := text[0]; c < '0' || c > '0'+byte(BinaryAck) {
		return p, 0, fmt.Errorf("%w: %q", ErrUnknownType, c)
	}
	p.Type = PacketType(text[0] - '0')
	i := 1

	if p.Type.IsBinary() {
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		if j == i || j == len(text) || text[j] != '-' {
			return p, 0, fmt.Errorf("%w: attachment count must be digits followed by '-'", ErrInvalidAttachments)
		}
		limit := d.maxAttachments()
		for _, c := range text[i:j] {
			attachments = attachments*10 + int(c-'0')
			if attachments > limit {
				return p, 0, fmt.Errorf("%w: more than %d", ErrTooManyAttachments, limit)
			}
		}
		i = j + 1
	}

	p.Namespace = "/"
	hasNamespace := i < len(text) && text[i] == '/'
	if hasNamespace {
		end, next := len(text), len(text)
		if k := bytes.IndexByte(text[i:], ','); k >= 0 {
			end, next = i+k, i+k+1
		}
		ns := text[i:end]
		if d.cfg.Revision == V4 {
			if q := bytes.IndexByte(ns, '?'); q >= 0 {
				p.Query = string(ns[q+1:])
				ns = ns[:q]
			}
		}
		if len(ns) > 1 { // "/" keeps the constant and does not allocate
			p.Namespace = string(ns)
		}
		i = next
	}

	if j := i; j < len(text) && isDigit(text[j]) {
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		id, ok := parseUint64(text[i:j])
		if !ok {
			return p, 0, fmt.Errorf("%w: %s overflows uint64", ErrInvalidAckID, clip(text[i:j]))
		}
		p.ID, p.HasID = id, true
		i = j
	}
	if (p.Type == Ack || p.Type == BinaryAck) && !p.HasID {
		return p, 0, fmt.Errorf("%w: %s without id", ErrInvalidAckID, p.Type)
	}

	if i < len(text) {
		if c := text[i]; c != '[' && c != '{' && c != '"' {
			return p, 0, junkError(text[i:], hasNamespace, p.HasID)
		}
		p.Data = text[i:len(text):len(text)]
	}
	if !p.Type.IsBinary() {
		attachments = -1
	}
	if err := checkPayload(p.Type, p.Data, d.maxDepth(), attachments); err != nil {
		return p, 0, err
	}
	return p, max(attachments, 0), nil
}

// junkError classifies text that sits where the namespace, ack id or payload
// should start but is none of them, so logs say what the client got wrong:
// `2admin,[...]` (namespace without '/'), `2abc[...]` or `212.5[...]` (bad
// ack id), `2true` (a payload no packet type allows).
func junkError(rest []byte, hasNamespace, hasID bool) error {
	payloadAt := bytes.IndexAny(rest, `[{"`)
	head := rest
	if payloadAt >= 0 {
		head = rest[:payloadAt]
	}
	switch {
	case !hasNamespace && !hasID && bytes.IndexByte(head, ',') >= 0:
		return fmt.Errorf("%w: %q does not start with '/'", ErrInvalidNamespace, clip(head))
	case hasID || payloadAt > 0:
		return fmt.Errorf("%w: unexpected %q", ErrInvalidAckID, clip(head))
	}
	return fmt.Errorf("%w: payload %s", ErrInvalidPayload, describe(rest[0]))
}

// parseUint64 parses decimal digits, reporting overflow.
func parseUint64(digits []byte) (uint64, bool) {
	var n uint64
	for _, c := range digits {
		if n > (math.MaxUint64-9)/10 && (n > math.MaxUint64/10 || uint64(c-'0') > math.MaxUint64-n*10) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
