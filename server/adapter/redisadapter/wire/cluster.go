package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// MessageType numbers the messages of socket.io-adapter's ClusterAdapter,
// which the sharded Redis adapter speaks (cluster-adapter.ts). It differs
// from the classic RequestType.
type MessageType int

// Cluster message types.
const (
	InitialHeartbeat       MessageType = 1
	Heartbeat              MessageType = 2
	ClusterBroadcast       MessageType = 3
	SocketsJoin            MessageType = 4
	SocketsLeave           MessageType = 5
	DisconnectSockets      MessageType = 6
	FetchSockets           MessageType = 7
	FetchSocketsResponse   MessageType = 8
	ClusterServerSideEmit  MessageType = 9
	ServerSideEmitResponse MessageType = 10
	ClusterClientCount     MessageType = 11
	ClusterBroadcastAck    MessageType = 12
	AdapterClose           MessageType = 13
)

// ClusterMessage is a message of the sharded adapter: {type, data, uid,
// nsp}. Packet carries BROADCAST's packet (an EVENT) or the event of
// SERVER_SIDE_EMIT ([name, ...args] in Packet.Data); Answer carries the
// value of SERVER_SIDE_EMIT_RESPONSE and BROADCAST_ACK.
type ClusterMessage struct {
	Type      MessageType
	UID       string
	Nsp       string
	RequestID string
	Opts      Opts
	Packet    socketio.Packet
	Rooms     []adapter.Room
	Close     bool
	Fetched   []adapter.SocketInfo
	Count     int
	Answer    socketio.Args
	SID       adapter.SocketID
}

type jsonCluster struct {
	Type MessageType `json:"type"`
	Data *jsonData   `json:"data,omitempty"`
	UID  string      `json:"uid"`
	Nsp  string      `json:"nsp"`
}

type jsonData struct {
	Packet      json.RawMessage `json:"packet,omitempty"`
	RequestID   string          `json:"requestId,omitempty"`
	Opts        *jsonOpts       `json:"opts,omitempty"`
	Rooms       *roomList       `json:"rooms,omitempty"`
	Close       *bool           `json:"close,omitempty"`
	Sockets     *[]jsonSocket   `json:"sockets,omitempty"`
	ClientCount *int            `json:"clientCount,omitempty"`
	// SID is socketd's addition to BROADCAST_ACK: the answering socket.
	SID string `json:"sid,omitempty"`
}

type jsonOpts struct {
	Rooms   roomList  `json:"rooms"`
	Except  roomList  `json:"except"`
	Flags   jsonFlags `json:"flags"`
	Socketd *struct {
		Seq   uint64 `json:"seq,omitempty"`
		Count string `json:"count,omitempty"`
	} `json:"socketd,omitempty"`
}

type jsonFlags struct {
	Volatile bool  `json:"volatile,omitempty"`
	Compress *bool `json:"compress,omitempty"`
	Timeout  int64 `json:"timeout,omitempty"`
}

type jsonPacket struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	Nsp  string          `json:"nsp"`
}

// AppendClusterMessage appends m as the sharded adapter encodes it: JSON,
// or msgpack of the whole message when it carries binary.
func AppendClusterMessage(dst []byte, m *ClusterMessage) ([]byte, error) {
	j := jsonCluster{Type: m.Type, UID: m.UID, Nsp: m.Nsp}
	d := &jsonData{RequestID: m.RequestID, SID: string(m.SID)}
	var atts [][]byte
	switch m.Type {
	case ClusterBroadcast:
		p, err := marshal(jsonPacket{Type: int(socketio.Event), Data: m.Packet.Data, Nsp: m.Nsp})
		if err != nil {
			return dst, err
		}
		d.Packet, atts = p, m.Packet.Attachments
		d.Opts = toJSONOpts(m.Opts)
	case SocketsJoin, SocketsLeave:
		d.Opts = toJSONOpts(m.Opts)
		rooms := orEmpty(m.Rooms)
		d.Rooms = &rooms
	case DisconnectSockets:
		d.Opts = toJSONOpts(m.Opts)
		d.Close = &m.Close
	case FetchSockets:
		d.Opts = toJSONOpts(m.Opts)
	case ClusterServerSideEmit:
		d.Packet, atts = m.Packet.Data, m.Packet.Attachments
	case FetchSocketsResponse:
		socks := make([]jsonSocket, len(m.Fetched))
		for i, s := range m.Fetched {
			socks[i] = jsonSocket{ID: string(s.ID), Handshake: orEmptyObject(s.Handshake), Rooms: orEmpty(s.Rooms), Data: orEmptyObject(s.Data)}
		}
		d.Sockets = &socks
	case ServerSideEmitResponse, ClusterBroadcastAck:
		if len(m.Answer.Values) > 0 {
			d.Packet, atts = m.Answer.Values[0], m.Answer.Attachments
			if len(d.Packet) == 0 {
				d.Packet = json.RawMessage("null")
			}
		}
	case ClusterClientCount:
		d.ClientCount = &m.Count
	default:
		d = nil
	}
	j.Data = d
	b, err := marshal(j)
	if err != nil {
		return dst, err
	}
	if len(atts) == 0 {
		return append(dst, b...), nil
	}
	return AppendJSON(dst, b, atts)
}

func toJSONOpts(o Opts) *jsonOpts {
	j := &jsonOpts{Rooms: orEmpty(o.Rooms), Except: orEmpty(o.Except)}
	j.Flags.Volatile, j.Flags.Compress, j.Flags.Timeout = o.Volatile, o.Compress, o.Timeout.Milliseconds()
	if !o.Ext.zero() {
		j.Socketd = &struct {
			Seq   uint64 `json:"seq,omitempty"`
			Count string `json:"count,omitempty"`
		}{o.Ext.Seq, o.Ext.CountID}
	}
	return j
}

// DecodeClusterMessage decodes a sharded adapter message, JSON when it
// starts with '{', msgpack otherwise (binary values become attachments).
func DecodeClusterMessage(b []byte) (ClusterMessage, error) {
	var m ClusterMessage
	var atts [][]byte
	if len(b) == 0 || b[0] != '{' {
		r := NewReader(b)
		js, err := r.AppendJSON(nil, &atts)
		if err != nil {
			return m, err
		}
		b = js
	}
	var j jsonCluster
	if err := json.Unmarshal(b, &j); err != nil {
		return m, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	m.Type, m.UID, m.Nsp = j.Type, j.UID, j.Nsp
	d := j.Data
	if d == nil {
		d = &jsonData{}
	}
	m.RequestID, m.SID = d.RequestID, adapter.SocketID(d.SID)
	if d.Opts != nil {
		m.Opts = Opts{Rooms: d.Opts.Rooms, Except: d.Opts.Except, Volatile: d.Opts.Flags.Volatile,
			Compress: d.Opts.Flags.Compress, Timeout: time.Duration(d.Opts.Flags.Timeout) * time.Millisecond}
		if s := d.Opts.Socketd; s != nil {
			m.Opts.Ext = Ext{Seq: s.Seq, CountID: s.Count}
		}
	}
	if d.Rooms != nil {
		m.Rooms = *d.Rooms
	}
	if d.Close != nil {
		m.Close = *d.Close
	}
	if d.ClientCount != nil {
		m.Count = *d.ClientCount
	}
	if d.Sockets != nil {
		for _, s := range *d.Sockets {
			m.Fetched = append(m.Fetched, adapter.SocketInfo{ID: adapter.SocketID(s.ID), Rooms: s.Rooms, Handshake: s.Handshake, Data: s.Data})
		}
	}
	switch m.Type {
	case ClusterBroadcast:
		var p jsonPacket
		if err := json.Unmarshal(d.Packet, &p); err != nil {
			return m, fmt.Errorf("%w: packet: %w", ErrMalformed, err)
		}
		if p.Type != int(socketio.Event) && p.Type != int(socketio.BinaryEvent) {
			return m, fmt.Errorf("%w: packet type %d is not an event", ErrMalformed, p.Type)
		}
		if _, err := socketio.SplitArray(p.Data); err != nil {
			return m, fmt.Errorf("%w: packet data: %w", ErrMalformed, err)
		}
		m.Packet = socketio.Packet{Type: socketio.Event, Namespace: m.Nsp, Data: p.Data}
		if len(atts) > 0 {
			m.Packet.Type, m.Packet.Attachments = socketio.BinaryEvent, atts
		}
	case ClusterServerSideEmit:
		if _, _, err := socketio.SplitEvent(d.Packet); err != nil {
			return m, fmt.Errorf("%w: serverSideEmit packet: %w", ErrMalformed, err)
		}
		m.Packet = socketio.Packet{Type: socketio.Event, Namespace: m.Nsp, Data: d.Packet, Attachments: atts}
	case ServerSideEmitResponse, ClusterBroadcastAck:
		if d.Packet != nil {
			m.Answer = socketio.Args{Values: []json.RawMessage{d.Packet}, Attachments: atts}
		}
	}
	return m, nil
}
