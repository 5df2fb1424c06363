package adminui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/socketio"
)

// The UI's commands (typed-events.ts, ClientEvents). Each names a namespace
// and acts on the sockets of one room of it (the UI passes a socket id, which
// is a room), or on all of them without a filter, on every node.
var commands = []command{
	{event: "_disconnect", run: cmdDisconnect},
	{event: "join", run: cmdJoin},
	{event: "leave", run: cmdLeave},
	{event: "emit", run: cmdEmit},
}

type command struct {
	event string
	// run carries the command out on n; args are the event's arguments,
	// the namespace name first. It returns what the log line says of it.
	run func(ctx context.Context, n *socketio.Namespace, args psio.Args) ([]any, error)
}

var (
	errReadonly     = errors.New("the admin UI is read-only")
	errNoNamespace  = errors.New("no such namespace")
	errBadArguments = errors.New("bad arguments")
)

// commandHandler is the admin namespace's handler of one command.
func (ad *Admin) commandHandler(c command) socketio.EventHandler {
	return func(s *socketio.Socket, e *socketio.Event) {
		attrs := []any{slog.String("command", c.event), slog.String("admin", s.ID()), slog.String("address", s.Handshake().Address)}
		if ad.opts.Readonly {
			ad.log.Warn("admin UI: command refused: read-only", attrs...)
			ackResult(e, errReadonly)
			return
		}
		var name string
		if err := e.Arg(0, &name); err != nil {
			ad.log.Info("admin UI: command refused", append(attrs, slog.String("error", errBadArguments.Error()))...)
			ackResult(e, errBadArguments)
			return
		}
		attrs = append(attrs, slog.String("nsp", name))
		n, ok := ad.namespace(name)
		if !ok {
			ad.log.Info("admin UI: command refused", append(attrs, slog.String("error", errNoNamespace.Error()))...)
			ackResult(e, errNoNamespace)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		detail, err := c.run(ctx, n, e.Args)
		cancel()
		attrs = append(attrs, detail...)
		if err != nil {
			ad.log.Warn("admin UI: command failed", append(attrs, slog.String("error", err.Error()))...)
		} else {
			ad.log.Info("admin UI: command", attrs...)
		}
		ackResult(e, err)
	}
}

// optionalString reads argument i: a string, or "" when it is missing, null
// or empty (instrument() tests the filter for truthiness).
func optionalString(args psio.Args, i int) (string, error) {
	if i >= args.Len() || string(args.Values[i]) == "null" {
		return "", nil
	}
	var s string
	if err := args.Arg(i, &s); err != nil {
		return "", fmt.Errorf("%w: argument %d: want a string", errBadArguments, i)
	}
	return s, nil
}

func requiredString(args psio.Args, i int) (string, error) {
	s, err := optionalString(args, i)
	if err == nil && s == "" {
		err = fmt.Errorf("%w: argument %d: want a non-empty string", errBadArguments, i)
	}
	return s, err
}

// target is the namespace's sockets in room filter, or all of them.
func target(n *socketio.Namespace, filter string) socketio.BroadcastOperator {
	if filter == "" {
		return n.Except()
	}
	return n.To(filter)
}

// cmdDisconnect: _disconnect(nsp, close, filter?).
func cmdDisconnect(ctx context.Context, n *socketio.Namespace, args psio.Args) ([]any, error) {
	var closeConn bool
	if args.Len() > 1 {
		if err := args.Arg(1, &closeConn); err != nil {
			return nil, fmt.Errorf("%w: argument 1: want true or false", errBadArguments)
		}
	}
	filter, err := optionalString(args, 2)
	if err != nil {
		return nil, err
	}
	detail := []any{slog.String("filter", filter), slog.Bool("close", closeConn)}
	return detail, target(n, filter).DisconnectSockets(ctx, closeConn)
}

// cmdJoin: join(nsp, room, filter?).
func cmdJoin(ctx context.Context, n *socketio.Namespace, args psio.Args) ([]any, error) {
	room, filter, err := roomAndFilter(args)
	if err != nil {
		return nil, err
	}
	return []any{slog.String("room", room), slog.String("filter", filter)}, target(n, filter).SocketsJoin(ctx, room)
}

// cmdLeave: leave(nsp, room, filter?).
func cmdLeave(ctx context.Context, n *socketio.Namespace, args psio.Args) ([]any, error) {
	room, filter, err := roomAndFilter(args)
	if err != nil {
		return nil, err
	}
	return []any{slog.String("room", room), slog.String("filter", filter)}, target(n, filter).SocketsLeave(ctx, room)
}

func roomAndFilter(args psio.Args) (room, filter string, err error) {
	if room, err = requiredString(args, 1); err != nil {
		return "", "", err
	}
	filter, err = optionalString(args, 2)
	return room, filter, err
}

// cmdEmit: emit(nsp, filter, event, ...args).
func cmdEmit(_ context.Context, n *socketio.Namespace, args psio.Args) ([]any, error) {
	filter, err := optionalString(args, 1)
	if err != nil {
		return nil, err
	}
	ev, err := requiredString(args, 2)
	if err != nil {
		return nil, err
	}
	// The UI sends no binary; attachments, if any, would follow their
	// placeholders.
	rest := psio.Args{Values: args.Values[3:], Attachments: args.Attachments}
	return []any{slog.String("filter", filter), slog.String("event", ev)}, target(n, filter).EmitArgs(ev, rest)
}
