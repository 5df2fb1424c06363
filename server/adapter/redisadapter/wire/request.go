package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// RequestType numbers the requests and responses of the classic adapter
// (RequestType in @socket.io/redis-adapter lib/index.ts).
type RequestType int

// Request types.
const (
	Sockets              RequestType = 0
	AllRooms             RequestType = 1
	RemoteJoin           RequestType = 2
	RemoteLeave          RequestType = 3
	RemoteDisconnect     RequestType = 4
	RemoteFetch          RequestType = 5
	ServerSideEmit       RequestType = 6
	BroadcastWithAck     RequestType = 7
	BroadcastClientCount RequestType = 8
	BroadcastAck         RequestType = 9
)

// Target is the opts of a request: {rooms, except}.
type Target struct {
	Rooms  []adapter.Room `json:"rooms"`
	Except []adapter.Room `json:"except"`
}

// Request is a message of the request channel. Requests are JSON, except
// BroadcastWithAck, which is msgpack (it carries a packet that may hold
// binary).
type Request struct {
	UID       string
	RequestID string
	Type      RequestType
	// Opts is set for the opts forms of RemoteJoin, RemoteLeave,
	// RemoteDisconnect, and for RemoteFetch and BroadcastWithAck.
	Opts *Target
	// Rooms are the rooms of Sockets, or the rooms to join or leave.
	Rooms []adapter.Room
	Close bool
	// Data is SERVER_SIDE_EMIT's [event, ...args].
	Data json.RawMessage
	// SID and Room are the legacy (pre-opts) forms of RemoteJoin/Leave and
	// RemoteDisconnect, answered by the socket's owner.
	SID  string
	Room adapter.Room
	// Packet and Flags are BroadcastWithAck's.
	Packet socketio.Packet
	Flags  Opts
	// Seq is socketd's ordered-operation number (Ext.Seq), 0 when absent.
	Seq uint64
}

// jsonRequest is Request as JSON. Field order is the classic adapter's key
// order, so socketd's requests read like Node's.
type jsonRequest struct {
	UID       *string         `json:"uid,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
	Type      *RequestType    `json:"type"`
	Opts      *jsonTarget     `json:"opts,omitempty"`
	Rooms     roomList        `json:"rooms,omitempty"`
	Close     *bool           `json:"close,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	SID       string          `json:"sid,omitempty"`
	Room      *jsonRoom       `json:"room,omitempty"`
	Socketd   *jsonExt        `json:"socketd,omitempty"`
}

type jsonTarget struct {
	Rooms  roomList `json:"rooms"`
	Except roomList `json:"except"`
}

type jsonExt struct {
	Seq uint64 `json:"seq,omitempty"`
}

// roomList reads rooms given as strings or numbers (Node accepts numbers as
// rooms and names them String(n)) and always writes an array.
type roomList []adapter.Room

func (l roomList) MarshalJSON() ([]byte, error) {
	out := []byte{'['}
	for i, r := range l {
		if i > 0 {
			out = append(out, ',')
		}
		out = socketio.AppendJSONString(out, string(r))
	}
	return append(out, ']'), nil
}

func (l *roomList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	elems, err := socketio.SplitArray(b)
	if err != nil {
		return err
	}
	out := make(roomList, 0, len(elems))
	for _, e := range elems {
		var r jsonRoom
		if err := r.UnmarshalJSON(e); err != nil {
			return err
		}
		out = append(out, adapter.Room(r))
	}
	*l = out
	return nil
}

type jsonRoom adapter.Room

func (r *jsonRoom) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && (b[0] == '-' || ('0' <= b[0] && b[0] <= '9')) {
		var f float64
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		*r = jsonRoom(AppendJSNumberJSON(nil, f))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = jsonRoom(s)
	return nil
}

func (r jsonRoom) MarshalJSON() ([]byte, error) {
	return socketio.AppendJSONString(nil, string(r)), nil
}

// AppendRequest appends a JSON request (any type but BroadcastWithAck).
// An empty UID is left out, as the emitter leaves it out.
func AppendRequest(dst []byte, q *Request) ([]byte, error) {
	if q.Type == BroadcastWithAck {
		return dst, fmt.Errorf("wire: a broadcast with acks is msgpack; use AppendBroadcastRequest")
	}
	j := jsonRequest{RequestID: q.RequestID, Type: &q.Type, Data: q.Data, SID: q.SID}
	if q.UID != "" {
		j.UID = &q.UID
	}
	if q.Opts != nil {
		j.Opts = &jsonTarget{Rooms: orEmpty(q.Opts.Rooms), Except: orEmpty(q.Opts.Except)}
	}
	switch q.Type {
	case Sockets, RemoteJoin, RemoteLeave:
		if q.Opts != nil || q.Type == Sockets {
			j.Rooms = orEmpty(q.Rooms)
		}
	case RemoteDisconnect:
		j.Close = &q.Close
	}
	if q.Room != "" {
		room := jsonRoom(q.Room)
		j.Room = &room
	}
	if q.Seq != 0 {
		j.Socketd = &jsonExt{Seq: q.Seq}
	}
	b, err := marshal(j)
	return append(dst, b...), err
}

func orEmpty(rooms []adapter.Room) roomList {
	if rooms == nil {
		return roomList{}
	}
	return roomList(rooms)
}

// AppendBroadcastRequest appends the msgpack request of a broadcast with
// acks: {uid, requestId, type: 7, packet, opts}.
func AppendBroadcastRequest(dst []byte, uid, requestID string, pkt *socketio.Packet, opts Opts) ([]byte, error) {
	dst = AppendMapHeader(dst, 5)
	dst = AppendString(AppendString(dst, "uid"), uid)
	dst = AppendString(AppendString(dst, "requestId"), requestID)
	dst = AppendUint(AppendString(dst, "type"), uint64(BroadcastWithAck))
	dst, err := AppendPacket(AppendString(dst, "packet"), pkt)
	if err != nil {
		return dst, err
	}
	return AppendOpts(AppendString(dst, "opts"), opts), nil
}

// DecodeRequest decodes a message of the request channel: JSON when it
// starts with '{' (as Node sniffs it), msgpack otherwise.
func DecodeRequest(b []byte) (Request, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSONRequest(b)
	}
	return decodeMsgpackRequest(b)
}

func decodeJSONRequest(b []byte) (Request, error) {
	var j jsonRequest
	if err := json.Unmarshal(b, &j); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if j.Type == nil {
		return Request{}, fmt.Errorf("%w: request without a type", ErrMalformed)
	}
	if *j.Type == BroadcastWithAck {
		// Its packet may carry binary, so the classic adapter sends it as
		// msgpack only.
		return Request{}, fmt.Errorf("%w: JSON broadcast with acks", ErrMalformed)
	}
	q := Request{RequestID: j.RequestID, Type: *j.Type, Rooms: j.Rooms, Data: j.Data, SID: j.SID}
	if j.UID != nil {
		q.UID = *j.UID
	}
	if j.Opts != nil {
		q.Opts = &Target{Rooms: j.Opts.Rooms, Except: j.Opts.Except}
	}
	if j.Close != nil {
		q.Close = *j.Close
	}
	if j.Room != nil {
		q.Room = adapter.Room(*j.Room)
	}
	if j.Socketd != nil {
		q.Seq = j.Socketd.Seq
	}
	if q.Type == ServerSideEmit {
		if _, _, err := socketio.SplitEvent(q.Data); err != nil {
			return q, fmt.Errorf("%w: serverSideEmit data: %w", ErrMalformed, err)
		}
	}
	return q, nil
}

func decodeMsgpackRequest(b []byte) (Request, error) {
	var q Request
	r := NewReader(b)
	n, err := r.ReadMapLen()
	if err != nil {
		return q, err
	}
	typ := int64(-1)
	hasPacket, hasOpts := false, false
	for range n {
		key, err := r.ReadStringBytes()
		if err != nil {
			return q, err
		}
		switch string(key) {
		case "uid":
			q.UID, err = r.ReadString()
		case "requestId":
			q.RequestID, err = r.ReadString()
		case "type":
			typ, err = r.ReadInt()
		case "packet":
			hasPacket = true
			q.Packet, err = r.readPacket()
		case "opts":
			hasOpts = true
			q.Flags, err = r.readOpts()
		default:
			err = r.Skip()
		}
		if err != nil {
			return q, err
		}
	}
	if typ != int64(BroadcastWithAck) || !hasPacket || !hasOpts || q.RequestID == "" {
		return q, r.errorf("msgpack request is not a broadcast with acks")
	}
	q.Type = BroadcastWithAck
	q.Opts = &Target{Rooms: q.Flags.Rooms, Except: q.Flags.Except}
	return q, nil
}

// Response is a message of a response channel.
type Response struct {
	Type      RequestType // 0 when the message has none (most JSON answers)
	RequestID string
	// Sockets answers Sockets (ids) or RemoteFetch (descriptions).
	SocketIDs []string
	Fetched   []adapter.SocketInfo
	Rooms     []adapter.Room
	// Data answers ServerSideEmit (nil when the answer was undefined).
	Data json.RawMessage
	// ClientCount answers BroadcastClientCount.
	ClientCount int
	// Ack is a client's answer to a broadcast with acks (BroadcastAck), and
	// SID the answering socket when a socketd node sent it.
	Ack socketio.Args
	SID adapter.SocketID
}

type jsonSocket struct {
	ID        string          `json:"id"`
	Handshake json.RawMessage `json:"handshake"`
	Rooms     roomList        `json:"rooms"`
	Data      json.RawMessage `json:"data"`
}

type jsonResponse struct {
	Type        RequestType     `json:"type,omitempty"`
	RequestID   string          `json:"requestId"`
	Sockets     json.RawMessage `json:"sockets,omitempty"`
	Rooms       *roomList       `json:"rooms,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	ClientCount *int            `json:"clientCount,omitempty"`
}

// DecodeResponse decodes a message of a response channel. kind tells which
// request it answers (the requester knows), since Sockets and RemoteFetch
// answers look alike.
func DecodeResponse(b []byte, kind RequestType) (Response, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSONResponse(b, kind)
	}
	return decodeAck(b)
}

// ResponseRequestID returns the requestId of a response without decoding
// the rest when it is cheap to find, so a node skips answers to other
// nodes' requests.
func ResponseRequestID(b []byte) (id string, err error) {
	if len(b) > 0 && b[0] == '{' {
		var j struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return "", fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if len(j.RequestID) == 0 || j.RequestID[0] != '"' {
			return string(j.RequestID), nil
		}
		err := json.Unmarshal(j.RequestID, &id)
		return id, err
	}
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
		if string(key) == "requestId" {
			return r.ReadString()
		}
		err = r.Skip()
	}
	return "", err
}

func decodeJSONResponse(b []byte, kind RequestType) (Response, error) {
	var j jsonResponse
	if err := json.Unmarshal(b, &j); err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	resp := Response{Type: j.Type, RequestID: j.RequestID, Data: j.Data}
	if j.Rooms != nil {
		resp.Rooms = *j.Rooms
	}
	if j.ClientCount != nil {
		resp.ClientCount = *j.ClientCount
	}
	if len(j.Sockets) > 0 && !bytes.Equal(j.Sockets, []byte("null")) {
		switch kind {
		case Sockets:
			if err := json.Unmarshal(j.Sockets, &resp.SocketIDs); err != nil {
				return resp, fmt.Errorf("%w: sockets: %w", ErrMalformed, err)
			}
		case RemoteFetch:
			var socks []jsonSocket
			if err := json.Unmarshal(j.Sockets, &socks); err != nil {
				return resp, fmt.Errorf("%w: sockets: %w", ErrMalformed, err)
			}
			resp.Fetched = make([]adapter.SocketInfo, len(socks))
			for i, s := range socks {
				resp.Fetched[i] = adapter.SocketInfo{ID: adapter.SocketID(s.ID), Rooms: s.Rooms, Handshake: s.Handshake, Data: s.Data}
			}
		}
	}
	return resp, nil
}

// AppendAck appends the msgpack answer of one client to a broadcast with
// acks: {type: 9, requestId, packet: <first answer argument>}, plus the
// socket's id under "sid" for socketd requesters. An answer without
// arguments leaves packet out (undefined, as notepack.io 3.x writes it).
func AppendAck(dst []byte, requestID string, sid adapter.SocketID, args socketio.Args) ([]byte, error) {
	n := 3
	if len(args.Values) > 0 {
		n++
	}
	dst = AppendMapHeader(dst, n)
	dst = AppendUint(AppendString(dst, "type"), uint64(BroadcastAck))
	dst = AppendString(AppendString(dst, "requestId"), requestID)
	if len(args.Values) > 0 {
		raw := args.Values[0]
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		var err error
		if dst, err = AppendJSON(AppendString(dst, "packet"), raw, args.Attachments); err != nil {
			return dst, err
		}
	}
	return AppendString(AppendString(dst, "sid"), string(sid)), nil
}

func decodeAck(b []byte) (Response, error) {
	var resp Response
	r := NewReader(b)
	n, err := r.ReadMapLen()
	if err != nil {
		return resp, err
	}
	for range n {
		key, err := r.ReadStringBytes()
		if err != nil {
			return resp, err
		}
		switch string(key) {
		case "type":
			var t int64
			t, err = r.ReadInt()
			resp.Type = RequestType(t)
		case "requestId":
			resp.RequestID, err = r.ReadString()
		case "sid":
			var s string
			s, err = r.ReadString()
			resp.SID = adapter.SocketID(s)
		case "packet":
			if r.isUndefined() {
				r.off += 3
				continue
			}
			var v []byte
			v, err = r.AppendJSON(nil, &resp.Ack.Attachments)
			resp.Ack.Values = []json.RawMessage{v}
		default:
			err = r.Skip()
		}
		if err != nil {
			return resp, err
		}
	}
	if resp.Type != BroadcastAck {
		return resp, r.errorf("msgpack response of type %d", resp.Type)
	}
	return resp, nil
}

// AppendJSONResponse appends a JSON answer. Fields are written when set,
// in the classic adapter's order: type, requestId, then the payload.
func AppendJSONResponse(dst []byte, resp *Response, kind RequestType) ([]byte, error) {
	var v any
	switch kind {
	case Sockets:
		v = struct {
			RequestID string   `json:"requestId"`
			Sockets   []string `json:"sockets"`
		}{resp.RequestID, orEmptyStrings(resp.SocketIDs)}
	case AllRooms:
		v = struct {
			RequestID string   `json:"requestId"`
			Rooms     roomList `json:"rooms"`
		}{resp.RequestID, orEmpty(resp.Rooms)}
	case RemoteFetch:
		socks := make([]jsonSocket, len(resp.Fetched))
		for i, s := range resp.Fetched {
			socks[i] = jsonSocket{ID: string(s.ID), Handshake: orEmptyObject(s.Handshake), Rooms: orEmpty(s.Rooms), Data: orEmptyObject(s.Data)}
		}
		v = struct {
			RequestID string       `json:"requestId"`
			Sockets   []jsonSocket `json:"sockets"`
		}{resp.RequestID, socks}
	case ServerSideEmit:
		v = struct {
			Type      RequestType     `json:"type"`
			RequestID string          `json:"requestId"`
			Data      json.RawMessage `json:"data,omitempty"`
		}{ServerSideEmit, resp.RequestID, resp.Data}
	case BroadcastClientCount:
		v = struct {
			Type        RequestType `json:"type"`
			RequestID   string      `json:"requestId"`
			ClientCount int         `json:"clientCount"`
		}{BroadcastClientCount, resp.RequestID, resp.ClientCount}
	default: // legacy join/leave/disconnect acknowledgement
		v = struct {
			RequestID string `json:"requestId"`
		}{resp.RequestID}
	}
	b, err := marshal(v)
	return append(dst, b...), err
}

// marshal is json.Marshal without HTML escaping: JSON.stringify leaves '<',
// '>' and '&' alone, and so should the bytes that reach clients.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func orEmptyStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyObject(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return b
}

// ArgsJSON returns args as the JSON values a classic-adapter request carries
// them in: binary attachments written as Node's JSON form of a Buffer
// ({"type":"Buffer","data":[...]}), as JSON.stringify writes a Buffer.
func ArgsJSON(args socketio.Args) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(args.Values))
	for i, v := range args.Values {
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		if len(args.Attachments) == 0 {
			out[i] = v
			continue
		}
		mp, err := AppendJSON(nil, v, args.Attachments)
		if err != nil {
			return nil, err
		}
		if out[i], err = NewReader(mp).AppendJSON(nil, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
