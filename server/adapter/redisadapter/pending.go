package redisadapter

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter/wire"
)

// requests are this node's requests waiting for answers, by requestId.
type requests struct {
	mu  sync.Mutex // a leaf
	m   map[string]*pending
	seq atomic.Uint64
}

// pending is one request. Answers are added by the reader goroutine; the
// requester waits on done, ctx and its timer.
type pending struct {
	kind wire.RequestType

	mu       sync.Mutex
	need     int // answers still expected; done closes when it reaches 0
	done     chan struct{}
	closed   bool
	fetched  []adapter.SocketInfo
	rooms    []adapter.Room
	answers  []socketio.Args
	count    int
	expect   func(int)       // broadcast with acks: a node's client count
	ack      adapter.AckFunc // broadcast with acks: a client's answer
	localSet bool            // a counted ordered broadcast: the local count arrived
	err      error           // why done closed early (the bus went down)
}

func (c *Cluster) newRequestID() string {
	return c.uid + "-" + strconv.FormatUint(c.reqs.seq.Add(1), 36)
}

func (c *Cluster) addPending(id string, p *pending) {
	p.done = make(chan struct{})
	if p.need <= 0 {
		p.closed = true
		close(p.done)
	}
	c.reqs.mu.Lock()
	c.reqs.m[id] = p
	c.reqs.mu.Unlock()
}

func (c *Cluster) dropPending(id string) {
	c.reqs.mu.Lock()
	delete(c.reqs.m, id)
	c.reqs.mu.Unlock()
}

// wait waits for every answer, ctx, or RequestTimeout, whichever comes
// first, and forgets the request. It returns ErrTimeout when answers are
// missing.
func (c *Cluster) wait(ctx context.Context, id string, p *pending) error {
	defer c.dropPending(id)
	t := time.NewTimer(c.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-t.C:
	case <-ctx.Done():
	}
	p.mu.Lock()
	missing := p.need
	p.mu.Unlock()
	return fmt.Errorf("%w: %d answers missing", ErrTimeout, missing)
}

// failPending ends every request waiting for answers: the subscription
// that would bring them is gone. Requesters return what they have with err.
func (c *Cluster) failPending(err error) {
	c.reqs.mu.Lock()
	ps := make([]*pending, 0, len(c.reqs.m))
	for _, p := range c.reqs.m {
		ps = append(ps, p)
	}
	c.reqs.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		if !p.closed && p.kind != wire.BroadcastWithAck {
			p.err, p.closed = err, true
			close(p.done)
		}
		p.mu.Unlock()
	}
}

// answered records one answer; the caller holds p.mu.
func (p *pending) answered() {
	p.need--
	if p.need <= 0 && !p.closed {
		p.closed = true
		close(p.done)
	}
}

// onResponse routes an answer to the request it answers (run by the
// reader). Answers to other nodes' requests are skipped after reading their
// requestId.
func (c *Cluster) onResponse(b []byte) {
	id, err := wire.ResponseRequestID(b)
	if err != nil {
		c.bad("response", err)
		return
	}
	c.reqs.mu.Lock()
	p := c.reqs.m[id]
	c.reqs.mu.Unlock()
	if p == nil {
		return
	}
	resp, err := wire.DecodeResponse(b, p.kind)
	if err != nil {
		c.bad("response", err)
		return
	}
	c.answer(p, &resp)
}

func (c *Cluster) answer(p *pending, resp *wire.Response) {
	switch p.kind {
	case wire.BroadcastWithAck:
		// Node count first, then one message per client answer; the caller's
		// collector (socketio's) knows how many to wait for.
		switch resp.Type {
		case wire.BroadcastClientCount:
			p.expect(resp.ClientCount)
		case wire.BroadcastAck:
			p.ack(resp.SID, resp.Ack)
		}
		return
	case wire.BroadcastClientCount:
		if resp.Type != wire.BroadcastClientCount {
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	switch p.kind {
	case wire.RemoteFetch:
		p.fetched = append(p.fetched, resp.Fetched...)
	case wire.AllRooms:
		p.rooms = append(p.rooms, resp.Rooms...)
	case wire.ServerSideEmit:
		var a socketio.Args
		if resp.Data != nil {
			a.Values = append(a.Values, resp.Data)
		}
		p.answers = append(p.answers, a)
	case wire.BroadcastClientCount:
		p.count += resp.ClientCount
	}
	p.answered()
}

// ordered are this node's operations with adapter.Flags.Ordered that were
// published and wait for their echo from the bus to be applied here.
type ordered struct {
	mu  sync.Mutex // a leaf
	seq uint64
	ops map[uint64]*orderedOp
}

type orderedOp struct {
	apply func() int // acts on this node's sockets; returns how many
	count *pending   // a counted broadcast's request, or nil
}

// maxOrdered bounds the operations waiting for their echo. Past it an
// operation is applied at once (in this node's order, not the bus's): a
// bus that slow is not keeping order anyway.
const maxOrdered = 10000

// add registers op and returns its sequence number, or 0 when full.
func (o *ordered) add(op *orderedOp) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ops) >= maxOrdered {
		return 0
	}
	o.seq++
	o.ops[o.seq] = op
	return o.seq
}

func (o *ordered) take(seq uint64) *orderedOp {
	o.mu.Lock()
	defer o.mu.Unlock()
	op := o.ops[seq]
	delete(o.ops, seq)
	return op
}

// run applies the operation seq if it is still waiting (its echo came, or
// its publish failed); whoever takes it first applies it, once.
func (o *ordered) run(seq uint64) {
	if op := o.take(seq); op != nil {
		op.do()
	}
}

func (op *orderedOp) do() {
	n := op.apply()
	if p := op.count; p != nil {
		p.mu.Lock()
		p.count += n
		if !p.localSet {
			p.localSet = true
			p.answered()
		}
		p.mu.Unlock()
	}
}

// flush applies every waiting operation, in the order they were issued:
// the subscription was lost, so their echoes will not come.
func (o *ordered) flush() {
	o.mu.Lock()
	seqs := make([]uint64, 0, len(o.ops))
	for s := range o.ops {
		seqs = append(seqs, s)
	}
	o.mu.Unlock()
	slices.SortFunc(seqs, cmp.Compare)
	for _, s := range seqs {
		o.run(s)
	}
}
