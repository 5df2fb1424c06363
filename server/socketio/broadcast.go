package socketio

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// BroadcastOperator selects sockets of a namespace and acts on all of them. It
// is an immutable value: every method returns a new operator.
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []adapter.Room
	except []adapter.Room
	flags  adapter.Flags
}

// To adds rooms to the target (a socket in any of them is targeted, once).
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.rooms = append(slices.Clip(b.rooms), toRooms(rooms)...)
	return b
}

// In is To.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms (a socket id is a room).
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.except = append(slices.Clip(b.except), toRooms(rooms)...)
	return b
}

// Volatile lets the packet be dropped for clients that cannot take it now.
func (b BroadcastOperator) Volatile() BroadcastOperator { b.flags.Volatile = true; return b }

// Local restricts the broadcast to this node.
func (b BroadcastOperator) Local() BroadcastOperator { b.flags.Local = true; return b }

// Ordered applies the operation on this node in the cluster's order (see
// adapter.Flags.Ordered): operations issued one after another through different
// nodes reach every socket in that order. On a single node it changes nothing.
func (b BroadcastOperator) Ordered() BroadcastOperator { b.flags.Ordered = true; return b }

// Timeout bounds EmitWithAck.
func (b BroadcastOperator) Timeout(d time.Duration) BroadcastOperator { b.flags.Timeout = d; return b }

func (b BroadcastOperator) opts() adapter.BroadcastOptions {
	return adapter.BroadcastOptions{Rooms: b.rooms, Except: b.except, Flags: b.flags}
}

// Emit sends an event to the targeted sockets (arguments as in ToArgs). This
// node's sockets get it at once, encoded once; with a cluster adapter the call
// also hands the event to the bus for the other nodes: the Redis adapter queues
// it and returns without waiting for Redis (with Ordered it waits until the
// event is on the bus, within its RequestTimeout; see the adapter).
func (b BroadcastOperator) Emit(event string, args ...any) error {
	a, err := ToArgs(args...)
	if err != nil {
		return err
	}
	return b.EmitArgs(event, a)
}

// EmitArgs is Emit with prepared arguments.
func (b BroadcastOperator) EmitArgs(event string, args psio.Args) error {
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return err
	}
	return b.nsp.adapter.Broadcast(context.Background(), &p, b.opts())
}

// EmitCount is EmitArgs that reports how many sockets the event was written to,
// on every node that reports it before ctx ends (see adapter.Adapter's
// BroadcastCount).
func (b BroadcastOperator) EmitCount(ctx context.Context, event string, args psio.Args) (int, error) {
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return 0, err
	}
	return b.nsp.adapter.BroadcastCount(ctx, &p, b.opts())
}

// AckResponse is one client's answer to a broadcast with acks.
type AckResponse struct {
	SocketID string
	Args     psio.Args
}

// EmitWithAck sends an event to the targeted sockets, on every node, and waits
// for each client's answer (socket.io's timeout(d).emitWithAck; arguments as in
// ToArgs). It returns when every client reached has answered, or with the
// answers received so far and ErrAckTimeout when the Timeout or ctx's deadline
// passes first (ctx's error if ctx is cancelled). Each node reports how many of
// its clients it reached, so the wait ends as soon as they all answered; a
// client that disconnects without answering holds the wait to its bound, so
// one is required: without a Timeout and a ctx deadline it returns
// ErrAckUnbounded. When the adapter cannot reach the other nodes, the answers
// of this node's clients are returned with the adapter's error.
//
// It blocks: called from an event handler, it holds up that client's later
// packets, its own answer included if it is a target. Call it from another
// goroutine there.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]AckResponse, error) {
	a, err := ToArgs(args...)
	if err != nil {
		return nil, err
	}
	return b.EmitArgsWithAck(ctx, event, a)
}

// EmitArgsWithAck is EmitWithAck with prepared arguments.
func (b BroadcastOperator) EmitArgsWithAck(ctx context.Context, event string, args psio.Args) ([]AckResponse, error) {
	if b.flags.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.flags.Timeout)
		defer cancel()
	} else if deadline, ok := ctx.Deadline(); ok {
		// The other nodes learn the bound from the flags.
		b.flags.Timeout = max(time.Until(deadline), time.Millisecond)
	} else {
		return nil, ErrAckUnbounded
	}
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return nil, err
	}
	p.ID, p.HasID = b.nsp.nextAckID(), true
	// A cluster whose bus is down still reaches this node's clients: their
	// answers come back with the bus's error.
	nodes, busErr := 1, error(nil)
	if !b.flags.Local {
		if n, err := b.nsp.adapter.ServerCount(ctx); err != nil {
			busErr = err
		} else {
			nodes = n
		}
	}
	col := &ackCollector{nodes: nodes, done: make(chan struct{})}
	if err := b.nsp.adapter.BroadcastWithAck(ctx, &p, b.opts(), col.expect, col.ack); err != nil {
		// What the adapter could do it did, reporting its reach through
		// expect; no other node will report now.
		busErr = cmp.Or(busErr, err)
		col.noMoreNodes()
	}
	select {
	case <-col.done:
		return col.result(), busErr
	case <-ctx.Done():
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = ErrAckTimeout
		}
		return col.result(), errors.Join(busErr, err)
	}
}

// ackCollector gathers the answers to one broadcast with acks. Nodes report
// their client counts (expect) and clients their answers (ack) in any order,
// from any goroutine; done closes once every node has reported and as many
// answers as clients have arrived.
type ackCollector struct {
	mu        sync.Mutex
	nodes     int // nodes still to report their client count
	expected  int
	responses []AckResponse
	done      chan struct{}
	finished  bool // done is closed or the caller stopped waiting
}

func (c *ackCollector) expect(n int) {
	c.mu.Lock()
	c.nodes--
	c.expected += n
	c.checkLocked()
	c.mu.Unlock()
}

func (c *ackCollector) ack(id adapter.SocketID, args psio.Args) {
	c.mu.Lock()
	if !c.finished {
		c.responses = append(c.responses, AckResponse{SocketID: string(id), Args: args})
		c.checkLocked()
	}
	c.mu.Unlock()
}

// noMoreNodes stops waiting for node reports: the answers expected are those
// of the nodes that have reported.
func (c *ackCollector) noMoreNodes() {
	c.mu.Lock()
	c.nodes = 0
	c.checkLocked()
	c.mu.Unlock()
}

func (c *ackCollector) checkLocked() {
	if !c.finished && c.nodes <= 0 && len(c.responses) >= c.expected {
		c.finished = true
		close(c.done)
	}
}

// result stops the collection and returns the answers; later ones are dropped.
func (c *ackCollector) result() []AckResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.finished {
		c.finished = true
		close(c.done)
	}
	return c.responses
}
