package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socketd/socketd/protocol/engineio"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// serverCollector reads a Socket.IO server's counters and its Engine.IO
// server's at scrape time.
type serverCollector struct {
	io *socketio.Server

	sessions, handshakes, upgrades, upgradesAbandoned, refused, closed *prometheus.Desc
	forwarded, forwardFailed, bridges                                  *prometheus.Desc
	limited, limitAddresses, limitEvicted                              *prometheus.Desc

	sockets, connects, connectErrors, disconnects                *prometheus.Desc
	recovered, recoveryMisses                                    *prometheus.Desc
	packetsIn, bytesIn, packetsOut, bytesOut, broadcasts, fanout *prometheus.Desc
}

// NewServerCollector returns the collector of io's counters: its Engine.IO
// sessions (by transport and protocol revision, upgrades, refused requests,
// closes by reason) and its Socket.IO traffic (sockets, connects,
// disconnects by reason, packets and bytes, broadcast fan-out).
func NewServerCollector(io *socketio.Server) prometheus.Collector {
	return &serverCollector{
		io:                io,
		sessions:          desc("engine", "sessions", "Engine.IO sessions open now, by transport and protocol revision (eio 3: socket.io-client 1.x/2.x, eio 4: 3.x/4.x).", "transport", "eio"),
		handshakes:        desc("engine", "handshakes_total", "Engine.IO sessions opened, by the transport they opened on and protocol revision.", "transport", "eio"),
		upgrades:          desc("engine", "upgrades_total", "Polling sessions upgraded to WebSocket."),
		upgradesAbandoned: desc("engine", "upgrades_abandoned_total", "WebSocket upgrades abandoned before completing (timeout, probe closed); the session goes on polling."),
		refused:           desc("engine", "requests_refused_total", "Engine.IO requests answered with an error, by Engine.IO error code and message.", "code", "error"),
		closed:            desc("engine", "sessions_closed_total", "Engine.IO sessions ended, by close reason; reason=\"slow consumer\" counts outbound queue overflows.", "reason"),
		forwarded:         desc("engine", "forwarded_requests_total", "Requests (polls, posts, WebSocket upgrades) passed to the cluster node that owns their session (no sticky sessions)."),
		forwardFailed:     desc("engine", "forward_failures_total", "Requests whose owning node could not be reached; the client got \"Session ID unknown\" and reconnects."),
		bridges:           desc("engine", "forward_bridges", "Forwarded polls and WebSockets held open now on this node, for sessions another node owns."),
		limited:           desc("engine", "handshakes_limited_total", "Handshakes refused at a limit (503 or 429), by limit: connections, connections per address, handshake rate per address.", "limit"),
		limitAddresses:    desc("engine", "limit_addresses", "Client addresses the per-address limits remember now."),
		limitEvicted:      desc("engine", "limit_addresses_evicted_total", "Addresses the per-address limits forgot before their handshake rate had recovered, the table being full."),
		sockets:           desc("socketio", "sockets", "Socket.IO sockets connected now, by namespace.", "namespace"),
		connects:          desc("socketio", "connects_total", "Sockets admitted to a namespace."),
		connectErrors:     desc("socketio", "connect_errors_total", "Namespace CONNECTs refused (a middleware said no, or the namespace does not exist)."),
		recovered:         desc("socketio", "recovered_total", "Connects that restored a disconnected socket's session (connection-state recovery): same id, rooms and data, missed packets replayed; they count in socketd_socketio_connects_total too."),
		recoveryMisses:    desc("socketio", "recovery_misses_total", "CONNECTs that asked for recovery and got a new session: the session was unknown, expired, or its missed packets no longer kept."),
		disconnects:       desc("socketio", "disconnects_total", "Sockets that left their namespace, by socket.io's disconnect reason.", "reason"),
		packetsIn:         desc("socketio", "packets_received_total", "Socket.IO packets received from clients."),
		bytesIn:           desc("socketio", "bytes_received_total", "Bytes of the Socket.IO packets received (attachments included, transport framing not)."),
		packetsOut:        desc("socketio", "packets_sent_total", "Socket.IO packets queued for clients, one per recipient."),
		bytesOut:          desc("socketio", "bytes_sent_total", "Bytes of the Socket.IO packets queued for clients, counted per recipient."),
		broadcasts:        desc("socketio", "broadcasts_total", "Packets delivered through the adapter (broadcasts, room emits, Drupal publishes, other nodes' broadcasts) that had a recipient on this node."),
		fanout:            desc("socketio", "broadcast_deliveries_total", "Sockets those broadcasts reached; divided by socketd_socketio_broadcasts_total, the mean fan-out."),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sessions, c.handshakes, c.upgrades, c.upgradesAbandoned, c.refused, c.closed,
		c.forwarded, c.forwardFailed, c.bridges,
		c.limited, c.limitAddresses, c.limitEvicted,
		c.sockets, c.connects, c.connectErrors, c.disconnects,
		c.recovered, c.recoveryMisses,
		c.packetsIn, c.bytesIn, c.packetsOut, c.bytesOut, c.broadcasts, c.fanout,
	} {
		ch <- d
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	es := c.io.Engine().Stats()
	for _, t := range []engine.Transport{engine.Polling, engine.WebSocket} {
		for _, rev := range []engineio.Revision{engineio.V3, engineio.V4} {
			eio := strconv.Itoa(int(rev))
			gauge(ch, c.sessions, float64(es.OpenSessions(rev, t)), t.String(), eio)
			counter(ch, c.handshakes, es.HandshakesOf(rev, t), t.String(), eio)
		}
	}
	counter(ch, c.upgrades, es.Upgrades)
	counter(ch, c.upgradesAbandoned, es.UpgradesAbandoned)
	for code, n := range es.Refused {
		counter(ch, c.refused, n, strconv.Itoa(code), engine.ErrorCodeName(code))
	}
	for r := 1; r < engine.NumCloseReasons; r++ {
		counter(ch, c.closed, es.Closed[r], engine.CloseReason(r).String())
	}
	counter(ch, c.forwarded, es.Forwarded)
	counter(ch, c.forwardFailed, es.ForwardFailed)
	gauge(ch, c.bridges, float64(es.Bridges))
	for l := range engine.NumLimits {
		counter(ch, c.limited, es.Limited[l], l.String())
	}
	gauge(ch, c.limitAddresses, float64(es.TrackedAddresses))
	counter(ch, c.limitEvicted, es.AddressesEvicted)

	st := c.io.Stats()
	for nsp, n := range st.Sockets {
		gauge(ch, c.sockets, float64(n), nsp)
	}
	counter(ch, c.connects, st.Connects)
	counter(ch, c.connectErrors, st.ConnectErrors)
	counter(ch, c.recovered, st.Recovered)
	counter(ch, c.recoveryMisses, st.RecoveryMisses)
	for r, n := range st.Disconnects {
		counter(ch, c.disconnects, n, string(r))
	}
	counter(ch, c.packetsIn, st.PacketsIn)
	counter(ch, c.bytesIn, st.BytesIn)
	counter(ch, c.packetsOut, st.PacketsOut)
	counter(ch, c.bytesOut, st.BytesOut)
	counter(ch, c.broadcasts, st.Broadcasts)
	counter(ch, c.fanout, st.BroadcastDeliveries)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
