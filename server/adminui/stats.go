package adminui

import (
	"os"
	"time"

	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// serverStats is server_stats (typed-events.ts, ServerStats).
type serverStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"` // seconds
	ClientsCount        int64             `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent `json:"aggregatedEvents"`
	Namespaces          []namespaceStats  `json:"namespaces"`
}

type namespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// aggregatedEvent is a count of one kind of event in one second, for the
// dashboard's charts (instrument()'s EventBuffer). socketd reports the
// Engine.IO connections and disconnections (by reason) from the counters the
// engine keeps; packets and bytes, which instrument() counts per packet, are
// not counted.
type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     uint64 `json:"count"`
}

// statsLoop sends server_stats every StatsInterval while some admin watches,
// tells the other nodes this one has admins, and follows upgrades.
func (ad *Admin) statsLoop() {
	defer ad.wg.Done()
	tick := time.NewTicker(ad.opts.StatsInterval)
	defer tick.Stop()
	last := ad.srv.Engine().Stats()
	for {
		select {
		case <-ad.stop:
			return
		case <-tick.C:
		}
		now := ad.srv.Engine().Stats()
		agg := aggregate(last, now, time.Now())
		last = now
		if ad.admins.Load() > 0 {
			if n, ok := ad.namespace(ad.adminName); ok {
				ad.announce(n)
			}
		}
		ad.checkUpgrades()
		if !ad.watched() {
			continue
		}
		st := ad.stats(true)
		st.AggregatedEvents = agg
		ad.queue("server_stats", st)
	}
}

// aggregate turns the engine counters' change since the last tick into the
// dashboard's events.
func aggregate(prev, cur engine.Stats, at time.Time) []aggregatedEvent {
	ts := at.Truncate(time.Second).UnixMilli()
	out := []aggregatedEvent{}
	if d := cur.Opened - prev.Opened; d > 0 {
		out = append(out, aggregatedEvent{Timestamp: ts, Type: "rawConnection", Count: d})
	}
	for r := range cur.Closed {
		if d := cur.Closed[r] - prev.Closed[r]; d > 0 {
			out = append(out, aggregatedEvent{Timestamp: ts, Type: "rawDisconnection", SubType: engine.CloseReason(r).String(), Count: d})
		}
	}
	return out
}

// stats describes this node now. withPolling counts the clients on polling,
// which walks every local socket; a greeting leaves it out.
func (ad *Admin) stats(withPolling bool) serverStats {
	st := serverStats{
		ServerID:         ad.serverID,
		Hostname:         ad.hostname,
		PID:              os.Getpid(),
		Uptime:           time.Since(ad.started).Seconds(),
		ClientsCount:     ad.srv.Engine().Stats().Sessions,
		AggregatedEvents: []aggregatedEvent{},
	}
	for _, n := range ad.namespaceList() {
		st.Namespaces = append(st.Namespaces, namespaceStats{Name: n.Name(), SocketsCount: n.Len()})
	}
	if withPolling {
		st.PollingClientsCount = ad.pollingClients()
	}
	return st
}

// pollingClients counts the connections on polling: every local socket's
// session, each session once.
func (ad *Admin) pollingClients() int {
	ad.mu.Lock()
	watches := make(map[string]*roomWatch, len(ad.adapters))
	for name, w := range ad.adapters {
		watches[name] = w
	}
	ad.mu.Unlock()
	seen := make(map[*engine.Session]struct{})
	for name, w := range watches {
		n, ok := ad.namespace(name)
		if !ok {
			continue
		}
		for _, id := range w.Adapter.Sockets(nil) {
			if s, ok := n.Socket(string(id)); ok {
				countPolling(s, seen)
			}
		}
	}
	return len(seen)
}

func countPolling(s *socketio.Socket, seen map[*engine.Session]struct{}) {
	if sess := s.Session(); sess.Transport() == engine.Polling {
		seen[sess] = struct{}{}
	}
}

var _ adapter.Adapter = (*roomWatch)(nil)
