package drupal

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outage turns the failed calls of a Drupal outage into a few log lines: a
// warning naming the kind of failure when it begins, a summary with counts
// at most once a minute while it lasts, and one line when Drupal answers
// again, with how long it took and how many sockets were sent to reconnect.
// A busy site meets an outage with hundreds of sockets authenticating at
// once; a warning each would bury the one line that matters.
//
// The zero value is ready; the bridge owns one.
type outage struct {
	down atomic.Bool // fast path of answered: no lock while Drupal is up

	mu       sync.Mutex
	since    time.Time // the first failure
	kind     string    // of the latest failure
	failures int       // failed calls since the outage began
	sockets  int       // sockets closed for a reconnect since it began
	logged   time.Time // last summary line
}

// outageSummaryEvery spaces the "still unavailable" lines.
const outageSummaryEvery = time.Minute

// failed records a call to Drupal that could not get an answer; socket says
// a socket's transport was closed because of it.
func (o *outage) failed(log *slog.Logger, now time.Time, kind string, err error, socket bool) {
	o.mu.Lock()
	n := 0
	if socket {
		n = 1
	}
	if !o.down.Load() {
		o.down.Store(true)
		o.since, o.kind, o.failures, o.sockets, o.logged = now, kind, 1, n, now
		o.mu.Unlock()
		log.Warn("drupal: backend unavailable; sockets that cannot authenticate are closed so that their clients reconnect, summary every minute until it answers",
			slog.String("kind", kind), slog.String("error", err.Error()))
		return
	}
	o.kind = kind
	o.failures++
	o.sockets += n
	if now.Sub(o.logged) < outageSummaryEvery {
		o.mu.Unlock()
		return
	}
	o.logged = now
	since, failures, sockets := o.since, o.failures, o.sockets
	o.mu.Unlock()
	log.Warn("drupal: backend still unavailable",
		slog.String("kind", kind), slog.Duration("for", now.Sub(since).Round(time.Second)),
		slog.Int("failed_calls", failures), slog.Int("sockets_sent_to_reconnect", sockets))
}

// answered records an answer from Drupal (whatever it said); it ends an
// outage.
func (o *outage) answered(log *slog.Logger, now time.Time) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	if !o.down.Load() {
		o.mu.Unlock()
		return
	}
	o.down.Store(false)
	since, failures, sockets := o.since, o.failures, o.sockets
	o.mu.Unlock()
	log.Info("drupal: backend answering again",
		slog.Duration("after", now.Sub(since).Round(time.Millisecond)),
		slog.Int("failed_calls", failures), slog.Int("sockets_sent_to_reconnect", sockets))
}
