package socketio

import (
	"sync/atomic"

	"github.com/socketd/socketd/server/engine"
)

// Stats is a snapshot of the Socket.IO server's counters, for metrics. The
// Engine.IO side (sessions, transports, close reasons) is Engine().Stats().
type Stats struct {
	// Connects counts sockets admitted to a namespace; ConnectErrors counts
	// CONNECTs refused (a middleware's error, or an unknown namespace).
	Connects      uint64
	ConnectErrors uint64
	// Disconnects counts sockets that left their namespace, by reason.
	Disconnects map[DisconnectReason]uint64
	// PacketsIn and BytesIn count what clients sent: Socket.IO packets
	// decoded, and their bytes (the data of the Engine.IO messages that
	// carried them, binary attachments included).
	PacketsIn uint64
	BytesIn   uint64
	// PacketsOut and BytesOut count what was queued for clients: one packet
	// per recipient, and its bytes counted as BytesIn are.
	PacketsOut uint64
	BytesOut   uint64
	// Broadcasts counts packets delivered to this node's sockets through the
	// adapter (a broadcast, a room emit, a Drupal publish, or one from another
	// node) that had a target here; BroadcastDeliveries counts the sockets they reached, so the mean
	// fan-out is BroadcastDeliveries/Broadcasts. Their packets and bytes are
	// in PacketsOut and BytesOut too.
	Broadcasts          uint64
	BroadcastDeliveries uint64
	// Sockets is the number of sockets connected now, by namespace.
	Sockets map[string]int
}

// numDisconnectReasons is the number of DisconnectReason values.
const numDisconnectReasons = 9

// disconnectReasonAt is the i-th DisconnectReason, for counters.disconnects.
func disconnectReasonAt(i int) DisconnectReason {
	switch i {
	case 0:
		return ReasonServerNamespaceDisconnect
	case 1:
		return ReasonClientNamespaceDisconnect
	case 2:
		return ReasonServerShuttingDown
	case 3:
		return ReasonPingTimeout
	case 4:
		return ReasonTransportClose
	case 5:
		return ReasonTransportError
	case 6:
		return ReasonParseError
	case 7:
		return ReasonForcedClose
	case 8:
		return ReasonForcedServerClose
	}
	return ""
}

// counters are the server's counters. The message counters take one atomic
// add per packet received and per packet sent to one socket; a delivery to
// many sockets adds its totals once, after the fan-out, so a broadcast's
// per-socket loop touches no shared cache line.
type counters struct {
	connects, connectErrors atomic.Uint64
	disconnects             [numDisconnectReasons]atomic.Uint64
	packetsIn, bytesIn      atomic.Uint64
	packetsOut, bytesOut    atomic.Uint64
	broadcasts, deliveries  atomic.Uint64
}

func (c *counters) disconnected(r DisconnectReason) {
	for i := range numDisconnectReasons {
		if disconnectReasonAt(i) == r {
			c.disconnects[i].Add(1)
			return
		}
	}
}

// sent records frames queued for n sockets.
func (c *counters) sent(n int, frames []*engine.Frame) {
	if n == 0 {
		return
	}
	size := 0
	for _, f := range frames {
		size += len(f.Packet().Data)
	}
	c.packetsOut.Add(uint64(n))
	c.bytesOut.Add(uint64(n * size))
}

// delivered records one packet's delivery to n of this node's sockets.
func (c *counters) delivered(n int, frames []*engine.Frame) {
	c.broadcasts.Add(1)
	c.deliveries.Add(uint64(n))
	c.sent(n, frames)
}

// Stats returns the counters.
func (srv *Server) Stats() Stats {
	c := &srv.stats
	st := Stats{
		Connects:            c.connects.Load(),
		ConnectErrors:       c.connectErrors.Load(),
		Disconnects:         make(map[DisconnectReason]uint64, numDisconnectReasons),
		PacketsIn:           c.packetsIn.Load(),
		BytesIn:             c.bytesIn.Load(),
		PacketsOut:          c.packetsOut.Load(),
		BytesOut:            c.bytesOut.Load(),
		Broadcasts:          c.broadcasts.Load(),
		BroadcastDeliveries: c.deliveries.Load(),
	}
	for i := range numDisconnectReasons {
		st.Disconnects[disconnectReasonAt(i)] = c.disconnects[i].Load()
	}
	srv.mu.RLock()
	nsps := make([]*Namespace, 0, len(srv.nsps))
	for _, n := range srv.nsps {
		nsps = append(nsps, n)
	}
	srv.mu.RUnlock()
	st.Sockets = make(map[string]int, len(nsps))
	for _, n := range nsps {
		st.Sockets[n.name] = n.Len()
	}
	return st
}
