package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter/wire"
)

// Adapter is the adapter of one namespace on a Cluster. Room membership is
// an adapter.Memory (the same layout, the same bytes per socket); the
// methods that reach other nodes publish on the bus.
type Adapter struct {
	*adapter.Memory
	c     *Cluster
	nsp   string
	local adapter.Local
	ch    channels
	// subscribed is closed once Redis confirmed the namespace's
	// subscriptions.
	subscribed chan struct{}
}

var _ adapter.Adapter = (*Adapter)(nil)

func (c *Cluster) newAdapter(nsp string, local adapter.Local) (*Adapter, error) {
	a := &Adapter{Memory: adapter.NewMemory(local), c: c, nsp: nsp, local: local, ch: c.channelsOf(nsp), subscribed: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, adapter.ErrClosed
	}
	if _, dup := c.nsps[nsp]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("redisadapter: namespace %q already has an adapter", nsp)
	}
	c.nsps[nsp] = a
	c.setRoutes(func(m map[string]route) {
		if c.cfg.Sharded {
			m[a.ch.broadcast] = route{a, routeBroadcast}
			m[a.ch.mine] = route{a, routeResponse}
			m[a.ch.socketd] = route{a, routeSocketd}
			return
		}
		m[a.ch.pattern] = route{a, routeBroadcast}
		m[a.ch.request] = route{a, routeRequest}
		m[a.ch.response] = route{a, routeResponse}
		m[a.ch.mine] = route{a, routeResponse}
		m[a.ch.socketd] = route{a, routeSocketd}
	})
	c.mu.Unlock()
	c.subscribe(a.ch, a.subscribed)
	return a, nil
}

// WaitSubscribed waits until the namespace receives what other nodes
// publish (Redis confirmed its subscriptions), or ctx ends. The Factory
// does not wait, so that making a namespace does no network I/O.
func (a *Adapter) WaitSubscribed(ctx context.Context) error {
	select {
	case <-a.subscribed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements adapter.Adapter: the namespace leaves the bus.
func (a *Adapter) Close() error {
	c := a.c
	c.mu.Lock()
	mine := c.nsps[a.nsp] == a
	if mine {
		delete(c.nsps, a.nsp)
		c.setRoutes(func(m map[string]route) {
			for k, r := range m {
				if r.ns == a {
					delete(m, k)
				}
			}
		})
	}
	if mine {
		c.unsub = append(c.unsub, a.ch)
		delete(c.dirty, a)
	}
	c.mu.Unlock()
	if drop := c.dropRooms(a); len(drop) > 0 && c.up.Load() {
		_ = c.ps.Load().SUnsubscribe(c.ctx, drop...)
	}
	c.kick()
	return a.Memory.Close()
}

// Sync waits until every room of this node has its channel subscribed on
// the sharded wire's dynamic modes (those subscriptions are made in the
// background as rooms come and go), or ctx ends. Elsewhere it returns at
// once. A broadcast to a room published right after the room was created may
// miss this node until then, as with the Node adapter.
func (a *Adapter) Sync(ctx context.Context) error {
	if !a.dynamic() {
		return nil
	}
	return a.c.syncRooms(ctx)
}

// dynamicRoom reports whether room r has its own channel on the sharded
// wire: in Dynamic mode a room whose name does not look like a socket id
// (20 characters, looksLikeASocketId in the Node adapter, which decides the
// same way when publishing), in DynamicPrivate every room.
func (a *Adapter) dynamicRoom(r adapter.Room) bool {
	if !a.c.cfg.Sharded {
		return false
	}
	switch a.c.cfg.SubscriptionMode {
	case Dynamic:
		return len(r) != 20
	case DynamicPrivate:
		return true
	}
	return false
}

func (a *Adapter) dynamic() bool {
	return a.c.cfg.Sharded && a.c.cfg.SubscriptionMode != Static
}

// AddAll implements adapter.Adapter. On the sharded wire's dynamic modes a
// room that comes to exist gets its channel subscribed (asynchronously).
func (a *Adapter) AddAll(id adapter.SocketID, rooms []adapter.Room) {
	if !a.dynamic() {
		a.Memory.AddAll(id, rooms)
		return
	}
	var buf [8]adapter.Room
	fresh := buf[:0]
	for _, r := range rooms {
		if a.dynamicRoom(r) && !a.HasRoom(r) {
			fresh = append(fresh, r)
		}
	}
	a.Memory.AddAll(id, rooms)
	if len(fresh) > 0 {
		a.c.roomsChanged(a, slices.Clone(fresh))
	}
}

// Del implements adapter.Adapter (see AddAll for the dynamic modes).
func (a *Adapter) Del(id adapter.SocketID, room adapter.Room) {
	a.Memory.Del(id, room)
	if a.dynamic() && a.dynamicRoom(room) && !a.HasRoom(room) {
		a.c.roomsChanged(a, []adapter.Room{room})
	}
}

// DelAll implements adapter.Adapter (see AddAll for the dynamic modes).
func (a *Adapter) DelAll(id adapter.SocketID) {
	if !a.dynamic() {
		a.Memory.DelAll(id)
		return
	}
	rooms := a.SocketRooms(id)
	a.Memory.DelAll(id)
	var gone []adapter.Room
	for _, r := range rooms {
		if a.dynamicRoom(r) && !a.HasRoom(r) {
			gone = append(gone, r)
		}
	}
	if len(gone) > 0 {
		a.c.roomsChanged(a, gone)
	}
}

func (a *Adapter) wireOpts(opts adapter.BroadcastOptions, ext wire.Ext) wire.Opts {
	return wire.Opts{Rooms: opts.Rooms, Except: opts.Except, Volatile: opts.Flags.Volatile, Timeout: opts.Flags.Timeout, Ext: ext}
}

// publishBroadcast encodes a broadcast once and hands it to the publisher
// (waiting for the outcome with wait): to <prefix>#<nsp>#<room># when it
// targets exactly one room (nodes without that room drop it unread), to
// <prefix>#<nsp># otherwise.
func (a *Adapter) publishBroadcast(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions, ext wire.Ext, wait bool) error {
	if a.c.cfg.Sharded {
		return a.publishSharded(ctx, pkt, opts, ext, wait)
	}
	bp, err := encoded(func(b []byte) ([]byte, error) {
		return wire.AppendBroadcast(b, a.c.uid, pkt, a.wireOpts(opts, ext))
	})
	if err != nil {
		return err
	}
	channel := a.ch.broadcast
	if len(opts.Rooms) == 1 {
		channel += string(opts.Rooms[0]) + "#"
	}
	return a.c.send(ctx, pubMsg{channel: channel, buf: bp, seq: ext.Seq}, wait)
}

// ordered runs op in the cluster's order when opts asks for it and the bus
// is up: it is published with a sequence number and applied here when it
// comes back. publish waits until the message is on the bus (so an
// operation issued next, through any node, comes after it), or dropped, in
// which case op has been applied here at once; when ctx or RequestTimeout
// end the wait first, the message stays queued and op is applied on its
// echo or its failure, later. ordered reports false when op must run at
// once instead (not ordered, bus down).
func (a *Adapter) ordered(opts adapter.BroadcastOptions, op *orderedOp, publish func(seq uint64) error) bool {
	if !opts.Flags.Ordered || !a.c.up.Load() {
		return false
	}
	seq := a.c.ord.add(op)
	if seq == 0 {
		return false
	}
	if err := publish(seq); err != nil && !errors.Is(err, ErrTimeout) {
		a.c.ord.run(seq) // not queued (say, it did not encode); a no-op if applied already
	}
	return true
}

// Broadcast implements adapter.Adapter. Without Flags.Ordered the local
// sockets get the packet at once, then it is queued for the other nodes
// (socket.io's order) and Broadcast returns without waiting for Redis; with
// it, see adapter.Flags.Ordered and ordered. A broadcast not published
// (bus down, publish queue full, publish failed) is counted
// (Stats.Dropped), not returned: this node's sockets got the packet.
func (a *Adapter) Broadcast(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions) error {
	if opts.Flags.Local {
		return a.Memory.Broadcast(ctx, pkt, opts)
	}
	op := &orderedOp{apply: func() int { n, _ := a.Memory.BroadcastCount(context.Background(), pkt, opts); return n }}
	if a.ordered(opts, op, func(seq uint64) error { return a.publishBroadcast(ctx, pkt, opts, wire.Ext{Seq: seq}, true) }) {
		return nil
	}
	if err := a.Memory.Broadcast(ctx, pkt, opts); err != nil {
		return err
	}
	if a.c.up.Load() {
		_ = a.publishBroadcast(ctx, pkt, opts, wire.Ext{}, false)
	} else {
		a.c.dropped.Add(1) // not worth encoding
	}
	return nil
}

// BroadcastCount implements adapter.Adapter. The count is this node's plus
// every socketd node's that answers within ctx and RequestTimeout; Node
// nodes deliver the broadcast but do not count (see the package doc).
func (a *Adapter) BroadcastCount(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions) (int, error) {
	if opts.Flags.Local || !a.c.up.Load() {
		return a.Memory.BroadcastCount(ctx, pkt, opts)
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
	defer cancel()
	peers, err := a.c.numSub(ctx, a.ch.socketd)
	if err != nil {
		peers = 1
	}
	p := &pending{kind: wire.BroadcastClientCount, need: peers - 1}
	id := a.c.newRequestID()
	op := &orderedOp{apply: func() int { n, _ := a.Memory.BroadcastCount(context.Background(), pkt, opts); return n }, count: p}
	if opts.Flags.Ordered {
		p.need++ // this node's own count, when the echo comes
	}
	a.c.addPending(id, p)
	var pubErr error
	isOrdered := a.ordered(opts, op, func(seq uint64) error {
		pubErr = a.publishBroadcast(ctx, pkt, opts, wire.Ext{Seq: seq, CountID: id}, true)
		return pubErr
	})
	if isOrdered && pubErr != nil {
		// Applied here at once, nobody else got it to count; or ctx ended.
		a.c.dropPending(id)
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.count, nil
	}
	if !isOrdered {
		if opts.Flags.Ordered {
			// Applied at once after all: its count is not an answer.
			p.mu.Lock()
			p.localSet = true
			p.answered()
			p.mu.Unlock()
		}
		n, err := a.Memory.BroadcastCount(ctx, pkt, opts)
		if err != nil {
			a.c.dropPending(id)
			return n, err
		}
		p.mu.Lock()
		p.count += n
		p.mu.Unlock()
		if err := a.publishBroadcast(ctx, pkt, opts, wire.Ext{CountID: id}, true); err != nil {
			a.c.dropPending(id)
			return n, nil
		}
	}
	_ = a.c.wait(ctx, id, p) // nodes that did not answer in time are not counted
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count, nil
}

// BroadcastWithAck implements adapter.Adapter with the classic adapter's
// BROADCAST request: every node answers with its client count, then one
// message per client answer, until the flags' Timeout (RequestTimeout when
// zero) has passed. This node's sockets get the packet first; then it
// waits for the publish (within ctx and RequestTimeout) and returns its
// error, if any, so the caller stops waiting for other nodes' counts.
func (a *Adapter) BroadcastWithAck(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions, expect func(int), ack adapter.AckFunc) error {
	if opts.Flags.Local || !a.c.up.Load() {
		return a.Memory.BroadcastWithAck(ctx, pkt, opts, expect, ack)
	}
	id := a.c.newRequestID()
	a.c.addPending(id, &pending{kind: wire.BroadcastWithAck, need: 1, expect: expect, ack: ack})
	keep := opts.Flags.Timeout
	if keep <= 0 {
		keep = a.c.cfg.RequestTimeout
	}
	time.AfterFunc(keep, func() { a.c.dropPending(id) })
	if err := a.Memory.BroadcastWithAck(ctx, pkt, opts, expect, ack); err != nil {
		a.c.dropPending(id)
		return err
	}
	var err error
	if a.c.cfg.Sharded {
		err = a.publishShardedAck(ctx, id, pkt, opts)
	} else {
		var bp *[]byte
		bp, err = encoded(func(b []byte) ([]byte, error) {
			return wire.AppendBroadcastRequest(b, a.c.uid, id, pkt, a.wireOpts(opts, wire.Ext{}))
		})
		if err == nil {
			err = a.c.send(ctx, pubMsg{channel: a.ch.request, buf: bp}, true)
		}
	}
	if err != nil {
		a.c.dropPending(id)
	}
	return err
}

func target(opts adapter.BroadcastOptions) *wire.Target {
	return &wire.Target{Rooms: opts.Rooms, Except: opts.Except}
}

// publishRequest encodes q and hands it to the publisher (waiting for the
// outcome with wait).
func (a *Adapter) publishRequest(ctx context.Context, q *wire.Request, wait bool) error {
	if a.c.cfg.Sharded {
		return a.publishShardedRequest(ctx, q, wait)
	}
	bp, err := encoded(func(b []byte) ([]byte, error) { return wire.AppendRequest(b, q) })
	if err != nil {
		return err
	}
	return a.c.send(ctx, pubMsg{channel: a.ch.request, buf: bp, seq: q.Seq}, wait)
}

// FetchSockets implements adapter.Adapter. When some node does not answer
// within RequestTimeout, the sockets received are returned with ErrTimeout;
// while the bus is down, this node's with ErrBusDown.
func (a *Adapter) FetchSockets(ctx context.Context, opts adapter.BroadcastOptions) ([]adapter.SocketInfo, error) {
	local, err := a.Memory.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	if !a.c.up.Load() {
		return local, ErrBusDown
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
	defer cancel()
	nodes, err := a.c.numSub(ctx, a.serverChannel())
	if err != nil {
		return local, err
	}
	if nodes <= 1 {
		return local, nil
	}
	id := a.c.newRequestID()
	p := &pending{kind: wire.RemoteFetch, need: nodes - 1}
	a.c.addPending(id, p)
	if err := a.publishRequest(ctx, &wire.Request{UID: a.c.uid, RequestID: id, Type: wire.RemoteFetch, Opts: target(opts)}, true); err != nil {
		a.c.dropPending(id)
		return local, err
	}
	err = a.c.wait(ctx, id, p)
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(local, p.fetched...), err
}

// AllRooms returns the rooms of every node (the classic adapter's
// allRooms; the sharded wire has no such message, so there it returns this
// node's). It is not part of adapter.Adapter; reach it with a type
// assertion on the namespace's adapter.
func (a *Adapter) AllRooms(ctx context.Context) ([]adapter.Room, error) {
	rooms := a.Memory.Rooms()
	if !a.c.up.Load() {
		return rooms, ErrBusDown
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
	defer cancel()
	nodes, err := a.c.numSub(ctx, a.serverChannel())
	if err != nil || nodes <= 1 || a.c.cfg.Sharded {
		return rooms, err
	}
	id := a.c.newRequestID()
	p := &pending{kind: wire.AllRooms, need: nodes - 1}
	a.c.addPending(id, p)
	if err := a.publishRequest(ctx, &wire.Request{UID: a.c.uid, RequestID: id, Type: wire.AllRooms}, true); err != nil {
		a.c.dropPending(id)
		return rooms, err
	}
	err = a.c.wait(ctx, id, p)
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[adapter.Room]bool, len(rooms))
	for _, r := range rooms {
		seen[r] = true
	}
	for _, r := range p.rooms {
		if !seen[r] {
			seen[r] = true
			rooms = append(rooms, r)
		}
	}
	return rooms, err
}

// operation runs a socketsJoin/Leave/disconnectSockets: locally at once and
// queued for the other nodes without waiting (they apply it; this node
// drops its echo), or, with Flags.Ordered, published (waiting, see ordered)
// and applied here when its echo comes back.
func (a *Adapter) operation(ctx context.Context, opts adapter.BroadcastOptions, q wire.Request, local func()) error {
	if opts.Flags.Local {
		local()
		return nil
	}
	q.UID, q.Opts = a.c.uid, target(opts)
	op := &orderedOp{apply: func() int { local(); return 0 }}
	if a.ordered(opts, op, func(seq uint64) error {
		q.Seq = seq
		return a.publishRequest(ctx, &q, true)
	}) {
		return nil
	}
	local()
	if !a.c.up.Load() {
		a.c.dropped.Add(1)
		return nil
	}
	_ = a.publishRequest(ctx, &q, false)
	return nil
}

// AddSockets implements adapter.Adapter.
func (a *Adapter) AddSockets(ctx context.Context, opts adapter.BroadcastOptions, rooms []adapter.Room) error {
	return a.operation(ctx, opts, wire.Request{Type: wire.RemoteJoin, Rooms: rooms}, func() {
		_ = a.Memory.AddSockets(context.Background(), opts, rooms)
	})
}

// DelSockets implements adapter.Adapter.
func (a *Adapter) DelSockets(ctx context.Context, opts adapter.BroadcastOptions, rooms []adapter.Room) error {
	return a.operation(ctx, opts, wire.Request{Type: wire.RemoteLeave, Rooms: rooms}, func() {
		_ = a.Memory.DelSockets(context.Background(), opts, rooms)
	})
}

// DisconnectSockets implements adapter.Adapter.
func (a *Adapter) DisconnectSockets(ctx context.Context, opts adapter.BroadcastOptions, close bool) error {
	return a.operation(ctx, opts, wire.Request{Type: wire.RemoteDisconnect, Close: close}, func() {
		_ = a.Memory.DisconnectSockets(context.Background(), opts, close)
	})
}

// ServerSideEmit implements adapter.Adapter. The classic adapter's
// requests are JSON: binary arguments travel as Node's JSON form of a
// Buffer. Each node answers with one value (the first of its answer's
// arguments), as a Node node does. Without wantAnswers the event is queued
// and ServerSideEmit returns at once (an error only when it was dropped at
// once: bus down, publish queue full).
func (a *Adapter) ServerSideEmit(ctx context.Context, event string, args socketio.Args, wantAnswers bool) ([]socketio.Args, error) {
	if !a.c.up.Load() {
		return nil, ErrBusDown
	}
	values, err := wire.ArgsJSON(args)
	if err != nil {
		return nil, err
	}
	data := socketio.AppendEventData(nil, event, values...)
	q := wire.Request{UID: a.c.uid, Type: wire.ServerSideEmit, Data: data}
	if !wantAnswers {
		return nil, a.publishRequest(ctx, &q, false)
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
	defer cancel()
	nodes, err := a.c.numSub(ctx, a.serverChannel())
	if err != nil || nodes <= 1 {
		return nil, err
	}
	q.RequestID = a.c.newRequestID()
	p := &pending{kind: wire.ServerSideEmit, need: nodes - 1}
	a.c.addPending(q.RequestID, p)
	if err := a.publishRequest(ctx, &q, true); err != nil {
		a.c.dropPending(q.RequestID)
		return nil, err
	}
	err = a.c.wait(ctx, q.RequestID, p)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answers, err
}

// ServerCount implements adapter.Adapter: the subscribers of the request
// channel (PUBSUB NUMSUB), as the Node adapter counts; 1 while the bus is
// down.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	n, err := a.c.numSub(ctx, a.serverChannel())
	if errors.Is(err, ErrBusDown) {
		return 1, nil
	}
	return max(n, 1), err
}

func (a *Adapter) serverChannel() string {
	if a.c.cfg.Sharded {
		return a.ch.broadcast
	}
	return a.ch.request
}

// respondTo publishes an answer to a request from uid: on the requester's
// own response channel when configured (and for socketd's counts, which
// only socketd nodes read), on the shared one otherwise.
func (a *Adapter) respondTo(uid string, specific bool, msg []byte) {
	if a.c.cfg.Sharded {
		a.c.enqueue(a.ch.broadcast+uid+"#", msg)
		return
	}
	channel := a.ch.response
	if (specific || a.c.cfg.PublishOnSpecificResponseChannel) && uid != "" {
		channel = a.ch.response + uid + "#"
	}
	a.c.enqueue(channel, msg)
}

func (a *Adapter) respondJSON(uid string, resp *wire.Response, kind wire.RequestType) {
	if a.c.cfg.Sharded {
		m := wire.ClusterMessage{RequestID: resp.RequestID}
		switch kind {
		case wire.RemoteFetch:
			m.Type, m.Fetched = wire.FetchSocketsResponse, resp.Fetched
		case wire.ServerSideEmit:
			m.Type = wire.ServerSideEmitResponse
			if resp.Data != nil {
				m.Answer.Values = append(m.Answer.Values, resp.Data)
			}
		case wire.BroadcastClientCount:
			m.Type, m.Count = wire.ClusterClientCount, resp.ClientCount
		default:
			return
		}
		a.respondCluster(uid, &m)
		return
	}
	msg, err := wire.AppendJSONResponse(nil, resp, kind)
	if err != nil {
		a.c.bad("answer", err)
		return
	}
	a.respondTo(uid, false, msg)
}

// onBroadcast applies a message of a broadcast channel (run by the reader).
func (a *Adapter) onBroadcast(channel string, b []byte) {
	uid, err := wire.BroadcastUID(b)
	if err != nil {
		a.c.bad("broadcast", err)
		return
	}
	room := ""
	if len(channel) > len(a.ch.broadcast) {
		room = channel[len(a.ch.broadcast) : len(channel)-1]
	}
	if uid == a.c.uid || (room != "" && !a.HasRoom(adapter.Room(room))) {
		// Our own echo, or a room this node does not have (dropped before
		// decoding the packet, as Node does): only the socketd extension
		// matters.
		m, err := wire.DecodeBroadcast(b, false)
		if err != nil {
			a.c.bad("broadcast", err)
			return
		}
		switch {
		case uid == a.c.uid:
			if m.Opts.Ext.Seq != 0 {
				a.c.ord.run(m.Opts.Ext.Seq)
			}
		case m.Opts.Ext.CountID != "":
			a.respondCount(uid, m.Opts.Ext.CountID, 0)
		}
		return
	}
	m, err := wire.DecodeBroadcast(b, true)
	if err != nil {
		a.c.bad("broadcast", err)
		return
	}
	if m.Packet.Namespace != a.nsp {
		return
	}
	opts := adapter.BroadcastOptions{Rooms: m.Opts.Rooms, Except: m.Opts.Except, Flags: adapter.Flags{Volatile: m.Opts.Volatile}}
	n, _ := a.Memory.BroadcastCount(context.Background(), &m.Packet, opts)
	if m.Opts.Ext.CountID != "" {
		a.respondCount(uid, m.Opts.Ext.CountID, n)
	}
}

func (a *Adapter) respondCount(uid, requestID string, n int) {
	msg, err := wire.AppendJSONResponse(nil, &wire.Response{RequestID: requestID, ClientCount: n}, wire.BroadcastClientCount)
	if err != nil {
		return
	}
	a.respondTo(uid, true, msg)
}

// onRequest answers or applies a message of the request channel (run by
// the reader).
func (a *Adapter) onRequest(b []byte) {
	q, err := wire.DecodeRequest(b)
	if err != nil {
		a.c.bad("request", err)
		return
	}
	a.apply(&q)
}

func (a *Adapter) apply(q *wire.Request) {
	ctx := context.Background()
	own := q.UID == a.c.uid
	var opts adapter.BroadcastOptions
	if q.Opts != nil {
		opts = adapter.BroadcastOptions{Rooms: q.Opts.Rooms, Except: q.Opts.Except}
	}
	switch q.Type {
	case wire.Sockets:
		if !own {
			ids := a.Sockets(q.Rooms)
			resp := wire.Response{RequestID: q.RequestID, SocketIDs: make([]string, len(ids))}
			for i, id := range ids {
				resp.SocketIDs[i] = string(id)
			}
			a.respondJSON(q.UID, &resp, wire.Sockets)
		}
	case wire.AllRooms:
		if !own {
			a.respondJSON(q.UID, &wire.Response{RequestID: q.RequestID, Rooms: a.Rooms()}, wire.AllRooms)
		}
	case wire.RemoteJoin, wire.RemoteLeave, wire.RemoteDisconnect:
		switch {
		case own:
			// Applied when issued, or, ordered, now.
			if q.Seq != 0 {
				a.c.ord.run(q.Seq)
			}
		case q.Opts != nil:
			switch q.Type {
			case wire.RemoteJoin:
				_ = a.Memory.AddSockets(ctx, opts, q.Rooms)
			case wire.RemoteLeave:
				_ = a.Memory.DelSockets(ctx, opts, q.Rooms)
			default:
				_ = a.Memory.DisconnectSockets(ctx, opts, q.Close)
			}
		case q.SID != "":
			// The legacy form, answered by the socket's owner.
			id := adapter.SocketID(q.SID)
			if _, ok := a.local.Info(id); !ok {
				return
			}
			switch q.Type {
			case wire.RemoteJoin:
				a.local.Join(id, []adapter.Room{q.Room})
			case wire.RemoteLeave:
				a.local.Leave(id, []adapter.Room{q.Room})
			default:
				a.local.Disconnect(id, q.Close)
			}
			a.respondJSON(q.UID, &wire.Response{RequestID: q.RequestID}, q.Type)
		}
	case wire.RemoteFetch:
		if !own {
			infos, _ := a.Memory.FetchSockets(ctx, opts)
			a.respondJSON(q.UID, &wire.Response{RequestID: q.RequestID, Fetched: infos}, wire.RemoteFetch)
		}
	case wire.ServerSideEmit:
		if own {
			return
		}
		name, values, err := socketio.SplitEvent(q.Data)
		if err != nil {
			a.c.bad("serverSideEmit", err)
			return
		}
		answer, ok := a.local.ServerSideEmit(name, socketio.Args{Values: values})
		if q.RequestID == "" || !ok {
			return
		}
		var data json.RawMessage
		if len(answer.Values) > 0 {
			vals, err := wire.ArgsJSON(socketio.Args{Values: answer.Values[:1], Attachments: answer.Attachments})
			if err != nil {
				return
			}
			data = vals[0]
		}
		a.respondJSON(q.UID, &wire.Response{RequestID: q.RequestID, Data: data}, wire.ServerSideEmit)
	case wire.BroadcastWithAck:
		if own {
			return
		}
		a.broadcastWithAckFor(q.UID, q.RequestID, q.Packet, opts, q.Flags.Volatile)
	}
}

// broadcastWithAckFor delivers another node's broadcast with acks and sends
// back this node's client count, then each client's answer.
func (a *Adapter) broadcastWithAckFor(uid, requestID string, pkt socketio.Packet, opts adapter.BroadcastOptions, volatile bool) {
	pkt.Namespace = a.nsp
	pkt.ID, pkt.HasID = a.c.ackSeq.Add(1), true
	opts.Flags.Volatile = volatile
	_ = a.Memory.BroadcastWithAck(context.Background(), &pkt, opts,
		func(n int) {
			if a.c.cfg.Sharded {
				a.respondShardedCount(uid, requestID, n)
				return
			}
			msg, _ := wire.AppendJSONResponse(nil, &wire.Response{RequestID: requestID, ClientCount: n}, wire.BroadcastClientCount)
			a.respondTo(uid, false, msg)
		},
		func(id adapter.SocketID, args socketio.Args) {
			if a.c.cfg.Sharded {
				a.respondShardedAck(uid, requestID, id, args)
				return
			}
			msg, err := wire.AppendAck(nil, requestID, id, args)
			if err == nil {
				a.respondTo(uid, false, msg)
			}
		})
}
