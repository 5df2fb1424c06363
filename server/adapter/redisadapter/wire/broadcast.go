package wire

import (
	"fmt"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// EmitterUID is the uid @socket.io/redis-emitter writes as a message's
// sender (UID in its lib/index.ts, EMITTER_UID in socket.io-adapter).
const EmitterUID = "emitter"

// Opts are the options of a broadcast on the bus:
// {rooms, except, flags} in socket.io's BroadcastOptions.
type Opts struct {
	Rooms  []adapter.Room
	Except []adapter.Room
	// Volatile, Compress and Timeout are the flags a Node node honours.
	Volatile bool
	Compress *bool
	Timeout  time.Duration
	// Ext is socketd's addition; Node nodes ignore it.
	Ext Ext
}

// Ext is what a socketd node adds to a message for other socketd nodes,
// under the key "socketd". Node nodes ignore keys they do not know (the
// classic adapter passes opts to its in-memory adapter, which reads only
// rooms, except and flags). A zero Ext is not written.
type Ext struct {
	// Seq numbers an operation its sender applies to its own sockets when
	// the message comes back from the bus (adapter.Flags.Ordered).
	Seq uint64
	// CountID asks every socketd node to answer, on the response channel,
	// how many of its sockets the broadcast reached (BROADCAST_CLIENT_COUNT
	// with this requestId).
	CountID string
}

func (e Ext) zero() bool { return e.Seq == 0 && e.CountID == "" }

// appendExt appends the "socketd" entry (key and value).
func appendExt(dst []byte, e Ext) []byte {
	dst = AppendString(dst, "socketd")
	n := 0
	if e.Seq != 0 {
		n++
	}
	if e.CountID != "" {
		n++
	}
	dst = AppendMapHeader(dst, n)
	if e.Seq != 0 {
		dst = AppendUint(AppendString(dst, "seq"), e.Seq)
	}
	if e.CountID != "" {
		dst = AppendString(AppendString(dst, "count"), e.CountID)
	}
	return dst
}

func (r *Reader) readExt() (Ext, error) {
	var e Ext
	n, err := r.ReadMapLen()
	for range n {
		if err != nil {
			break
		}
		var key []byte
		if key, err = r.ReadStringBytes(); err != nil {
			break
		}
		switch string(key) {
		case "seq":
			var v int64
			v, err = r.ReadInt()
			e.Seq = uint64(v)
		case "count":
			e.CountID, err = r.ReadString()
		default:
			err = r.Skip()
		}
	}
	return e, err
}

// AppendPacket appends an EVENT packet as the classic adapter publishes it:
// {type: 2, data: [name, ...args], nsp}, binary attachments inline as bin.
// The type is 2 even for a BINARY_EVENT: the receiving node's encoder finds
// the binary and writes a BINARY_EVENT to its clients, while a Node node
// given type 5 would write the packet as a string and lose the binary.
func AppendPacket(dst []byte, pkt *socketio.Packet) ([]byte, error) {
	if pkt.Type != socketio.Event && pkt.Type != socketio.BinaryEvent {
		return dst, fmt.Errorf("wire: cannot publish a %s packet", pkt.Type)
	}
	dst = AppendMapHeader(dst, 3)
	dst = AppendUint(AppendString(dst, "type"), uint64(socketio.Event))
	dst = AppendString(dst, "data")
	var err error
	if dst, err = AppendJSON(dst, pkt.Data, pkt.Attachments); err != nil {
		return dst, err
	}
	nsp := pkt.Namespace
	if nsp == "" {
		nsp = "/"
	}
	return AppendString(AppendString(dst, "nsp"), nsp), nil
}

// readPacket reads a packet object into an EVENT or BINARY_EVENT (by
// whether its data holds binary). A missing nsp is "/", as in Node.
func (r *Reader) readPacket() (socketio.Packet, error) {
	p := socketio.Packet{Namespace: "/"}
	n, err := r.ReadMapLen()
	if err != nil {
		return p, err
	}
	typ := int64(-1)
	hasData := false
	for range n {
		key, err := r.ReadStringBytes()
		if err != nil {
			return p, err
		}
		switch string(key) {
		case "type":
			typ, err = r.ReadInt()
		case "nsp":
			p.Namespace, err = r.ReadString()
		case "data":
			if r.Peek() != KindArray {
				return p, r.errorf("packet data is not an array")
			}
			hasData = true
			p.Data, err = r.AppendJSON(make([]byte, 0, len(r.Rest())+16), &p.Attachments)
		default:
			// id (set by the sender's own adapter) and anything else: each
			// node numbers its acks itself.
			err = r.Skip()
		}
		if err != nil {
			return p, err
		}
	}
	if typ != int64(socketio.Event) && typ != int64(socketio.BinaryEvent) {
		return p, r.errorf("packet type %d is not an event", typ)
	}
	if !hasData {
		return p, r.errorf("packet without data")
	}
	p.Type = socketio.Event
	if len(p.Attachments) > 0 {
		p.Type = socketio.BinaryEvent
	}
	return p, nil
}

func appendRooms(dst []byte, rooms []adapter.Room) []byte {
	dst = AppendArrayHeader(dst, len(rooms))
	for _, r := range rooms {
		dst = AppendString(dst, string(r))
	}
	return dst
}

// AppendOpts appends {rooms, except, flags} (the classic adapter's key
// order) and the socketd extension when it is set.
func AppendOpts(dst []byte, o Opts) []byte {
	n := 3
	if !o.Ext.zero() {
		n++
	}
	dst = AppendMapHeader(dst, n)
	dst = appendRooms(AppendString(dst, "rooms"), o.Rooms)
	dst = appendRooms(AppendString(dst, "except"), o.Except)
	dst = appendFlags(dst, o)
	if !o.Ext.zero() {
		dst = appendExt(dst, o.Ext)
	}
	return dst
}

// AppendEmitterBroadcast appends a broadcast as @socket.io/redis-emitter
// writes it: uid "emitter" and opts in its key order {rooms, flags, except}.
func AppendEmitterBroadcast(dst []byte, pkt *socketio.Packet, o Opts) ([]byte, error) {
	dst = AppendString(AppendArrayHeader(dst, 3), EmitterUID)
	dst, err := AppendPacket(dst, pkt)
	if err != nil {
		return dst, err
	}
	dst = appendRooms(AppendString(AppendMapHeader(dst, 3), "rooms"), o.Rooms)
	dst = appendFlags(dst, o)
	return appendRooms(AppendString(dst, "except"), o.Except), nil
}

func appendFlags(dst []byte, o Opts) []byte {
	dst = AppendString(dst, "flags")
	flags := 0
	if o.Volatile {
		flags++
	}
	if o.Compress != nil {
		flags++
	}
	if o.Timeout > 0 {
		flags++
	}
	dst = AppendMapHeader(dst, flags)
	if o.Volatile {
		dst = AppendBool(AppendString(dst, "volatile"), true)
	}
	if o.Compress != nil {
		dst = AppendBool(AppendString(dst, "compress"), *o.Compress)
	}
	if o.Timeout > 0 {
		dst = AppendInt(AppendString(dst, "timeout"), o.Timeout.Milliseconds())
	}
	return dst
}

// readRooms reads a list of rooms. Node lets numbers be rooms; they are
// named by their decimal form, as String(room) names them.
func (r *Reader) readRooms() ([]adapter.Room, error) {
	if r.Peek() == KindNil {
		r.off++
		return nil, nil
	}
	n, err := r.ReadArrayLen()
	if err != nil || n == 0 {
		return nil, err
	}
	rooms := make([]adapter.Room, 0, n)
	for range n {
		switch r.Peek() {
		case KindString:
			s, err := r.ReadString()
			if err != nil {
				return nil, err
			}
			rooms = append(rooms, adapter.Room(s))
		case KindInt, KindUint, KindFloat:
			num, err := r.readNumber()
			if err != nil {
				return nil, err
			}
			rooms = append(rooms, adapter.Room(appendNumberJSON(nil, num)))
		default:
			return nil, r.errorf("room is neither a string nor a number")
		}
	}
	return rooms, nil
}

func (r *Reader) readFlags(o *Opts) error {
	if r.Peek() == KindNil {
		r.off++
		return nil
	}
	n, err := r.ReadMapLen()
	for range n {
		if err != nil {
			return err
		}
		var key []byte
		if key, err = r.ReadStringBytes(); err != nil {
			return err
		}
		switch {
		case string(key) == "volatile" && r.Peek() == KindBool:
			o.Volatile, err = r.ReadBool()
		case string(key) == "compress" && r.Peek() == KindBool:
			var c bool
			c, err = r.ReadBool()
			o.Compress = &c
		case string(key) == "timeout" && (r.Peek() == KindUint || r.Peek() == KindInt || r.Peek() == KindFloat):
			var ms int64
			if ms, err = r.ReadInt(); err == nil && ms > 0 {
				o.Timeout = time.Duration(ms) * time.Millisecond
			}
		default:
			err = r.Skip()
		}
	}
	return err
}

func (r *Reader) readOpts() (Opts, error) {
	var o Opts
	n, err := r.ReadMapLen()
	for range n {
		if err != nil {
			return o, err
		}
		var key []byte
		if key, err = r.ReadStringBytes(); err != nil {
			return o, err
		}
		switch string(key) {
		case "rooms":
			o.Rooms, err = r.readRooms()
		case "except":
			o.Except, err = r.readRooms()
		case "flags":
			err = r.readFlags(&o)
		case "socketd":
			o.Ext, err = r.readExt()
		default:
			err = r.Skip()
		}
	}
	return o, err
}

// Broadcast is a message of a broadcast channel: [uid, packet, opts].
type Broadcast struct {
	UID    string
	Packet socketio.Packet
	Opts   Opts
}

// AppendBroadcast appends the msgpack message [uid, packet, opts].
func AppendBroadcast(dst []byte, uid string, pkt *socketio.Packet, opts Opts) ([]byte, error) {
	dst = AppendString(AppendArrayHeader(dst, 3), uid)
	dst, err := AppendPacket(dst, pkt)
	if err != nil {
		return dst, err
	}
	return AppendOpts(dst, opts), nil
}

// BroadcastUID returns the sender of a broadcast message without decoding
// the rest, so a node drops its own echoes cheaply.
func BroadcastUID(b []byte) (string, error) {
	r := NewReader(b)
	if _, err := r.ReadArrayLen(); err != nil {
		return "", err
	}
	if r.Peek() == KindNil {
		return "", nil
	}
	return r.ReadString()
}

// DecodeBroadcast decodes a broadcast message. With withPacket false the
// packet is skipped (its Data stays nil) and only uid and opts are read.
// Extra trailing elements are ignored, as Node's destructuring ignores them.
func DecodeBroadcast(b []byte, withPacket bool) (Broadcast, error) {
	var m Broadcast
	r := NewReader(b)
	n, err := r.ReadArrayLen()
	if err != nil {
		return m, err
	}
	if n < 3 {
		return m, r.errorf("broadcast of %d elements", n)
	}
	if r.Peek() == KindNil {
		r.off++
	} else if m.UID, err = r.ReadString(); err != nil {
		return m, err
	}
	if withPacket {
		m.Packet, err = r.readPacket()
	} else {
		err = r.Skip()
	}
	if err != nil {
		return m, err
	}
	m.Opts, err = r.readOpts()
	return m, err
}
