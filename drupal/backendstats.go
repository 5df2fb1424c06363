package drupal

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// BackendCall is a kind of call to Drupal's message endpoint.
type BackendCall uint8

// Calls to Drupal.
const (
	// CallAuthenticate asks whether a client's auth token is valid.
	CallAuthenticate BackendCall = iota
	// CallMessage is any other message (userOnline, userOffline, client
	// messages to channels and users, an extension's).
	CallMessage
	// NumBackendCalls bounds BackendCall.
	NumBackendCalls
)

func (c BackendCall) String() string {
	if c == CallAuthenticate {
		return "authenticate"
	}
	return "message"
}

// BackendResult is how a call to Drupal ended.
type BackendResult uint8

// Results of a call to Drupal. Drupal is available after the first three:
// it answered (a 4xx is an answer: Drupal saying no). The others are the
// failures Ready reports.
const (
	// ResultOK: a 200 whose reply was read (for authenticate: a valid
	// authentication of this client).
	ResultOK BackendResult = iota
	// ResultRefused: authenticate answered, but not with a valid
	// authentication (the token is not valid, the reply carries an "error",
	// or it names another client).
	ResultRefused
	// ResultHTTP4xx: Drupal answered 4xx (but 408 or 429), 3xx, 1xx or a 2xx
	// other than 200.
	ResultHTTP4xx
	// ResultHTTP5xx: a 5xx, 408 Request Timeout or 429 Too Many Requests:
	// Drupal or a proxy in front of it could not serve the call.
	ResultHTTP5xx
	// ResultBadReply: authenticate's 200 reply is not the JSON object expected.
	ResultBadReply
	// ResultTimeout: no answer within the auth timeout.
	ResultTimeout
	// ResultUnreachable: the connection failed (refused, reset, DNS, TLS).
	ResultUnreachable
	// ResultCanceled: the call was abandoned (the client left, the bridge
	// closed); it says nothing of Drupal.
	ResultCanceled
	// NumBackendResults bounds BackendResult.
	NumBackendResults
)

func (r BackendResult) String() string {
	switch r {
	case ResultOK:
		return "ok"
	case ResultRefused:
		return "refused"
	case ResultHTTP4xx:
		return "http_4xx"
	case ResultHTTP5xx:
		return "http_5xx"
	case ResultBadReply:
		return "bad_reply"
	case ResultTimeout:
		return "timeout"
	case ResultUnreachable:
		return "unreachable"
	case ResultCanceled:
		return "canceled"
	}
	return "unknown"
}

// answered reports whether Drupal answered the call (available).
func (r BackendResult) answered() bool { return r <= ResultHTTP4xx }

// failed reports whether the call says Drupal is unavailable.
func (r BackendResult) failed() bool { return !r.answered() && r != ResultCanceled }

// resultOf classifies a call's outcome from its error and its context.
func resultOf(ctx context.Context, err error) BackendResult {
	var se *StatusError
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrWrongClient), errors.Is(err, ErrBackendError):
		return ResultRefused
	case errors.As(err, &se):
		return statusResult(se.Code)
	case errors.Is(err, ErrBadReply):
		return ResultBadReply
	case errors.Is(err, context.Canceled) && ctx.Err() == context.Canceled:
		return ResultCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ResultTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ResultTimeout
	}
	return ResultUnreachable
}

func statusResult(status int) BackendResult {
	if status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests {
		return ResultHTTP5xx
	}
	return ResultHTTP4xx
}

// NumLatencyBuckets is the number of finite buckets of Histogram.
const NumLatencyBuckets = 11

// LatencyBound is the upper bound of latency bucket i, in seconds:
// Prometheus's default buckets, from a fast Drupal (5 ms) to past the auth
// timeout's default (5 s).
func LatencyBound(i int) float64 {
	switch i {
	case 0:
		return 0.005
	case 1:
		return 0.01
	case 2:
		return 0.025
	case 3:
		return 0.05
	case 4:
		return 0.1
	case 5:
		return 0.25
	case 6:
		return 0.5
	case 7:
		return 1
	case 8:
		return 2.5
	case 9:
		return 5
	case 10:
		return 10
	}
	return 0
}

// Histogram is a snapshot of call durations.
type Histogram struct {
	// Buckets[i] counts the calls that took at most LatencyBound(i) seconds
	// and more than LatencyBound(i-1) (not cumulative); the calls slower than
	// the last bound are Count minus their sum.
	Buckets [NumLatencyBuckets]uint64
	Count   uint64
	Sum     time.Duration
}

// BackendStats is a snapshot of the counters of the calls to Drupal.
type BackendStats struct {
	// Results counts the calls by kind and result.
	Results [NumBackendCalls][NumBackendResults]uint64
	// Duration is the time the calls took, by kind; canceled calls are left
	// out.
	Duration [NumBackendCalls]Histogram
	// Probes counts the requests Ready made itself, with ProbeFailures the
	// ones Drupal did not answer.
	Probes, ProbeFailures uint64
}

// backendCounters are a Backend's counters and its view of Drupal's
// availability. Each call adds to a few atomics once it ends.
type backendCounters struct {
	results  [NumBackendCalls][NumBackendResults]atomic.Uint64
	buckets  [NumBackendCalls][NumLatencyBuckets + 1]atomic.Uint64
	sumNanos [NumBackendCalls]atomic.Int64

	probes, probeFailures atomic.Uint64

	// lastAnswer and lastFailure are the unix nanoseconds at which the latest
	// call (or probe) that Drupal answered, and the latest one it did not,
	// ended; lastFailResult is that failure's BackendResult.
	lastAnswer, lastFailure atomic.Int64
	lastFailResult          atomic.Uint32
}

// record counts one call that started at start and ends now.
func (c *backendCounters) record(call BackendCall, r BackendResult, start time.Time) {
	now := time.Now()
	d := now.Sub(start)
	c.results[call][r].Add(1)
	if r == ResultCanceled {
		return
	}
	i := 0
	for i < NumLatencyBuckets && d.Seconds() > LatencyBound(i) {
		i++
	}
	c.buckets[call][i].Add(1)
	c.sumNanos[call].Add(int64(d))
	c.outcome(r, now)
}

// outcome updates the availability view with a call's or probe's result.
func (c *backendCounters) outcome(r BackendResult, now time.Time) {
	switch {
	case r.answered():
		c.lastAnswer.Store(now.UnixNano())
	case r.failed():
		c.lastFailResult.Store(uint32(r))
		c.lastFailure.Store(now.UnixNano())
	}
}

// Stats returns the counters of the calls made to Drupal.
func (b *Backend) Stats() BackendStats {
	c := &b.stats
	st := BackendStats{Probes: c.probes.Load(), ProbeFailures: c.probeFailures.Load()}
	for call := range NumBackendCalls {
		for r := range NumBackendResults {
			st.Results[call][r] = c.results[call][r].Load()
		}
		h := &st.Duration[call]
		for i := range NumLatencyBuckets + 1 {
			n := c.buckets[call][i].Load()
			if i < NumLatencyBuckets {
				h.Buckets[i] = n
			}
			h.Count += n
		}
		h.Sum = time.Duration(c.sumNanos[call].Load())
	}
	return st
}

// logAttrs name a failed call in its log line: the URL called and, when
// Drupal answered, the HTTP status.
func (b *Backend) logAttrs(err error) []any {
	attrs := []any{slog.String("url", b.url)}
	var se *StatusError
	if errors.As(err, &se) {
		attrs = append(attrs, slog.Int("status", se.Code))
	}
	return attrs
}

// AuthStats counts how authenticate events were served, on this node.
type AuthStats struct {
	// CacheHits counts authentications applied from the auth cache;
	// CacheMisses counts those that asked Drupal (CallAuthenticate).
	CacheHits, CacheMisses uint64
	// Sockets is the number of this node's sockets authenticated now
	// (Stats().Sockets counts the cluster's when the store is shared).
	Sockets int64
}

type authCounters struct {
	hits, misses atomic.Uint64
	sockets      atomic.Int64
}

// AuthStats returns the auth counters of this node.
func (b *Bridge) AuthStats() AuthStats {
	return AuthStats{
		CacheHits:   b.authCount.hits.Load(),
		CacheMisses: b.authCount.misses.Load(),
		Sockets:     b.authCount.sockets.Load(),
	}
}
