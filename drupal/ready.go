package drupal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// ProbeAfter is how long Ready trusts the outcome of the latest call to
// Drupal: past it, with no call since, Ready asks Drupal itself.
const ProbeAfter = 10 * time.Second

// probeTimeout bounds a probe when the auth timeout does not.
const probeTimeout = 5 * time.Second

// probeState lets one probe run at a time (a flag, not a lock: nobody waits
// for it); the zero value is ready.
type probeState struct{ running atomic.Bool }

// Ready reports whether Drupal answers: nil when the latest call to it, or
// probe, got an answer (a 4xx or an invalid token is an answer), an error
// naming the failure when it did not (a timeout, a connection refused, a
// 5xx). Calls made for the clients are the evidence, so a busy server never
// probes; when none ended within ProbeAfter, Ready sends a probe first: a GET
// of the message URL without a service key, which Drupal's nodejs module
// answers with a small JSON error (any status below 500 counts), bounded by
// the auth timeout (at most 5 s). Ready waits for it as long as ctx lets it;
// past that the probe goes on alone, one at a time, and Ready answers from
// what it knew.
func (b *Backend) Ready(ctx context.Context) error {
	c := &b.stats
	latest := max(c.lastAnswer.Load(), c.lastFailure.Load())
	if time.Since(time.Unix(0, latest)) > ProbeAfter && b.probe.running.CompareAndSwap(false, true) {
		done := make(chan struct{})
		go func() {
			defer b.probe.running.Store(false)
			defer close(done)
			b.sendProbe(context.WithoutCancel(ctx))
		}()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	ans, fail := c.lastAnswer.Load(), c.lastFailure.Load()
	switch {
	case ans == 0 && fail == 0:
		return fmt.Errorf("drupal: backend %s not reached yet", b.url)
	case fail > ans:
		r := BackendResult(c.lastFailResult.Load())
		return fmt.Errorf("drupal: backend %s unavailable (%s, %s ago)", b.url, r, time.Since(time.Unix(0, fail)).Round(time.Millisecond))
	}
	return nil
}

// sendProbe asks Drupal for the message URL and records the outcome.
func (b *Backend) sendProbe(ctx context.Context) {
	timeout := b.timeout
	if timeout <= 0 || timeout > probeTimeout {
		timeout = probeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := b.probeResult(ctx)
	b.stats.probes.Add(1)
	if r.failed() {
		b.stats.probeFailures.Add(1)
	}
	b.stats.outcome(r, time.Now())
}

func (b *Backend) probeResult(ctx context.Context) BackendResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return ResultUnreachable
	}
	if auth := b.header.Get("Authorization"); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	var resp *http.Response
	if b.rt != nil {
		resp, err = b.rt.RoundTrip(req)
	} else {
		resp, err = b.client.Do(req)
	}
	if err != nil {
		return resultOf(ctx, err)
	}
	// Drain a little so the connection can be reused; the body is not read.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return ResultOK
	}
	return statusResult(resp.StatusCode)
}
