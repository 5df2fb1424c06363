package socketio

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
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

// Emit sends an event to the targeted sockets (arguments as in ToArgs).
func (b BroadcastOperator) Emit(event string, args ...any) error {
	a, err := ToArgs(args...)
	if err != nil {
		return err
	}
	return b.EmitArgs(event, a)
}

// EmitArgs is Emit with prepared arguments.
func (b BroadcastOperator) EmitArgs(event string, args socketio.Args) error {
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return err
	}
	return b.nsp.adapter.Broadcast(context.Background(), &p, b.opts())
}

// EmitCount is EmitArgs that reports how many sockets the event was written to,
// on every node that reports it before ctx ends (see adapter.Adapter's
// BroadcastCount).
func (b BroadcastOperator) EmitCount(ctx context.Context, event string, args socketio.Args) (int, error) {
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return 0, err
	}
	return b.nsp.adapter.BroadcastCount(ctx, &p, b.opts())
}

// AckResponse is one client's answer to a broadcast with acks.
type AckResponse struct {
	SocketID string
	Args     socketio.Args
}

// EmitWithAck sends an event and collects every targeted client's answer. fn is
// called once: with all answers, or with those received and ErrAckTimeout when
// the Timeout passes first.
func (b BroadcastOperator) EmitWithAck(event string, fn func([]AckResponse, error), args ...any) error {
	a, err := ToArgs(args...)
	if err != nil {
		return err
	}
	p, err := eventPacket(b.nsp.name, event, a)
	if err != nil {
		return err
	}
	p.ID, p.HasID = b.nsp.nextAckID(), true
	nodes, err := b.nsp.adapter.ServerCount(context.Background())
	if err != nil {
		return err
	}
	if b.flags.Local {
		nodes = 1
	}
	col := &ackCollector{fn: fn, nodes: nodes}
	col.mu.Lock()
	if b.flags.Timeout > 0 {
		col.timer = time.AfterFunc(b.flags.Timeout, func() { col.finish(ErrAckTimeout) })
	}
	col.mu.Unlock()
	err = b.nsp.adapter.BroadcastWithAck(context.Background(), &p, b.opts(), col.expect, col.ack)
	if err != nil {
		col.finish(err)
	}
	return err
}

type ackCollector struct {
	mu        sync.Mutex
	fn        func([]AckResponse, error)
	nodes     int // nodes still to report their client count
	expected  int
	responses []AckResponse
	timer     *time.Timer
	done      bool
}

func (c *ackCollector) expect(n int) {
	c.mu.Lock()
	c.nodes--
	c.expected += n
	c.mu.Unlock()
	c.check()
}

func (c *ackCollector) ack(id adapter.SocketID, args socketio.Args) {
	c.mu.Lock()
	if !c.done {
		c.responses = append(c.responses, AckResponse{SocketID: string(id), Args: args})
	}
	c.mu.Unlock()
	c.check()
}

func (c *ackCollector) check() {
	c.mu.Lock()
	complete := !c.done && c.nodes <= 0 && len(c.responses) >= c.expected
	c.mu.Unlock()
	if complete {
		c.finish(nil)
	}
}

func (c *ackCollector) finish(err error) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.done = true
	if c.timer != nil {
		c.timer.Stop()
	}
	res := c.responses
	c.mu.Unlock()
	c.fn(res, err)
}

// FetchSockets describes the targeted sockets.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]adapter.SocketInfo, error) {
	return b.nsp.adapter.FetchSockets(ctx, b.opts())
}

// SocketsJoin makes the targeted sockets join rooms.
func (b BroadcastOperator) SocketsJoin(rooms ...string) error {
	return b.nsp.adapter.AddSockets(context.Background(), b.opts(), toRooms(rooms))
}

// SocketsLeave makes the targeted sockets leave rooms.
func (b BroadcastOperator) SocketsLeave(rooms ...string) error {
	return b.nsp.adapter.DelSockets(context.Background(), b.opts(), toRooms(rooms))
}

// DisconnectSockets disconnects the targeted sockets; close closes their
// connections too.
func (b BroadcastOperator) DisconnectSockets(close bool) error {
	return b.nsp.adapter.DisconnectSockets(context.Background(), b.opts(), close)
}
