package engine

import (
	"sync/atomic"

	"github.com/socketd/socketd/protocol/engineio"
)

// Stats is a snapshot of the server's counters, for metrics. Every counter is
// updated where a session opens, upgrades, closes or a request is refused,
// never per packet, so keeping them costs the message path nothing.
type Stats struct {
	// Sessions open now.
	Sessions int64
	// Opened is the number of sessions opened since start (the sum of
	// Handshakes).
	Opened uint64
	// Open and Handshakes count sessions open now and opened since start, by
	// protocol revision and transport; read them with OpenSessions and
	// HandshakesOf. A session that upgrades moves from polling to websocket
	// in Open; Handshakes keep the transport it opened on.
	Open       [numRevs][numTransports]int64
	Handshakes [numRevs][numTransports]uint64
	// Upgrades counts polling sessions moved to WebSocket; UpgradesAbandoned
	// counts probes dropped before the upgrade completed (timeout, a probe
	// that closed or sent something else; the session goes on polling).
	Upgrades          uint64
	UpgradesAbandoned uint64
	// Refused counts requests answered with an Engine.IO error, by its code
	// (0 transport unknown, 1 session ID unknown, 2 bad handshake method,
	// 3 bad request or payload too large, 4 forbidden, 5 unsupported
	// protocol version).
	Refused [NumErrorCodes]uint64
	// Closed counts ended sessions by reason (index: CloseReason).
	Closed [numReasons]uint64
	// Forwarded counts requests passed to the node that owns their session
	// (Config.Nodes); ForwardFailed those whose owner could not be reached.
	Forwarded, ForwardFailed uint64
	// Bridges is the number of forwarded polls and WebSockets open now.
	Bridges int64
	// Limited counts handshakes refused at a limit (Config.Limits), by
	// Limit. They are not in Refused.
	Limited [NumLimits]uint64
	// TrackedAddresses is the number of client addresses the per-address
	// limits hold now; AddressesEvicted counts those dropped before their
	// handshake rate had recovered, because the table was full
	// (Limits.MaxTrackedIPs).
	TrackedAddresses int64
	AddressesEvicted uint64
}

// Protocol revisions and transports index Stats.Open and Stats.Handshakes.
const (
	numRevs       = 2 // engineio.V3, engineio.V4
	numTransports = 2 // Polling, WebSocket
)

// NumErrorCodes is the number of Engine.IO error codes (Stats.Refused).
const NumErrorCodes = 6

// ErrorCodeName is the message of Engine.IO error code c ("Session ID
// unknown"), as clients receive it.
func ErrorCodeName(c int) string {
	switch c {
	case 0:
		return errUnknownTransport.Message
	case 1:
		return errUnknownSID.Message
	case 2:
		return errBadHandshakeMethod.Message
	case 3:
		return errBadRequest.Message
	case 4:
		return errForbidden.Message
	case 5:
		return errUnsupportedVersion.Message
	}
	return ""
}

// NumCloseReasons bounds CloseReason: valid reasons are 1 to NumCloseReasons-1.
const NumCloseReasons = int(numReasons)

func revIndex(rev engineio.Revision) int {
	if rev == engineio.V3 {
		return 0
	}
	return 1
}

func transportIndex(t Transport) int {
	if t == WebSocket {
		return 1
	}
	return 0
}

// OpenSessions is the number of sessions of revision rev open now on transport t.
func (st *Stats) OpenSessions(rev engineio.Revision, t Transport) int64 {
	return st.Open[revIndex(rev)][transportIndex(t)]
}

// HandshakesOf is the number of sessions of revision rev opened on transport t.
func (st *Stats) HandshakesOf(rev engineio.Revision, t Transport) uint64 {
	return st.Handshakes[revIndex(rev)][transportIndex(t)]
}

// counters are the server's counters; Stats is their snapshot.
type counters struct {
	open              [numRevs][numTransports]atomic.Int64
	handshakes        [numRevs][numTransports]atomic.Uint64
	upgrades          atomic.Uint64
	upgradesAbandoned atomic.Uint64
	refusedBy         [NumErrorCodes]atomic.Uint64
	closedBy          [numReasons]atomic.Uint64
}

func (c *counters) opened(rev engineio.Revision, t Transport) {
	c.handshakes[revIndex(rev)][transportIndex(t)].Add(1)
	c.open[revIndex(rev)][transportIndex(t)].Add(1)
}

func (c *counters) upgraded(rev engineio.Revision) {
	c.open[revIndex(rev)][transportIndex(Polling)].Add(-1)
	c.open[revIndex(rev)][transportIndex(WebSocket)].Add(1)
	c.upgrades.Add(1)
}

func (c *counters) closed(rev engineio.Revision, t Transport, reason CloseReason) {
	c.open[revIndex(rev)][transportIndex(t)].Add(-1)
	c.closedBy[reason].Add(1)
}

func (c *counters) refused(code int) {
	if code >= 0 && code < NumErrorCodes {
		c.refusedBy[code].Add(1)
	}
}

// Stats returns the counters.
func (srv *Server) Stats() Stats {
	c := &srv.stats
	st := Stats{
		Sessions:          srv.count.Load(),
		Upgrades:          c.upgrades.Load(),
		UpgradesAbandoned: c.upgradesAbandoned.Load(),
	}
	for r := range numRevs {
		for t := range numTransports {
			st.Open[r][t] = c.open[r][t].Load()
			st.Handshakes[r][t] = c.handshakes[r][t].Load()
			st.Opened += st.Handshakes[r][t]
		}
	}
	for i := range c.refusedBy {
		st.Refused[i] = c.refusedBy[i].Load()
	}
	for i := range c.closedBy {
		st.Closed[i] = c.closedBy[i].Load()
	}
	for i := range st.Limited {
		st.Limited[i] = srv.limits.refused[i].Load()
	}
	if t := srv.limits.ips; t != nil {
		st.TrackedAddresses, st.AddressesEvicted = t.size.Load(), t.evicted.Load()
	}
	if f := srv.fwd; f != nil {
		st.Forwarded, st.ForwardFailed, st.Bridges = f.forwarded.Load(), f.failed.Load(), f.open.Load()
	}
	return st
}
