package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the publisher: the one path by which this node's messages
// reach Redis. Callers queue encoded messages (send); one goroutine takes
// what is queued and publishes it in one pipelined round trip, in the order
// it was queued. The queue is bounded in bytes, so a Redis that is slow,
// frozen or gone costs at most Config.PublishQueueBytes and never holds up
// a caller that does not ask for the outcome.

// pubMsg is one message for the publisher.
type pubMsg struct {
	channel string
	// buf is the encoded message. From send on the publisher owns it and
	// returns it to bufPool once published or dropped.
	buf *[]byte
	// seq is an ordered operation's sequence number: when the publish
	// fails, the operation is applied here at once (ordered.run).
	seq uint64
	// done receives the outcome, for a caller that waits; nil otherwise.
	done chan error
	// bytes is what the message counts against the queue's limit.
	bytes int
}

// msgOverhead is what a queued message costs beside its buffer and its
// channel name (the queue entry, go-redis's command and arguments), counted
// against Config.PublishQueueBytes.
const msgOverhead = 256

// maxBatchBytes bounds one round trip: a queue fuller than this (Redis fell
// behind) goes out in several pipelines, each within the client's
// read and write timeouts.
const maxBatchBytes = 1 << 20

// outbox is the publisher's queue.
type outbox struct {
	mu     sync.Mutex // a leaf: appends and swaps only
	queue  []pubMsg
	bytes  int // queued plus being published; at most limit
	limit  int
	closed bool
	kick   chan struct{} // wakes the publisher
	// freed is closed (and replaced) when bytes are released, waking
	// senders that wait for room (Config.PublishFullWait).
	freed chan struct{}
}

var errQueueFull = errors.New("publish queue full")

// push queues m, or refuses it when the queue would pass its limit or the
// Cluster is closed. With a wait over zero a full queue is waited on for
// that long (or until ctx ends) before m is refused: a burst of broadcasts
// faster than one round trip drains is slowed to Redis's pace instead of
// losing its tail, while a Redis that stopped answering holds a sender up
// for that bound at most (and not at all once the bus is known down).
func (o *outbox) push(ctx context.Context, m pubMsg, wait time.Duration) error {
	m.bytes = cap(*m.buf) + len(m.channel) + msgOverhead
	var timer *time.Timer
	o.mu.Lock()
	for {
		if o.closed {
			o.mu.Unlock()
			return errClosed
		}
		if o.bytes+m.bytes <= o.limit {
			break
		}
		if wait <= 0 || ctx.Err() != nil {
			o.mu.Unlock()
			return errQueueFull
		}
		if o.freed == nil {
			o.freed = make(chan struct{})
		}
		freed := o.freed
		o.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-freed:
		case <-timer.C:
			return errQueueFull
		case <-ctx.Done():
			return errQueueFull
		}
		o.mu.Lock()
	}
	o.queue = append(o.queue, m)
	o.bytes += m.bytes
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// take returns everything queued and leaves spare (emptied) as the queue.
func (o *outbox) take(spare []pubMsg) []pubMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queue
	o.queue = spare[:0]
	return q
}

// release gives back the bytes of messages published or dropped.
func (o *outbox) release(n int) {
	o.mu.Lock()
	o.bytes -= n
	if o.freed != nil {
		close(o.freed)
		o.freed = nil
	}
	o.mu.Unlock()
}

// close refuses every later push and returns what is queued.
func (o *outbox) close() []pubMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	q := o.queue
	o.queue = nil
	return q
}

func (o *outbox) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes
}

var errClosed = errors.New("the cluster is closed")

// send hands m to the publisher. Without wait it returns at once: nil when
// m is queued, the reason when it was dropped (bus down, queue full). With
// wait it returns m's outcome, or ErrTimeout when neither ctx nor
// RequestTimeout leave time to learn it (m stays queued: it is published,
// or dropped and its ordered operation applied here, later). When m is
// dropped, its ordered operation has been applied here before send returns.
func (c *Cluster) send(ctx context.Context, m pubMsg, wait bool) error {
	if wait {
		m.done = make(chan error, 1)
	}
	if !c.up.Load() {
		return c.fail(m, ErrBusDown)
	}
	if err := c.out.push(ctx, m, c.cfg.PublishFullWait); err != nil {
		if errors.Is(err, errQueueFull) {
			c.queueFull.Add(1)
			err = fmt.Errorf("%w (%d bytes)", err, c.out.limit)
		}
		return c.fail(m, err)
	}
	if !wait {
		return nil
	}
	t := time.NewTimer(c.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case err := <-m.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: publish not confirmed: %w", ErrTimeout, ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w: publish not confirmed within %v", ErrTimeout, c.cfg.RequestTimeout)
	}
}

// enqueue queues an answer to another node's request. It never waits (the
// reader calls it): a full queue drops the answer, counted.
func (c *Cluster) enqueue(channel string, msg []byte) {
	_ = c.send(noWait, pubMsg{channel: channel, buf: &msg}, false)
}

// noWait is a context already done: a send with it never waits for room in
// the queue (the reader's answers).
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// fail drops m: counted, its ordered operation applied here at once, its
// waiter told. It returns the error the waiter gets.
func (c *Cluster) fail(m pubMsg, err error) error {
	c.dropped.Add(1)
	if !errors.Is(err, ErrBusDown) {
		err = fmt.Errorf("%w: %w", ErrBusDown, err)
	}
	putBuf(m.buf)
	if m.seq != 0 {
		c.ord.run(m.seq)
	}
	if m.done != nil {
		m.done <- err
	}
	return err
}

func (c *Cluster) sent(m pubMsg) {
	c.published.Add(1)
	putBuf(m.buf)
	if m.done != nil {
		m.done <- nil
	}
}

// publisher is the goroutine that publishes the queue.
func (c *Cluster) publisher() {
	pipe := c.client.Pipeline()
	var spare []pubMsg
	for {
		select {
		case <-c.out.kick:
		case <-c.ctx.Done():
			for _, m := range c.out.close() {
				_ = c.fail(m, errClosed)
			}
			return
		}
		for {
			q := c.out.take(spare)
			if len(q) == 0 {
				spare = q
				break
			}
			for rest := q; len(rest) > 0; {
				n, bytes := 0, 0
				for n < len(rest) && (n == 0 || bytes+rest[n].bytes <= maxBatchBytes) {
					bytes += rest[n].bytes
					n++
				}
				c.publishBatch(pipe, rest[:n])
				c.out.release(bytes)
				rest = rest[n:]
			}
			clear(q) // the buffers are back in the pool
			spare = q[:0]
		}
	}
}

// publishBatch publishes msgs in one round trip, in their order.
func (c *Cluster) publishBatch(pipe redis.Pipeliner, msgs []pubMsg) {
	if !c.up.Load() {
		for _, m := range msgs {
			_ = c.fail(m, ErrBusDown)
		}
		return
	}
	// The bound applies to go-redis's retries and pool waits; one read or
	// write is bounded by the client's own timeouts.
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	for _, m := range msgs {
		if c.cfg.Sharded {
			pipe.SPublish(ctx, m.channel, *m.buf)
		} else {
			pipe.Publish(ctx, m.channel, *m.buf)
		}
	}
	cmds, _ := pipe.Exec(ctx)
	c.batches.Add(1)
	var lost error
	for i, m := range msgs {
		var err error
		if i < len(cmds) {
			err = cmds[i].Err()
		} else {
			err = errors.New("no reply")
		}
		if err == nil {
			c.sent(m)
			continue
		}
		c.log.Debug("redis adapter: publish failed", "channel", m.channel, "err", err)
		var rerr redis.Error
		if !errors.As(err, &rerr) {
			lost = err
		}
		_ = c.fail(m, err)
	}
	if lost != nil {
		c.probe(lost)
	}
}

// probe is the publisher's hint to the subscription after a publish failed
// on the network (not with a Redis error reply): it pings the subscription
// connection at once, instead of after HealthCheckInterval of quiet, and
// replaces it when the answer does not come within probeWait, which takes
// the node off the bus (ordered operations applied here, requests ended,
// later publishes refused at once) until Redis answers again. A Redis that
// was killed closes the connection and is noticed without this; a frozen
// one, or a network that drops packets, is noticed here.
func (c *Cluster) probe(cause error) {
	if !c.up.Load() || c.ctx.Err() != nil {
		return
	}
	ps := c.ps.Load()
	answered := c.armProbe()
	wait := c.probeWait()
	if err := ps.Ping(c.ctx); err == nil {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-answered:
			return
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
	c.replacePubSub(ps, fmt.Errorf("a publish failed (%v) and PING got no answer within %v", cause, wait))
}

// probeWait is how long a probe waits for PONG: half a second, or
// HealthCheckInterval if shorter. It follows a publish that failed, often
// by the client's read timeout, so Redis has not answered for longer
// already.
func (c *Cluster) probeWait() time.Duration {
	return min(c.cfg.HealthCheckInterval, 500*time.Millisecond)
}

// armProbe returns a channel closed when the subscription connection next
// brings a PONG.
func (c *Cluster) armProbe() <-chan struct{} {
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	if c.probeCh == nil {
		c.probeCh = make(chan struct{})
	}
	c.probing.Store(true)
	return c.probeCh
}

// pong records a PONG on the subscription connection (run by the reader).
func (c *Cluster) pong() {
	if !c.probing.Load() {
		return
	}
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	if c.probeCh != nil {
		close(c.probeCh)
		c.probeCh = nil
	}
	c.probing.Store(false)
}

// replacePubSub swaps the subscription connection old for a new one (not
// yet connected) and closes old, which ends the reader's wait on it: the
// reader takes the node off the bus and reconnects with the new one.
func (c *Cluster) replacePubSub(old *redis.PubSub, reason error) {
	c.mu.Lock()
	if c.closed || c.ps.Load() != old {
		c.mu.Unlock()
		return
	}
	c.ps.Store(c.newPubSub()) // no I/O: go-redis connects on first use
	c.mu.Unlock()
	c.log.Warn("redis adapter: replacing the subscription connection", "reason", reason)
	_ = old.Close()
}

// bufPool recycles the buffers messages are encoded into: the publisher
// returns them once go-redis has written them.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuf keeps rare large messages from pinning large buffers.
const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if bp == nil || cap(*bp) > maxPooledBuf {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// encoded returns a pooled buffer holding what encode appends to it.
func encoded(encode func([]byte) ([]byte, error)) (*[]byte, error) {
	bp := getBuf()
	b, err := encode((*bp)[:0])
	if err != nil {
		putBuf(bp)
		return nil, err
	}
	*bp = b
	return bp, nil
}
