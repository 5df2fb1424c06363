package socketio

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
)

// Connection-state recovery (Config.Recovery), the namespace's side: the
// private id in the CONNECT reply, the session saved when a socket leaves for
// a reason it can come back from, and the restore of a CONNECT carrying "pid"
// and "offset". The adapter stores the broadcasts and gives their offsets
// (adapter.Recoverer); Deliver appends them for v5 clients.

// restoreTimeout bounds the store calls of one restore (a Redis store's
// round trips); past it the client gets a new session.
const restoreTimeout = 5 * time.Second

// RecoverHook sees a socket being recovered before it is back in its rooms
// and sent what it missed: Recovered is true, its id and data are the
// session's, and rooms are those it had. It returns the rooms to restore
// (the missed packets are those broadcast to them), or an error to refuse:
// the client then gets a new session, as if it had none to recover, and the
// namespace's middlewares run for it.
type RecoverHook func(s *Socket, rooms []string) ([]string, error)

// OnRecover registers a RecoverHook, run in registration order (each gets
// the rooms the previous returned). It runs on the client's reading side and
// may block it, as a middleware may.
func (n *Namespace) OnRecover(h RecoverHook) {
	n.mu.Lock()
	n.onRecover = append(n.onRecover, h)
	n.mu.Unlock()
}

// Recovered reports whether the socket is a recovered one: it has the id,
// rooms and data of a socket that lost its connection, and was sent the
// broadcasts it missed (socket.io's socket.recovered).
func (s *Socket) Recovered() bool { return s.recovered }

// pid is the socket's private id: for a recovered socket the one its session
// had, for another an HMAC of its id under the server's key, so that sockets
// keep none. Only v5 sockets of a server with recovery on have one.
func (s *Socket) pid() string {
	if s.recovered {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.extra.pid
	}
	mac := hmac.New(sha256.New, s.nsp.srv.pidKey)
	mac.Write([]byte(s.nsp.name))
	mac.Write([]byte{0})
	mac.Write([]byte(s.id))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0])[:15])
}

// recoverable reports whether a socket that left for reason may come back
// (socket.io's RECOVERABLE_DISCONNECT_REASONS): its connection failed or the
// server ended it, not the client nor the application.
func recoverable(reason DisconnectReason) bool {
	switch reason {
	case ReasonTransportError, ReasonTransportClose, ReasonForcedClose, ReasonPingTimeout,
		ReasonServerShuttingDown, ReasonForcedServerClose:
		return true
	}
	return false
}

// saveSession keeps what a socket that is leaving needs to come back. It runs
// while the socket is still in its rooms.
func (s *Socket) saveSession() {
	n := s.nsp
	rooms := n.adapter.SocketRooms(adapter.SocketID(s.id))
	sess := adapter.Session{SID: adapter.SocketID(s.id), PID: s.pid(), Rooms: rooms, Data: s.Data()}
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	if err := n.rec.SaveSession(ctx, sess, n.srv.cfg.Recovery.MaxDisconnectionDuration); err != nil {
		n.srv.log.Debug("socket.io: session not saved for recovery", slog.String("sid", s.id), slog.String("error", err.Error()))
	}
}

// recoveryAuth reads "pid" and "offset" from a v5 CONNECT payload.
func recoveryAuth(auth json.RawMessage) (pid string, off adapter.Offset, ok bool) {
	var in struct {
		PID    *string `json:"pid"`
		Offset *string `json:"offset"`
	}
	if json.Unmarshal(auth, &in) != nil || in.PID == nil || in.Offset == nil || *in.PID == "" || len(*in.PID) > 64 {
		return "", adapter.Offset{}, false
	}
	off, ok = adapter.ParseOffset(*in.Offset)
	return *in.PID, off, ok
}

// withOffset is pkt with off appended to its arguments, as stored
// broadcasts reach clients that can recover.
func withOffset(pkt *psio.Packet, off adapter.Offset) *psio.Packet {
	p := *pkt
	end := len(p.Data)
	for end > 0 && p.Data[end-1] != ']' {
		end--
	}
	if end == 0 {
		return pkt // not an array: cannot happen for an event
	}
	data := make([]byte, 0, end+24)
	data = append(data, p.Data[:end-1]...)
	data = append(data, ',', '"')
	data = off.Append(data)
	p.Data = append(data, '"', ']')
	return &p
}

// restoreBuf holds what a socket being restored is sent live while its
// missed packets are read and written, so that they go out first.
type restoreBuf struct {
	s *Socket

	mu      sync.Mutex
	pending []bufferedFrames
	bytes   int
	live    bool           // the missed packets are out: send at once
	floor   adapter.Offset // the last packet read as missed (set by flush)
}

type bufferedFrames struct {
	off    adapter.Offset // zero for a packet that was not stored
	frames []*engine.Frame
}

// deliver sends frames to the socket being restored, or holds them until its
// missed packets are out. It reports whether the frames were sent or held.
func (r *restoreBuf) deliver(off adapter.Offset, frames []*engine.Frame) bool {
	r.mu.Lock()
	if r.live {
		r.mu.Unlock()
		if !off.IsZero() && off.Compare(r.floor) <= 0 {
			return true // among the missed packets
		}
		return r.s.client.sess.Send(frames...) == nil
	}
	for _, f := range frames {
		r.bytes += len(f.Packet().Data)
	}
	if r.bytes > r.s.nsp.srv.cfg.Recovery.MaxBufferedBytes {
		r.mu.Unlock()
		r.s.nsp.srv.log.Info("socket.io: too much sent to a socket being recovered; closing its connection", slog.String("sid", r.s.id))
		r.s.client.sess.CloseWithReason(engine.ReasonSlowConsumer)
		return false
	}
	r.pending = append(r.pending, bufferedFrames{off, frames})
	r.mu.Unlock()
	return true
}

// flush sends what was held, but the stored packets at or before last (they
// were among the missed packets), and from then on lets frames through.
func (r *restoreBuf) flush(last adapter.Offset) {
	r.mu.Lock()
	r.floor = last
	r.mu.Unlock()
	for {
		r.mu.Lock()
		batch := r.pending
		r.pending, r.bytes = nil, 0
		if len(batch) == 0 {
			r.live = true
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		for _, b := range batch {
			if !b.off.IsZero() && b.off.Compare(last) <= 0 {
				continue
			}
			if r.s.client.sess.Send(b.frames...) != nil {
				// The connection ended; its close takes the socket out.
				r.mu.Lock()
				r.pending, r.live = nil, true
				r.mu.Unlock()
				return
			}
		}
	}
}

// restore restores the session a v5 CONNECT names, if it can. It reports
// false when the client must get a new session instead (no such session,
// unknown offset, a RecoverHook refused, a store error), true when the
// CONNECT was answered.
func (c *client) restore(n *Namespace, pid string, off adapter.Offset, auth json.RawMessage) bool {
	log := c.srv.log
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	sess, err := n.rec.TakeSession(ctx, pid, off)
	if err != nil {
		log.Debug("socket.io: recovery: session store", slog.String("error", err.Error()))
		return false
	}
	if sess == nil {
		return false
	}
	s := &Socket{nsp: n, client: c, auth: auth, id: string(sess.SID), recovered: true,
		extra: &socketExtra{pid: pid, data: sess.Data}}
	if c.srv.cfg.Recovery.RunMiddlewares {
		if err := n.admit(s); err != nil {
			c.refuseConnect(n.name, err)
			return true
		}
	}
	rooms := make([]string, 0, len(sess.Rooms))
	for _, r := range sess.Rooms {
		if r != adapter.Room(s.id) {
			rooms = append(rooms, string(r))
		}
	}
	n.mu.RLock()
	hooks := n.onRecover
	n.mu.RUnlock()
	for _, h := range hooks {
		if rooms, err = h(s, rooms); err != nil {
			log.Debug("socket.io: recovery refused", slog.String("sid", s.id), slog.String("error", err.Error()))
			return false
		}
	}
	ids := append(toRooms(rooms), adapter.Room(s.id))
	r := &restoreBuf{s: s}
	if !n.beginRestore(r) {
		return false
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		n.endRestore(r, false)
		return true
	}
	c.sockets = append(c.sockets, s)
	c.stopConnectTimerLocked()
	c.mu.Unlock()
	s.mu.Lock()
	s.connected = true
	s.nsp.adapter.AddAll(adapter.SocketID(s.id), ids)
	s.mu.Unlock()

	missed, last, err := n.rec.MissedPackets(ctx, off, ids)
	if err != nil {
		// Packets after the client's offset are gone (or the store could
		// not say): a new session, with nothing twice.
		log.Debug("socket.io: recovery: missed packets", slog.String("sid", s.id), slog.String("error", err.Error()))
		n.endRestore(r, false)
		c.remove(s)
		s.mu.Lock()
		s.connected = false
		s.mu.Unlock()
		n.adapter.DelAll(adapter.SocketID(s.id))
		return false
	}
	for _, m := range missed {
		if c.sess.Send(encodeFrames(withOffset(m.Packet, m.Offset))...) != nil {
			break // the connection ended; its close takes the socket out
		}
	}
	r.flush(last)
	// A packet stored before the missed packets were read may still be on
	// its way to the socket (its delivery started, it has not looked the
	// socket up yet): the socket drops the stored packets it was sent
	// among the missed ones. Set before the socket is published.
	s.extra.floor = last
	if !n.endRestore(r, true) {
		return true // closed meanwhile
	}
	c.srv.stats.connects.Add(1)
	c.srv.stats.recovered.Add(1)
	_ = c.writePacket(psio.NewConnectReply(c.rev, n.name, s.id, pid))
	n.connected(s)
	return true
}

// beginRestore makes r's socket a target of deliveries (held in r) until
// endRestore. It reports false when a socket of that id is connected or
// being restored.
func (n *Namespace) beginRestore(r *restoreBuf) bool {
	id := adapter.SocketID(r.s.id)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.sockets[id]; ok {
		return false
	}
	if _, ok := n.restoring[id]; ok {
		return false
	}
	if n.restoring == nil {
		n.restoring = make(map[adapter.SocketID]*restoreBuf)
	}
	n.restoring[id] = r
	return true
}

// endRestore ends r's restore: with keep, its socket joins the namespace's
// sockets (deliveries go to it directly). It reports false when the socket
// left meanwhile (its close took it out).
func (n *Namespace) endRestore(r *restoreBuf, keep bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.dropRestoringLocked(r.s) {
		return false
	}
	if keep {
		n.sockets[adapter.SocketID(r.s.id)] = r.s
	}
	return true
}

// dropRestoringLocked forgets s as a socket being restored, and reports
// whether it was one.
func (n *Namespace) dropRestoringLocked(s *Socket) bool {
	id := adapter.SocketID(s.id)
	if r, ok := n.restoring[id]; !ok || r.s != s {
		return false
	}
	delete(n.restoring, id)
	if len(n.restoring) == 0 {
		n.restoring = nil
	}
	return true
}

// enableRecovery turns recovery on in the namespace's adapter.
func (n *Namespace) enableRecovery(cfg *Recovery) error {
	rec, ok := n.adapter.(adapter.Recoverer)
	if !ok {
		return errNoRecovery(n.adapter)
	}
	if err := rec.EnableRecovery(adapter.RecoveryConfig{
		MaxDisconnection: cfg.MaxDisconnectionDuration,
		MaxPackets:       cfg.MaxPackets, MaxBytes: cfg.MaxBytes, MaxSessions: cfg.MaxSessions,
	}); err != nil {
		return err
	}
	n.rec = rec
	return nil
}

func errNoRecovery(a adapter.Adapter) error {
	return fmt.Errorf("socketio: the adapter %T does not support connection-state recovery", a)
}
