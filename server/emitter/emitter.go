// Package emitter publishes into a socket.io cluster on Redis without being
// a node: the Go counterpart of @socket.io/redis-emitter 5.x, on the same
// wire (the classic adapter's, package redisadapter/wire), so socketd nodes
// and Node nodes alike deliver what it sends.
//
//	e := emitter.New(emitter.Config{Client: redis.NewClient(opts)})
//	err := e.To("room1").Except("sid").Emit(ctx, "news", map[string]int{"n": 1}, []byte{1, 2})
//
// Like the Node emitter it cannot wait for answers: no acks, no
// fetchSockets, no serverSideEmit with answers. Every call publishes one
// message and returns when Redis took it.
package emitter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter/wire"
)

// Config configures an Emitter.
type Config struct {
	// Client publishes. The Emitter does not close it.
	Client redis.UniversalClient
	// Prefix is the channels' prefix. Zero means "socket.io", the Node
	// adapter's and emitter's default.
	Prefix string
}

// ErrReservedEvent is returned for an event name clients may not receive
// (socket.io's RESERVED_EVENTS: "connect", "disconnect", ...).
var ErrReservedEvent = errors.New("emitter: reserved event name")

// Emitter publishes to one namespace ("/" from New; see Of). It is an
// immutable value, safe for concurrent use.
type Emitter struct {
	client redis.UniversalClient
	prefix string
	nsp    string
}

// New returns an Emitter for the namespace "/".
func New(cfg Config) *Emitter {
	if cfg.Prefix == "" {
		cfg.Prefix = "socket.io"
	}
	return &Emitter{client: cfg.Client, prefix: cfg.Prefix, nsp: "/"}
}

// Of returns an Emitter for namespace nsp ("/" is added in front when
// missing, as the Node emitter does).
func (e *Emitter) Of(nsp string) *Emitter {
	if len(nsp) == 0 || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	out := *e
	out.nsp = nsp
	return &out
}

// Operator selects sockets and flags; every method returns a new one.
type Operator struct {
	e        *Emitter
	rooms    []adapter.Room
	except   []adapter.Room
	volatile bool
	compress *bool
}

func (e *Emitter) op() Operator { return Operator{e: e} }

// To targets the sockets in rooms (a socket id is a room).
func (e *Emitter) To(rooms ...string) Operator { return e.op().To(rooms...) }

// In is To.
func (e *Emitter) In(rooms ...string) Operator { return e.op().To(rooms...) }

// Except excludes the sockets in rooms.
func (e *Emitter) Except(rooms ...string) Operator { return e.op().Except(rooms...) }

// Volatile lets clients that cannot take the event now miss it.
func (e *Emitter) Volatile() Operator { return e.op().Volatile() }

// Compress sets the compress flag.
func (e *Emitter) Compress(c bool) Operator { return e.op().Compress(c) }

// Emit sends an event to every socket of the namespace (arguments as
// Operator.Emit takes them).
func (e *Emitter) Emit(ctx context.Context, event string, args ...any) error {
	return e.op().Emit(ctx, event, args...)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (e *Emitter) SocketsJoin(ctx context.Context, rooms ...string) error {
	return e.op().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms.
func (e *Emitter) SocketsLeave(ctx context.Context, rooms ...string) error {
	return e.op().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace; close
// closes their connections too.
func (e *Emitter) DisconnectSockets(ctx context.Context, close bool) error {
	return e.op().DisconnectSockets(ctx, close)
}

// ServerSideEmit sends an event to the namespace on every node (not to
// clients). Binary arguments travel as Node's JSON form of a Buffer, the
// request being JSON.
func (e *Emitter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	if socketio.IsReservedEvent(event) {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	values, err := wire.ArgsJSON(a)
	if err != nil {
		return err
	}
	q := wire.Request{UID: wire.EmitterUID, Type: wire.ServerSideEmit, Data: socketio.AppendEventData(nil, event, values...)}
	return e.request(ctx, &q)
}

func toRooms(rooms []string) []adapter.Room {
	out := make([]adapter.Room, len(rooms))
	for i, r := range rooms {
		out[i] = adapter.Room(r)
	}
	return out
}

// addRooms appends rooms not yet in set, as the Node emitter's Sets do.
func addRooms(set []adapter.Room, rooms []string) []adapter.Room {
	set = slices.Clip(set)
	for _, r := range toRooms(rooms) {
		if !slices.Contains(set, r) {
			set = append(set, r)
		}
	}
	return set
}

// To adds rooms to the target.
func (o Operator) To(rooms ...string) Operator { o.rooms = addRooms(o.rooms, rooms); return o }

// In is To.
func (o Operator) In(rooms ...string) Operator { return o.To(rooms...) }

// Except excludes the sockets in rooms.
func (o Operator) Except(rooms ...string) Operator { o.except = addRooms(o.except, rooms); return o }

// Volatile lets clients that cannot take the event now miss it.
func (o Operator) Volatile() Operator { o.volatile = true; return o }

// Compress sets the compress flag.
func (o Operator) Compress(c bool) Operator { o.compress = &c; return o }

// toArgs converts arguments as socketio.ToArgs does: []byte is binary (a
// Buffer for the clients), json.RawMessage is sent as is, nil is null, the
// rest goes through encoding/json.
func toArgs(args []any) (socketio.Args, error) {
	var out socketio.Args
	for i, a := range args {
		switch v := a.(type) {
		case nil:
			out.AddJSON(json.RawMessage("null"))
		case []byte:
			out.AddBinary(v)
		case json.RawMessage:
			if !json.Valid(v) {
				return socketio.Args{}, fmt.Errorf("emitter: argument %d is not valid JSON", i)
			}
			out.AddJSON(v)
		case socketio.Args:
			return socketio.Args{}, fmt.Errorf("emitter: argument %d: pass socketio.Args to EmitArgs", i)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return socketio.Args{}, fmt.Errorf("emitter: argument %d: %w", i, err)
			}
			out.AddJSON(b)
		}
	}
	return out, nil
}

// Emit sends an event to the targeted sockets: a []byte argument reaches
// the clients as binary (a Buffer or ArrayBuffer), a json.RawMessage as the
// JSON it holds, anything else as encoding/json writes it.
func (o Operator) Emit(ctx context.Context, event string, args ...any) error {
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	return o.EmitArgs(ctx, event, a)
}

// EmitArgs is Emit with prepared arguments (binary anywhere inside them,
// with socketio.Args.Attach).
func (o Operator) EmitArgs(ctx context.Context, event string, args socketio.Args) error {
	if socketio.IsReservedEvent(event) {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	pkt := socketio.NewEvent(o.e.nsp, event, args)
	msg, err := wire.AppendEmitterBroadcast(nil, &pkt, wire.Opts{
		Rooms: o.rooms, Except: o.except, Volatile: o.volatile, Compress: o.compress,
	})
	if err != nil {
		return err
	}
	channel := o.e.prefix + "#" + o.e.nsp + "#"
	if len(o.rooms) == 1 {
		channel += string(o.rooms[0]) + "#"
	}
	return o.e.client.Publish(ctx, channel, msg).Err()
}

func (o Operator) target() *wire.Target {
	return &wire.Target{Rooms: o.rooms, Except: o.except}
}

// SocketsJoin makes the targeted sockets join rooms.
func (o Operator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return o.e.request(ctx, &wire.Request{Type: wire.RemoteJoin, Opts: o.target(), Rooms: toRooms(rooms)})
}

// SocketsLeave makes the targeted sockets leave rooms.
func (o Operator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return o.e.request(ctx, &wire.Request{Type: wire.RemoteLeave, Opts: o.target(), Rooms: toRooms(rooms)})
}

// DisconnectSockets disconnects the targeted sockets; close closes their
// connections too.
func (o Operator) DisconnectSockets(ctx context.Context, close bool) error {
	return o.e.request(ctx, &wire.Request{Type: wire.RemoteDisconnect, Opts: o.target(), Close: close})
}

func (e *Emitter) request(ctx context.Context, q *wire.Request) error {
	msg, err := wire.AppendRequest(nil, q)
	if err != nil {
		return err
	}
	return e.client.Publish(ctx, e.prefix+"-request#"+e.nsp+"#", msg).Err()
}
