package redisadapter

import (
	"context"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter/wire"
)

// This file is the sharded wire (Config.Sharded): the ClusterMessage format
// of socket.io-adapter's ClusterAdapter over SPUBLISH/SSUBSCRIBE, as
// @socket.io/redis-adapter's createShardedAdapter speaks it, in its three
// subscription modes (Config.SubscriptionMode).

// publishCluster encodes m and hands it to the publisher (waiting for the
// outcome with wait).
func (a *Adapter) publishCluster(ctx context.Context, m *wire.ClusterMessage, channel string, wait bool) error {
	m.UID, m.Nsp = a.c.uid, a.nsp
	bp, err := encoded(func(b []byte) ([]byte, error) { return wire.AppendClusterMessage(b, m) })
	if err != nil {
		return err
	}
	return a.c.send(ctx, pubMsg{channel: channel, buf: bp, seq: m.Opts.Ext.Seq}, wait)
}

// publishSharded publishes a broadcast: to its room's channel when it
// targets exactly one room that has one (the Node adapter's computeChannel),
// unless it is ordered or counted: every node must see those.
func (a *Adapter) publishSharded(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions, ext wire.Ext, wait bool) error {
	channel := a.ch.broadcast
	if len(opts.Rooms) == 1 && ext == (wire.Ext{}) && a.dynamicRoom(opts.Rooms[0]) {
		channel += string(opts.Rooms[0]) + "#"
	}
	return a.publishCluster(ctx, &wire.ClusterMessage{Type: wire.ClusterBroadcast, Packet: *pkt, Opts: a.wireOpts(opts, ext)}, channel, wait)
}

func (a *Adapter) publishShardedAck(ctx context.Context, requestID string, pkt *socketio.Packet, opts adapter.BroadcastOptions) error {
	return a.publishCluster(ctx, &wire.ClusterMessage{Type: wire.ClusterBroadcast, RequestID: requestID, Packet: *pkt, Opts: a.wireOpts(opts, wire.Ext{})}, a.ch.broadcast, true)
}

func (a *Adapter) publishShardedRequest(ctx context.Context, q *wire.Request, wait bool) error {
	m := wire.ClusterMessage{RequestID: q.RequestID, Rooms: q.Rooms, Close: q.Close}
	if q.Opts != nil {
		m.Opts = wire.Opts{Rooms: q.Opts.Rooms, Except: q.Opts.Except, Ext: wire.Ext{Seq: q.Seq}}
	}
	switch q.Type {
	case wire.RemoteJoin:
		m.Type = wire.SocketsJoin
	case wire.RemoteLeave:
		m.Type = wire.SocketsLeave
	case wire.RemoteDisconnect:
		m.Type = wire.DisconnectSockets
	case wire.RemoteFetch:
		m.Type = wire.FetchSockets
	case wire.ServerSideEmit:
		m.Type = wire.ClusterServerSideEmit
		m.Packet = socketio.Packet{Data: q.Data}
	default:
		return nil // allRooms and the legacy forms have no sharded message
	}
	return a.publishCluster(ctx, &m, a.ch.broadcast, wait)
}

func (a *Adapter) respondCluster(uid string, m *wire.ClusterMessage) {
	m.UID, m.Nsp = a.c.uid, a.nsp
	bp, err := encoded(func(b []byte) ([]byte, error) { return wire.AppendClusterMessage(b, m) })
	if err != nil {
		a.c.bad("answer", err)
		return
	}
	_ = a.c.send(context.Background(), pubMsg{channel: a.ch.broadcast + uid + "#", buf: bp}, false)
}

func (a *Adapter) respondShardedCount(uid, requestID string, n int) {
	a.respondCluster(uid, &wire.ClusterMessage{Type: wire.ClusterClientCount, RequestID: requestID, Count: n})
}

func (a *Adapter) respondShardedAck(uid, requestID string, sid adapter.SocketID, args socketio.Args) {
	if len(args.Values) > 1 {
		args.Values = args.Values[:1]
	}
	a.respondCluster(uid, &wire.ClusterMessage{Type: wire.ClusterBroadcastAck, RequestID: requestID, Answer: args, SID: sid})
}

// onShardedMessage applies a message of the namespace's channel or of this
// node's own channel (run by the reader).
func (c *Cluster) onShardedMessage(a *Adapter, channel string, b []byte) {
	m, err := wire.DecodeClusterMessage(b)
	if err != nil {
		c.bad("cluster message", err)
		return
	}
	if m.Nsp != a.nsp {
		return
	}
	own := m.UID == c.uid
	switch m.Type {
	case wire.ClusterBroadcast:
		switch {
		case own:
			if m.Opts.Ext.Seq != 0 {
				c.ord.run(m.Opts.Ext.Seq)
			}
		case m.RequestID != "":
			a.broadcastWithAckFor(m.UID, m.RequestID, m.Packet, adapter.BroadcastOptions{Rooms: m.Opts.Rooms, Except: m.Opts.Except}, m.Opts.Volatile)
		default:
			opts := adapter.BroadcastOptions{Rooms: m.Opts.Rooms, Except: m.Opts.Except, Flags: adapter.Flags{Volatile: m.Opts.Volatile}}
			n, _ := a.Memory.BroadcastCount(context.Background(), &m.Packet, opts)
			if m.Opts.Ext.CountID != "" {
				a.respondShardedCount(m.UID, m.Opts.Ext.CountID, n)
			}
		}
	case wire.SocketsJoin, wire.SocketsLeave, wire.DisconnectSockets, wire.FetchSockets, wire.ClusterServerSideEmit:
		q := wire.Request{UID: m.UID, RequestID: m.RequestID, Rooms: m.Rooms, Close: m.Close, Seq: m.Opts.Ext.Seq,
			Opts: &wire.Target{Rooms: m.Opts.Rooms, Except: m.Opts.Except}}
		switch m.Type {
		case wire.SocketsJoin:
			q.Type = wire.RemoteJoin
		case wire.SocketsLeave:
			q.Type = wire.RemoteLeave
		case wire.DisconnectSockets:
			q.Type = wire.RemoteDisconnect
		case wire.FetchSockets:
			q.Type = wire.RemoteFetch
		default:
			q.Type, q.Data, q.Opts = wire.ServerSideEmit, m.Packet.Data, nil
		}
		a.apply(&q)
	case wire.FetchSocketsResponse, wire.ServerSideEmitResponse, wire.ClusterClientCount, wire.ClusterBroadcastAck:
		c.reqs.mu.Lock()
		p := c.reqs.m[m.RequestID]
		c.reqs.mu.Unlock()
		if p == nil {
			return
		}
		resp := wire.Response{RequestID: m.RequestID, Fetched: m.Fetched, ClientCount: m.Count, Ack: m.Answer, SID: m.SID}
		switch m.Type {
		case wire.ServerSideEmitResponse:
			if len(m.Answer.Values) > 0 {
				resp.Data = m.Answer.Values[0]
			}
		case wire.ClusterClientCount:
			resp.Type = wire.BroadcastClientCount
		case wire.ClusterBroadcastAck:
			resp.Type = wire.BroadcastAck
		}
		c.answer(p, &resp)
	}
}
