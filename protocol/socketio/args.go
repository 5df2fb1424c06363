package socketio

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// AppendPlaceholder appends the attachment placeholder for attachment n,
// byte for byte as socket.io-parser writes it: {"_placeholder":true,"num":n}.
// Clients and the conformance suite compare it textually.
func AppendPlaceholder(dst []byte, n int) []byte {
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '}')
}

// Placeholder returns the placeholder object for attachment n.
func Placeholder(n int) json.RawMessage { return AppendPlaceholder(nil, n) }

// AppendEventData appends the EVENT payload ["name",arg1,...] to dst. The
// arguments are copied as they are, so they must be valid JSON; an empty
// argument is written as null (what JSON.stringify does with undefined in
// an array). The name is escaped as JSON.stringify would.
func AppendEventData(dst []byte, name string, args ...json.RawMessage) []byte {
	dst = append(dst, '[')
	dst = AppendJSONString(dst, name)
	for _, a := range args {
		dst = append(dst, ',')
		dst = appendArg(dst, a)
	}
	return append(dst, ']')
}

// AppendArrayData appends the ACK payload [arg1,...] to dst, with the same
// rules as AppendEventData.
func AppendArrayData(dst []byte, args ...json.RawMessage) []byte {
	dst = append(dst, '[')
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendArg(dst, a)
	}
	return append(dst, ']')
}

func appendArg(dst []byte, a json.RawMessage) []byte {
	if len(a) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, a...)
}

// SplitEvent splits an EVENT payload into the event name and the raw
// arguments, without unmarshalling the arguments: each one is a subslice of
// data, byte-exact. It checks that data is well-formed JSON, that it is an
// array, and that its first element is a string (unescaped into name) or a
// number (its literal text becomes the name, e.g. "1"). It does not refuse
// reserved names: the Decoder already did for received packets.
func SplitEvent(data json.RawMessage) (name string, args []json.RawMessage, err error) {
	elems, err := SplitArray(data)
	if err != nil {
		return "", nil, err
	}
	if len(elems) == 0 {
		return "", nil, fmt.Errorf("%w: EVENT payload is an empty array", ErrInvalidPayload)
	}
	first := elems[0]
	switch {
	case first[0] == '"':
		if !strings.Contains(string(first), `\`) {
			name = string(first[1 : len(first)-1])
		} else if err := json.Unmarshal(first, &name); err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrInvalidJSON, err)
		}
	case first[0] == '-' || isDigit(first[0]):
		name = string(first)
	default:
		return "", nil, fmt.Errorf("%w: event name %s", ErrInvalidPayload, describe(first[0]))
	}
	return name, elems[1:], nil
}

// SplitArray splits a JSON array into its raw elements (subslices of data,
// whitespace around them trimmed), checking that data is well-formed JSON.
// An empty array gives an empty, non-nil slice.
func SplitArray(data json.RawMessage) ([]json.RawMessage, error) {
	s := newScanner(data, 0, -1)
	i := s.skipSpace(0)
	if i == len(data) {
		return nil, fmt.Errorf("%w: empty payload", ErrInvalidJSON)
	}
	if data[i] != '[' {
		return nil, fmt.Errorf("%w: payload %s, want an array", ErrInvalidPayload, describe(data[i]))
	}
	elems := make([]json.RawMessage, 0, 4)
	end, err := s.array(i, 1, &elems)
	if err != nil {
		return nil, err
	}
	if end = s.skipSpace(end); end != len(data) {
		return nil, s.syntaxError(end, "trailing data after array")
	}
	return elems, nil
}

// Args is an argument list together with the binary attachments its
// placeholders refer to. Received packets yield it through Packet.Event and
// Packet.AckArgs; to send, build one with AddJSON, AddBinary and Attach and
// pass it to NewEvent or NewAck.
type Args struct {
	// Values are the arguments as raw JSON. In binary packets they contain
	// placeholders {"_placeholder":true,"num":N}, at any depth.
	Values []json.RawMessage
	// Attachments are what placeholder N stands for: Attachments[N]. Empty
	// for non-binary packets, whose placeholder-shaped objects are plain
	// data (Node does not reconstruct them either).
	Attachments [][]byte
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.Values) }

// AddJSON appends a JSON argument. raw must be valid JSON; nil means null.
func (a *Args) AddJSON(raw json.RawMessage) { a.Values = append(a.Values, raw) }

// AddBinary appends a binary argument: its placeholder goes into Values, b
// into Attachments. The client receives it as a Buffer/ArrayBuffer.
func (a *Args) AddBinary(b []byte) { a.Values = append(a.Values, a.Attach(b)) }

// Attach adds b to the attachments and returns its placeholder, to be put
// anywhere inside a JSON argument built by the caller (binary nested in an
// object, as socket.io-parser allows).
func (a *Args) Attach(b []byte) json.RawMessage {
	a.Attachments = append(a.Attachments, b)
	return Placeholder(len(a.Attachments) - 1)
}

// Binary returns the attachment when argument i is exactly one placeholder,
// the common case of a Buffer passed as an argument. The slice is shared
// with the packet, not copied.
func (a Args) Binary(i int) ([]byte, bool) {
	if i < 0 || i >= len(a.Values) || len(a.Attachments) == 0 {
		return nil, false
	}
	raw := a.Values[i]
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	s := newScanner(raw, 0, len(a.Attachments))
	s.record = true
	if s.whole() != nil || len(s.spans) == 0 {
		return nil, false
	}
	spans := outermostSpans(s.spans)
	if len(spans) != 1 || spans[0].start != 0 || spans[0].end != len(raw) {
		return nil, false
	}
	return a.Attachments[spans[0].num], true
}

// Arg decodes argument i into v with encoding/json, after replacing every
// placeholder with its attachment. An attachment reaches v as a base64 JSON
// string, which is what encoding/json expects for []byte: a []byte field or
// a *[]byte target receives the bytes, wherever the placeholder sits. (An
// `any` target receives the base64 string.) When v is a *[]byte and the
// argument is a lone placeholder, the attachment is assigned without
// copying.
//
// A placeholder whose num has no attachment yields ErrInvalidPlaceholder
// (the Decoder already refuses those), and so do placeholders that together
// would expand more bytes than the attachments hold, which only a packet
// referencing one attachment many times can do.
func (a Args) Arg(i int, v any) error {
	if i < 0 || i >= len(a.Values) {
		return fmt.Errorf("%w: %d of %d", ErrArgIndex, i, len(a.Values))
	}
	raw := a.Values[i]
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	if len(a.Attachments) == 0 {
		return json.Unmarshal(raw, v)
	}
	if dst, ok := v.(*[]byte); ok {
		if b, ok := a.Binary(i); ok {
			*dst = b
			return nil
		}
	}
	s := newScanner(raw, 0, len(a.Attachments))
	s.record = true
	if err := s.whole(); err != nil {
		return err
	}
	if len(s.spans) == 0 {
		return json.Unmarshal(raw, v)
	}
	out, err := substitute(raw, outermostSpans(s.spans), a.Attachments)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, v)
}

// substitute returns raw with each span replaced by its attachment as a
// base64 JSON string.
//
// It refuses to expand more attachment bytes than there are: a hostile
// packet may reference one large attachment thousands of times (Node shares
// one Buffer, a copy here would multiply memory). Legitimate clients never
// reference an attachment twice; their encoder extracts each binary value
// into its own attachment.
func substitute(raw []byte, spans []placeholderSpan, attachments [][]byte) ([]byte, error) {
	total := 0
	for _, b := range attachments {
		total += len(b)
	}
	size, expanded := len(raw), 0
	for _, sp := range spans {
		expanded += len(attachments[sp.num])
		size += base64.StdEncoding.EncodedLen(len(attachments[sp.num])) + 2
	}
	if expanded > total {
		return nil, fmt.Errorf("%w: %d placeholders expand to %d bytes, more than the %d attachment bytes",
			ErrInvalidPlaceholder, len(spans), expanded, total)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, sp := range spans {
		out = append(out, raw[prev:sp.start]...)
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, attachments[sp.num])
		out = append(out, '"')
		prev = sp.end
	}
	return append(out, raw[prev:]...), nil
}

// Event splits an EVENT or BINARY_EVENT packet into its name and arguments.
// The attachments come along for binary packets only.
func (p *Packet) Event() (name string, args Args, err error) {
	if p.Type != Event && p.Type != BinaryEvent {
		return "", Args{}, fmt.Errorf("%w: %s is not an event", ErrInvalidPayload, p.Type)
	}
	name, args.Values, err = SplitEvent(p.Data)
	if err != nil {
		return "", Args{}, err
	}
	if p.Type == BinaryEvent {
		args.Attachments = p.Attachments
	}
	return name, args, nil
}

// AckArgs returns the arguments of an ACK or BINARY_ACK packet.
func (p *Packet) AckArgs() (Args, error) {
	if p.Type != Ack && p.Type != BinaryAck {
		return Args{}, fmt.Errorf("%w: %s is not an ack", ErrInvalidPayload, p.Type)
	}
	values, err := SplitArray(p.Data)
	if err != nil {
		return Args{}, err
	}
	args := Args{Values: values}
	if p.Type == BinaryAck {
		args.Attachments = p.Attachments
	}
	return args, nil
}

// NewEvent builds the packet emitting name with args on namespace nsp: an
// EVENT, or a BINARY_EVENT when args has attachments (socket.io-parser's
// encoder decides the same way, through hasBinary). Set ID and HasID on the
// result to request an acknowledgement.
func NewEvent(nsp, name string, args Args) Packet {
	p := Packet{Type: Event, Namespace: nsp, Data: AppendEventData(nil, name, args.Values...)}
	if len(args.Attachments) > 0 {
		p.Type, p.Attachments = BinaryEvent, args.Attachments
	}
	return p
}

// NewAck builds the ACK (or BINARY_ACK, with attachments) answering the
// event with ack id id on namespace nsp.
func NewAck(nsp string, id uint64, args Args) Packet {
	p := Packet{Type: Ack, Namespace: nsp, ID: id, HasID: true, Data: AppendArrayData(nil, args.Values...)}
	if len(args.Attachments) > 0 {
		p.Type, p.Attachments = BinaryAck, args.Attachments
	}
	return p
}
