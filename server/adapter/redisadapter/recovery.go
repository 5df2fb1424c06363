package redisadapter

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter/wire"
)

// Connection-state recovery across nodes (adapter.Recoverer), stored as
// @socket.io/redis-streams-adapter 0.3 stores it, so that a client recovers
// on any node:
//
//   - A stored broadcast (adapter.Stored) is one script run: XADD to the
//     stream Config.StreamName (MAXLEN ~ Config.StreamMaxLen; fields uid,
//     nsp, type "3", data: wire.AppendStreamData) and PUBLISH of the
//     classic broadcast message with the entry id appended to the socketd
//     extension ("off"). Redis runs a script alone, so the messages reach
//     every node in the stream's order; every socketd node, this one
//     included (on its echo, as for adapter.Flags.Ordered), delivers the
//     packet with its offset. Node nodes on the classic wire deliver it as
//     any broadcast.
//   - A session is SET <Config.SessionKeyPrefix><pid> to the base64 of its
//     msgpack {sid, pid, rooms, data} with PX maxDisconnectionDuration, by
//     one goroutine from a bounded queue (in the order sessions were saved).
//   - A restore is GETDEL of the session and XRANGE of the stream from the
//     client's offset, which must still be there (the stream is trimmed from
//     its head, so nothing after it is gone either).
//
// Broadcasts this node receives from Node nodes or @socket.io/redis-emitter
// are not stored (they carry no offset). While Redis is unreachable stored
// broadcasts reach this node's sockets without an offset, and sessions are
// not saved. Recovery needs the classic wire.

// storeScript stores a broadcast in the stream and publishes its message
// with the entry id appended: KEYS[1] the stream; ARGV: maxlen, uid, nsp,
// data, channel, message awaiting its offset (wire.AppendStoredBroadcast).
const storeScriptSource = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'uid', ARGV[2], 'nsp', ARGV[3], 'type', '3', 'data', ARGV[4])
local n = string.len(id)
local header
if n < 32 then header = string.char(160 + n) else header = string.char(217, n) end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. header .. id)
return id
`

// recoveryState is a namespace's recovery settings, set by EnableRecovery.
type recoveryState struct {
	ttl time.Duration
}

// saver writes sessions to Redis from a bounded queue, off the callers'
// goroutines: a socket's close can run on the bus reader.
type saver struct {
	once    sync.Once
	started atomic.Bool
	queue   chan savedSession
	stop    chan struct{} // closed by Cluster.Close
	done    chan struct{} // closed when the saver has stopped
}

type savedSession struct {
	key   string
	value string
	ttl   time.Duration
}

// saveQueue bounds the sessions waiting to be written; past it they are
// dropped (counted in Stats.Dropped) and their clients get new sessions.
const saveQueue = 8192

// maxScan bounds the stream entries one restore reads: past it the client
// gets a new session (the Node adapter stops after 100 XRANGE calls).
const maxScan = 100000

// scanBatch is the COUNT of each XRANGE of a restore.
const scanBatch = 1000

// EnableRecovery implements adapter.Recoverer.
func (a *Adapter) EnableRecovery(cfg adapter.RecoveryConfig) error {
	if a.c.cfg.Sharded {
		return errors.New("redisadapter: connection-state recovery needs the classic wire (Config.Sharded is set)")
	}
	if cfg.MaxDisconnection <= 0 {
		return errors.New("redisadapter: recovery needs a positive MaxDisconnection")
	}
	a.rec.Store(&recoveryState{ttl: cfg.MaxDisconnection})
	a.c.startSaver()
	return nil
}

// storing reports whether a broadcast of pkt with opts is stored.
func (a *Adapter) storing(pkt *socketio.Packet, opts adapter.BroadcastOptions) bool {
	return a.rec.Load() != nil && !opts.Flags.Local && adapter.Stored(pkt, opts)
}

// broadcastStored stores a broadcast and publishes it in one script run,
// through the publisher (in order with this node's other messages), and
// delivers it here when its message comes back with the offset. With
// counted it waits for the socketd nodes' counts, as BroadcastCount does;
// with counted or Flags.Ordered it waits until the message is on the bus,
// as Ordered operations do. While the bus is down, or when the message is
// dropped, the packet reaches this node's sockets at once, without an
// offset.
func (a *Adapter) broadcastStored(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions, counted bool) (int, error) {
	local := func(off adapter.Offset) int {
		o := opts
		o.Flags.Offset = off
		n, _ := a.Memory.BroadcastCount(context.Background(), pkt, o)
		return n
	}
	if !a.c.up.Load() {
		a.c.dropped.Add(1)
		return local(adapter.Offset{}), nil
	}
	var (
		p  *pending
		id string
	)
	if counted {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
		defer cancel()
		peers, err := a.c.numSub(ctx, a.ch.socketd)
		if err != nil {
			peers = 1
		}
		// The other socketd nodes' answers, and this node's count when
		// the message comes back.
		p = &pending{kind: wire.BroadcastClientCount, need: peers}
		id = a.c.newRequestID()
		a.c.addPending(id, p)
	}
	op := &orderedOp{stored: local, count: p}
	seq := a.c.ord.add(op)
	if seq == 0 {
		// Too many operations wait for their echo: applied here at once.
		op.do(adapter.Offset{})
	}
	err := a.publishStored(ctx, pkt, opts, wire.Ext{Seq: seq, CountID: id}, counted || opts.Flags.Ordered)
	if err != nil && seq != 0 && !errors.Is(err, ErrTimeout) {
		a.c.ord.run(seq) // not queued (it did not encode); a no-op if applied already
	}
	if !counted {
		return 0, nil
	}
	if err == nil {
		_ = a.c.wait(ctx, id, p) // nodes that did not answer in time are not counted
	} else {
		a.c.dropPending(id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count, nil
}

// storeArgs are what storeScript needs besides the message.
type storeArgs struct {
	nsp  string
	data []byte // wire.AppendStreamData
}

// publishStored hands a stored broadcast to the publisher (see send for
// wait and the errors).
func (a *Adapter) publishStored(ctx context.Context, pkt *socketio.Packet, opts adapter.BroadcastOptions, ext wire.Ext, wait bool) error {
	data, err := wire.AppendStreamData(nil, pkt, a.wireOpts(opts, wire.Ext{}))
	if err != nil {
		return err
	}
	bp, err := encoded(func(b []byte) ([]byte, error) {
		return wire.AppendStoredBroadcast(b, a.c.uid, pkt, a.wireOpts(opts, ext))
	})
	if err != nil {
		return err
	}
	channel := a.ch.broadcast
	if len(opts.Rooms) == 1 {
		channel += string(opts.Rooms[0]) + "#"
	}
	return a.c.send(ctx, pubMsg{channel: channel, buf: bp, seq: ext.Seq, store: &storeArgs{nsp: a.nsp, data: data}}, wait)
}

// queueStored adds a stored broadcast's script run to the publisher's
// pipeline. EVAL, not EVALSHA: a script Redis forgot (a restart) would
// fail in the middle of a pipeline whose later messages went out, and
// retrying it would break their order; the script is short.
func (c *Cluster) queueStored(ctx context.Context, pipe redis.Pipeliner, m pubMsg) {
	pipe.Eval(ctx, storeScriptSource, []string{c.cfg.StreamName},
		c.cfg.StreamMaxLen, c.uid, m.store.nsp, m.store.data, m.channel, *m.buf)
}

// receivedOffset is the offset a broadcast from another node is delivered
// with: its stream entry id when this namespace recovers, none otherwise.
func (a *Adapter) receivedOffset(ext wire.Ext) adapter.Offset {
	if a.rec.Load() == nil {
		return adapter.Offset{}
	}
	return ext.Offset
}

// startSaver starts the session writer, once per Cluster (only a Cluster
// with recovery on has its queue).
func (c *Cluster) startSaver() {
	c.saves.once.Do(func() {
		c.saves.queue = make(chan savedSession, saveQueue)
		c.saves.stop = make(chan struct{})
		c.saves.done = make(chan struct{})
		c.saves.started.Store(true)
		go c.save()
	})
}

// save writes queued sessions, several per round trip, until the Cluster
// closes; then it writes what is queued and stops.
func (c *Cluster) save() {
	defer close(c.saves.done)
	const perTrip = 64
	batch := make([]savedSession, 0, perTrip)
	for {
		select {
		case s := <-c.saves.queue:
			batch = append(batch[:0], s)
			for len(batch) < perTrip && len(c.saves.queue) > 0 {
				batch = append(batch, <-c.saves.queue)
			}
			c.writeSessions(batch)
		case <-c.saves.stop:
			for len(c.saves.queue) > 0 {
				batch = batch[:0]
				for len(batch) < perTrip && len(c.saves.queue) > 0 {
					batch = append(batch, <-c.saves.queue)
				}
				c.writeSessions(batch)
			}
			return
		}
	}
}

func (c *Cluster) writeSessions(batch []savedSession) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range batch {
			p.Set(ctx, s.key, s.value, s.ttl)
		}
		return nil
	})
	if err != nil {
		c.dropped.Add(uint64(len(batch)))
		c.log.Debug("redis adapter: saving sessions failed", "sessions", len(batch), "err", err)
	}
}

// SaveSession implements adapter.SessionStore: the session is queued and
// written in the background (see the package's recovery notes).
func (a *Adapter) SaveSession(_ context.Context, s adapter.Session, ttl time.Duration) error {
	if a.rec.Load() == nil {
		return adapter.ErrNoRecovery
	}
	if !a.c.up.Load() {
		a.c.dropped.Add(1)
		return ErrBusDown
	}
	b, err := wire.AppendSession(nil, s)
	if err != nil {
		return err
	}
	select {
	case a.c.saves.queue <- savedSession{a.c.cfg.SessionKeyPrefix + s.PID, base64.StdEncoding.EncodeToString(b), ttl}:
		return nil
	default:
		a.c.dropped.Add(1)
		return errors.New("redisadapter: too many sessions waiting to be saved")
	}
}

// TakeSession implements adapter.SessionStore: GETDEL of the session, and
// the entry at offset must still be in the stream.
func (a *Adapter) TakeSession(ctx context.Context, pid string, off adapter.Offset) (*adapter.Session, error) {
	if a.rec.Load() == nil {
		return nil, adapter.ErrNoRecovery
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
	defer cancel()
	var (
		get *redis.StringCmd
		at  *redis.XMessageSliceCmd
	)
	o := off.String()
	_, err := a.c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.GetDel(ctx, a.c.cfg.SessionKeyPrefix+pid)
		at = p.XRangeN(ctx, a.c.cfg.StreamName, o, o, 1)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	raw, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if entries, err := at.Result(); err != nil || len(entries) == 0 {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		a.c.bad("session", err)
		return nil, nil
	}
	s, err := wire.DecodeSession(b)
	if err != nil || s.PID != pid {
		a.c.bad("session", err)
		return nil, nil
	}
	return &s, nil
}

// MissedPackets implements adapter.SessionStore: XRANGE from offset, which
// must still be the stream's, to its end, keeping this namespace's stored
// broadcasts that reached rooms.
func (a *Adapter) MissedPackets(ctx context.Context, off adapter.Offset, rooms []adapter.Room) ([]adapter.StoredPacket, adapter.Offset, error) {
	if a.rec.Load() == nil {
		return nil, adapter.Offset{}, adapter.ErrNoRecovery
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.cfg.RequestTimeout)
	defer cancel()
	var out []adapter.StoredPacket
	last, from, scanned := off, off.String(), 0
	for {
		entries, err := a.c.client.XRangeN(ctx, a.c.cfg.StreamName, from, "+", scanBatch).Result()
		if err != nil {
			return nil, adapter.Offset{}, err
		}
		if scanned == 0 && (len(entries) == 0 || entries[0].ID != from) {
			return nil, adapter.Offset{}, adapter.ErrOffsetGone
		}
		for _, e := range entries {
			id, ok := adapter.ParseOffset(e.ID)
			if !ok || id.Compare(last) <= 0 {
				continue // the client's own entry (or an id Redis would not give)
			}
			last = id
			if pkt, ok := a.storedEntry(e.Values, rooms); ok {
				out = append(out, adapter.StoredPacket{Offset: id, Packet: pkt})
			}
		}
		if scanned += len(entries); scanned > maxScan {
			return nil, adapter.Offset{}, fmt.Errorf("redisadapter: more than %d stream entries after the offset", maxScan)
		}
		if len(entries) < scanBatch {
			return out, last, nil
		}
		from = "(" + last.String()
	}
}

// storedEntry reads a stream entry: a stored broadcast of this namespace
// that reached rooms, or nothing.
func (a *Adapter) storedEntry(values map[string]any, rooms []adapter.Room) (*socketio.Packet, bool) {
	nsp, _ := values["nsp"].(string)
	typ, _ := values["type"].(string)
	data, _ := values["data"].(string)
	if nsp != a.nsp || typ != wire.StreamBroadcast {
		return nil, false
	}
	pkt, o, err := wire.DecodeStreamData(nsp, []byte(data))
	if err != nil {
		a.c.bad("stream entry", err)
		return nil, false
	}
	if o.Volatile || !adapter.Selects(rooms, adapter.BroadcastOptions{Rooms: o.Rooms, Except: o.Except}) {
		return nil, false
	}
	return &pkt, true
}

// closeSaver lets the saver write what is queued (a server shutting down
// saves its sockets' sessions, so that they recover on another node),
// bounded by RequestTimeout, before the Cluster closes.
func (c *Cluster) closeSaver() {
	if !c.saves.started.Load() {
		return
	}
	close(c.saves.stop)
	t := time.NewTimer(c.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-c.saves.done:
	case <-t.C:
	}
}

var _ adapter.Recoverer = (*Adapter)(nil)
