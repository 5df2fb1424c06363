package socketio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
)

// nsLocal is the namespace as its adapter sees it: the adapter.Local callbacks
// through which an adapter acts on this node's sockets. It is a separate type,
// not methods of Namespace, so that what an application calls and what only an
// adapter calls do not share one method set (Namespace.ServerSideEmit sends to
// the other nodes; nsLocal.ServerSideEmit receives from them).
type nsLocal Namespace

var _ adapter.Local = (*nsLocal)(nil)

func (n *Namespace) local() *nsLocal { return (*nsLocal)(n) }

func (l *nsLocal) nsp() *Namespace { return (*Namespace)(l) }

var socketPool = sync.Pool{New: func() any { s := make([]*Socket, 0, 64); return &s }}

// Deliver implements adapter.Local: pkt is encoded once and the same frames are
// queued on every target's connection.
func (l *nsLocal) Deliver(pkt *psio.Packet, ids []adapter.SocketID, flags adapter.Flags, ack adapter.AckFunc) int {
	if ack != nil {
		// The ack id may come from another node, where it was unique; here it
		// could be one a local socket's pending ack already uses. Every
		// delivery with acks takes an id of this namespace's own, as
		// socket.io's in-memory adapter does.
		p := *pkt
		p.ID, p.HasID = l.nsp().nextAckID(), true
		pkt = &p
	}
	bp := socketPool.Get().(*[]*Socket)
	targets := (*bp)[:0]
	l.mu.RLock()
	for _, id := range ids {
		if s := l.sockets[id]; s != nil {
			targets = append(targets, s)
		}
	}
	l.mu.RUnlock()
	var count int
	if len(targets) > 0 {
		if box := l.srv.observer.Load(); box != nil && (pkt.Type == psio.Event || pkt.Type == psio.BinaryEvent) {
			box.o.EventSent(l.nsp(), targets, pkt.Data)
		}
		frames := encodeFrames(pkt)
		count = deliverParallel(targets, func(part []*Socket) int {
			return deliverTo(part, pkt.ID, frames, flags, ack)
		})
		l.srv.stats.delivered(count, frames)
	}
	clear(targets)
	*bp = targets[:0]
	socketPool.Put(bp)
	return count
}

// parallelChunk is the fewest sockets a broadcast writer is given. A write is a
// syscall of a few microseconds (on loopback it also pays for the receiver's TCP
// processing), so below this, starting a goroutine costs more than it saves.
const parallelChunk = 512

// deliverParallel runs deliver over targets, split across up to GOMAXPROCS
// goroutines when there are enough of them, and returns the summed count. Each
// socket is in exactly one part, so its frames still go out in order, and the
// call returns only when every part is done, so broadcasts made one after the
// other reach each socket in that order.
func deliverParallel(targets []*Socket, deliver func([]*Socket) int) int {
	workers := min(runtime.GOMAXPROCS(0), len(targets)/parallelChunk)
	if workers < 2 {
		return deliver(targets)
	}
	per := (len(targets) + workers - 1) / workers
	var (
		total atomic.Int64
		wg    sync.WaitGroup
	)
	for lo := per; lo < len(targets); lo += per {
		part := targets[lo:min(lo+per, len(targets))]
		wg.Go(func() { total.Add(int64(deliver(part))) })
	}
	total.Add(int64(deliver(targets[:per])))
	wg.Wait()
	return int(total.Load())
}

// deliverTo writes frames to each socket of targets and returns how many took
// them. With ack non-nil every socket first registers the ack id.
func deliverTo(targets []*Socket, ackID uint64, frames []*engine.Frame, flags adapter.Flags, ack adapter.AckFunc) int {
	count := 0
	for _, s := range targets {
		sess := s.client.sess
		if flags.Volatile && !sess.Writable() {
			continue
		}
		if ack != nil {
			id := adapter.SocketID(s.id)
			if !s.addAck(ackID, &pendingAck{fn: func(args psio.Args, err error) {
				if err == nil {
					ack(id, args)
				}
			}}) {
				continue
			}
		}
		if sess.Send(frames...) == nil {
			count++
		}
	}
	return count
}

// Join implements adapter.Local. It goes through Socket.Join, so a join that
// races with the socket's disconnection cannot leave a room entry behind.
func (l *nsLocal) Join(id adapter.SocketID, rooms []adapter.Room) {
	if s, ok := l.nsp().Socket(string(id)); ok {
		s.join(rooms)
	}
}

// Leave implements adapter.Local.
func (l *nsLocal) Leave(id adapter.SocketID, rooms []adapter.Room) {
	if _, ok := l.nsp().Socket(string(id)); ok {
		for _, r := range rooms {
			l.adapter.Del(id, r)
		}
	}
}

// Disconnect implements adapter.Local.
func (l *nsLocal) Disconnect(id adapter.SocketID, close bool) {
	if s, ok := l.nsp().Socket(string(id)); ok {
		s.Disconnect(close)
	}
}

// Info implements adapter.Local.
func (l *nsLocal) Info(id adapter.SocketID) (adapter.SocketInfo, bool) {
	s, ok := l.nsp().Socket(string(id))
	if !ok {
		return adapter.SocketInfo{}, false
	}
	hs, _ := json.Marshal(handshakeJSON(s.Handshake()))
	return adapter.SocketInfo{ID: id, Rooms: l.adapter.SocketRooms(id), Handshake: hs, Data: s.Data()}, true
}

// ServerSideEmit implements adapter.Local: it runs the handler registered with
// Namespace.OnServerSideEmit for event, if any.
func (l *nsLocal) ServerSideEmit(event string, args psio.Args) (psio.Args, bool) {
	l.mu.RLock()
	h := l.serverSide[event]
	l.mu.RUnlock()
	if h == nil {
		return psio.Args{}, false
	}
	return h(args)
}

// nodeHandshake is a handshake as socket.io (Node) shows it in fetchSockets and
// sends it between nodes: header names in lower case, one string per header and
// per query key unless it repeats.
type nodeHandshake struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

// jsDate is the layout of JavaScript's Date.prototype.toString, which Node uses
// for handshake.time.
const jsDate = "Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"

// handshakeJSON is the handshake as socket.io's fetchSockets shows it.
func handshakeJSON(h *Handshake) nodeHandshake {
	headers := make(map[string]any, len(h.Headers))
	for k, vs := range h.Headers {
		sep := ", "
		if strings.EqualFold(k, "Cookie") {
			sep = "; " // Node joins repeated Cookie headers this way
		}
		headers[strings.ToLower(k)] = strings.Join(vs, sep)
	}
	if _, ok := headers["host"]; !ok && h.Host != "" {
		headers["host"] = h.Host // net/http keeps it out of the header map
	}
	query := make(map[string]any, len(h.Query))
	for k, vs := range h.Query {
		if len(vs) == 1 {
			query[k] = vs[0]
		} else {
			query[k] = vs
		}
	}
	auth := h.Auth
	if len(auth) == 0 {
		auth = emptyAuth
	}
	return nodeHandshake{
		Headers: headers,
		Time:    h.Time.Format(jsDate),
		Address: h.Address,
		XDomain: h.Headers.Get("Origin") != "",
		Secure:  h.Secure,
		Issued:  h.Time.UnixMilli(),
		Query:   query,
		Auth:    auth,
	}
}

// parseHandshake reads a handshake another node sent (socketd's or Node's
// shape). What is missing or of an unexpected type is left empty: one node's
// odd handshake must not fail a whole FetchSockets.
func parseHandshake(raw []byte) *Handshake {
	h := &Handshake{Headers: http.Header{}, Query: url.Values{}, Auth: emptyAuth}
	var in struct {
		Headers map[string]json.RawMessage `json:"headers"`
		Address string                     `json:"address"`
		Secure  bool                       `json:"secure"`
		Issued  int64                      `json:"issued"`
		Query   map[string]json.RawMessage `json:"query"`
		Auth    json.RawMessage            `json:"auth"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &in) != nil {
		return h
	}
	for k, v := range in.Headers {
		for _, s := range stringOrStrings(v) {
			h.Headers.Add(k, s)
		}
	}
	for k, v := range in.Query {
		for _, s := range stringOrStrings(v) {
			h.Query.Add(k, s)
		}
	}
	if len(in.Auth) > 0 && in.Auth[0] == '{' {
		h.Auth = in.Auth
	}
	h.Address = in.Address
	h.Host = h.Headers.Get("Host")
	h.Secure = in.Secure
	if in.Issued > 0 {
		h.Time = time.UnixMilli(in.Issued)
	}
	return h
}

// stringOrStrings reads a JSON string or array of strings.
func stringOrStrings(v json.RawMessage) []string {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(v, &many) == nil {
		return many
	}
	return nil
}
