package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// This file is what connection-state recovery keeps in Redis, in the forms
// of @socket.io/redis-streams-adapter 0.3 (lib/adapter.ts): a stored
// broadcast is a stream entry {uid, nsp, type: "3", data} whose data is the
// JSON text of {packet, opts} (base64 of its msgpack when it holds binary),
// and a session is the base64 of the msgpack map {sid, pid, rooms, data}.
// A Node node with that adapter reading the same stream and keys restores
// what a socketd node stored, and the other way round.

// StreamBroadcast is the "type" field of a stored broadcast
// (MessageType.BROADCAST of socket.io-adapter's cluster adapter).
const StreamBroadcast = "3"

// AppendStoredBroadcast appends a broadcast message as AppendBroadcast does,
// with the socketd extension's "off" key last and its value missing: the
// script that stores the packet appends the stream entry id (a msgpack
// string) once Redis has given it, so every node reads the offset in the
// message and the message goes out in the stream's order.
func AppendStoredBroadcast(dst []byte, uid string, pkt *socketio.Packet, opts Opts) ([]byte, error) {
	dst = AppendString(AppendArrayHeader(dst, 3), uid)
	dst, err := AppendPacket(dst, pkt)
	if err != nil {
		return dst, err
	}
	dst = AppendMapHeader(dst, 4)
	dst = appendRooms(AppendString(dst, "rooms"), opts.Rooms)
	dst = appendRooms(AppendString(dst, "except"), opts.Except)
	dst = appendFlags(dst, opts)
	dst = AppendString(dst, "socketd")
	e := opts.Ext
	n := 1
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
	return AppendString(dst, "off"), nil
}

// AppendStreamData appends the data field of a stored broadcast: the JSON
// {"packet":{"type":2,"data":[...]},"opts":{"rooms":[...],"except":[...],"flags":{...}}}
// or, when the packet has attachments, the base64 of that map in msgpack
// with the attachments as binaries.
func AppendStreamData(dst []byte, pkt *socketio.Packet, opts Opts) ([]byte, error) {
	if pkt.Type != socketio.Event && pkt.Type != socketio.BinaryEvent {
		return dst, fmt.Errorf("wire: cannot store a %s packet", pkt.Type)
	}
	if len(pkt.Attachments) > 0 {
		m := AppendMapHeader(nil, 2)
		m = AppendString(m, "packet")
		m = AppendMapHeader(m, 2)
		m = AppendUint(AppendString(m, "type"), uint64(socketio.Event))
		m = AppendString(m, "data")
		m, err := AppendJSON(m, pkt.Data, pkt.Attachments)
		if err != nil {
			return dst, err
		}
		m = AppendString(m, "opts")
		m = AppendMapHeader(m, 3)
		m = appendRooms(AppendString(m, "rooms"), opts.Rooms)
		m = appendRooms(AppendString(m, "except"), opts.Except)
		m = appendFlags(m, opts)
		return base64.StdEncoding.AppendEncode(dst, m), nil
	}
	dst = append(dst, `{"packet":{"type":2,"data":`...)
	dst = append(dst, pkt.Data...)
	dst = append(dst, `},"opts":{"rooms":`...)
	dst = appendJSONRooms(dst, opts.Rooms)
	dst = append(dst, `,"except":`...)
	dst = appendJSONRooms(dst, opts.Except)
	dst = append(dst, `,"flags":{`...)
	if opts.Volatile {
		dst = append(dst, `"volatile":true`...)
	}
	return append(dst, "}}}"...), nil
}

func appendJSONRooms(dst []byte, rooms []adapter.Room) []byte {
	dst = append(dst, '[')
	for i, r := range rooms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = socketio.AppendJSONString(dst, string(r))
	}
	return append(dst, ']')
}

// maxStreamDepth bounds the nesting of a stored packet read back.
const maxStreamDepth = 64

// DecodeStreamData reads the data field of a stored broadcast, either form,
// into the event packet of namespace nsp and the rooms and except of its
// options. Anything but an event whose first argument is its name is
// refused.
func DecodeStreamData(nsp string, data []byte) (socketio.Packet, Opts, error) {
	if len(data) > 0 && data[0] == '{' {
		return decodeStreamJSON(nsp, data)
	}
	raw, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return socketio.Packet{}, Opts{}, fmt.Errorf("%w: stream data: %w", ErrMalformed, err)
	}
	r := NewReader(raw)
	n, err := r.ReadMapLen()
	var (
		p       socketio.Packet
		o       Opts
		hasPkt  bool
		hasOpts bool
	)
	for range n {
		if err != nil {
			break
		}
		var key []byte
		if key, err = r.ReadStringBytes(); err != nil {
			break
		}
		switch string(key) {
		case "packet":
			p, err = r.readPacket()
			hasPkt = true
		case "opts":
			o, err = r.readOpts()
			hasOpts = true
		default:
			err = r.Skip()
		}
	}
	if err == nil && (!hasPkt || !hasOpts) {
		err = r.errorf("stored broadcast without packet or opts")
	}
	if err != nil {
		return p, o, fmt.Errorf("%w: stream data: %w", ErrMalformed, err)
	}
	p.Namespace = nsp
	return p, o, checkEvent(&p)
}

func decodeStreamJSON(nsp string, data []byte) (socketio.Packet, Opts, error) {
	var in struct {
		Packet *struct {
			Type int             `json:"type"`
			Data json.RawMessage `json:"data"`
		} `json:"packet"`
		Opts *struct {
			Rooms  roomList `json:"rooms"`
			Except roomList `json:"except"`
			Flags  struct {
				Volatile bool `json:"volatile"`
			} `json:"flags"`
		} `json:"opts"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return socketio.Packet{}, Opts{}, fmt.Errorf("%w: stream data: %w", ErrMalformed, err)
	}
	if in.Packet == nil || in.Opts == nil || (in.Packet.Type != int(socketio.Event) && in.Packet.Type != int(socketio.BinaryEvent)) {
		return socketio.Packet{}, Opts{}, fmt.Errorf("%w: stream data: not a stored event", ErrMalformed)
	}
	p := socketio.Packet{Type: socketio.Event, Namespace: nsp, Data: bytes.TrimSpace(in.Packet.Data)}
	o := Opts{Rooms: in.Opts.Rooms, Except: in.Opts.Except, Volatile: in.Opts.Flags.Volatile}
	return p, o, checkEvent(&p)
}

// checkEvent refuses a packet that is not an event clients can be sent.
func checkEvent(p *socketio.Packet) error {
	if err := checkDepth(p.Data); err != nil {
		return err
	}
	if _, _, err := p.Event(); err != nil {
		return fmt.Errorf("%w: stored packet: %w", ErrMalformed, err)
	}
	return nil
}

func checkDepth(data []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > maxStreamDepth {
				return fmt.Errorf("%w: stored packet nested deeper than %d", ErrMalformed, maxStreamDepth)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// AppendSession appends a session as @socket.io/redis-streams-adapter
// stores it, before base64: the msgpack map {sid, pid, rooms, data}, data
// being the socket's data as msgpack (nil when it has none).
func AppendSession(dst []byte, s adapter.Session) ([]byte, error) {
	dst = AppendMapHeader(dst, 4)
	dst = AppendString(AppendString(dst, "sid"), string(s.SID))
	dst = AppendString(AppendString(dst, "pid"), s.PID)
	dst = appendRooms(AppendString(dst, "rooms"), s.Rooms)
	dst = AppendString(dst, "data")
	if len(s.Data) == 0 {
		return AppendNil(dst), nil
	}
	return AppendJSON(dst, s.Data, nil)
}

// DecodeSession reads what AppendSession writes (or a Node node with the
// streams adapter stored). Data comes back as JSON; binary in it as Node's
// JSON form of a Buffer.
func DecodeSession(b []byte) (adapter.Session, error) {
	var s adapter.Session
	r := NewReader(b)
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
		case "sid":
			var sid string
			sid, err = r.ReadString()
			s.SID = adapter.SocketID(sid)
		case "pid":
			s.PID, err = r.ReadString()
		case "rooms":
			s.Rooms, err = r.readRooms()
		case "data":
			if r.Peek() == KindNil {
				r.off++
				continue
			}
			s.Data, err = r.AppendJSON(nil, nil)
			if err == nil && string(s.Data) == "null" {
				s.Data = nil
			}
		default:
			err = r.Skip()
		}
	}
	if err == nil && (s.SID == "" || s.PID == "") {
		err = r.errorf("session without sid or pid")
	}
	if err != nil {
		return adapter.Session{}, fmt.Errorf("%w: session: %w", ErrMalformed, err)
	}
	return s, nil
}
