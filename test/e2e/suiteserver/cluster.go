package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter"
	"github.com/socketd/socketd/server/socketio"
)

// requestTimeout bounds the cluster operations the test events start.
const requestTimeout = 10 * time.Second

// newCluster makes the Redis adapter of -redis: the node joins the cluster of
// every server (socketd or Node socket.io) on that Redis with the default
// prefix. close releases it.
func newCluster(url string, logger *slog.Logger) (adapter.Factory, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, err
	}
	client := redis.NewClient(opts)
	c, err := redisadapter.New(redisadapter.Config{Client: client, Logger: logger})
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	return c.Factory(), func() { _ = c.Close(); _ = client.Close() }, nil
}

// clusterHandlers adds the test events of ../cluster_test.go to n: each starts
// one cluster operation and acks with its outcome. name identifies this node in
// the answers.
func clusterHandlers(n *socketio.Namespace, name string) {
	n.OnServerSideEmit("ping", func(args psio.Args) (psio.Args, bool) {
		var payload json.RawMessage
		_ = args.Arg(0, &payload)
		a, _ := socketio.ToArgs(map[string]any{"node": name, "echo": payload})
		return a, true
	})
	n.On("whoami", func(s *socketio.Socket, e *socketio.Event) {
		_ = e.Ack(map[string]string{"node": name, "id": s.ID()})
	})
	n.On("set-data", func(s *socketio.Socket, e *socketio.Event) {
		if e.Args.Len() > 0 {
			_ = s.SetData(e.Args.Values[0])
		}
		_ = e.Ack()
	})
	n.On("to-room-except", func(s *socketio.Socket, e *socketio.Event) {
		var room, except string
		if e.Arg(0, &room) == nil && e.Arg(1, &except) == nil && e.Args.Len() > 2 {
			_ = n.To(room).Except(except).EmitArgs("room-message", argAt(e, 2))
		}
		_ = e.Ack()
	})
	// The operations below wait for other nodes: they run off the client's
	// reading goroutine, which must stay free to read the client's own answers.
	n.On("ask-room", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		var ms int
		if e.Arg(0, &room) != nil || e.Arg(1, &ms) != nil || e.Args.Len() < 3 {
			_ = e.Ack(map[string]string{"error": "want room, timeout ms, payload"})
			return
		}
		payload := argAt(e, 2)
		go func() {
			res, err := n.To(room).Timeout(time.Duration(ms)*time.Millisecond).EmitArgsWithAck(context.Background(), "question", payload)
			for _, r := range res {
				_ = s.EmitArgs("ask-answer", r.Args)
			}
			_ = e.Ack(outcome(err, map[string]any{"count": len(res)}))
		}()
	})
	n.On("fetch-room", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		_ = e.Arg(0, &room)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			found, err := n.In(room).FetchSockets(ctx)
			type socketJSON struct {
				ID    string          `json:"id"`
				Rooms []string        `json:"rooms"`
				Data  json.RawMessage `json:"data"`
				Auth  json.RawMessage `json:"auth"`
				Query map[string]any  `json:"query"`
			}
			out := make([]socketJSON, len(found))
			for i, r := range found {
				q := map[string]any{}
				for k, v := range r.Handshake.Query {
					q[k] = v[0]
				}
				data := r.Data
				if data == nil {
					data = json.RawMessage("null")
				}
				out[i] = socketJSON{ID: r.ID, Rooms: r.Rooms, Data: data, Auth: r.Handshake.Auth, Query: q}
			}
			_ = e.Ack(outcome(err, map[string]any{"node": name, "sockets": out}))
		}()
	})
	roomOp := func(op func(ctx context.Context, b socketio.BroadcastOperator, e *socketio.Event) error) socketio.EventHandler {
		return func(s *socketio.Socket, e *socketio.Event) {
			var room string
			_ = e.Arg(0, &room)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				defer cancel()
				_ = e.Ack(outcome(op(ctx, n.In(room), e), nil))
			}()
		}
	}
	n.On("join-room", roomOp(func(ctx context.Context, b socketio.BroadcastOperator, e *socketio.Event) error {
		var r string
		_ = e.Arg(1, &r)
		return b.SocketsJoin(ctx, r)
	}))
	n.On("leave-room", roomOp(func(ctx context.Context, b socketio.BroadcastOperator, e *socketio.Event) error {
		var r string
		_ = e.Arg(1, &r)
		return b.SocketsLeave(ctx, r)
	}))
	n.On("disconnect-room", roomOp(func(ctx context.Context, b socketio.BroadcastOperator, e *socketio.Event) error {
		var close bool
		_ = e.Arg(1, &close)
		return b.DisconnectSockets(ctx, close)
	}))
	n.On("sse", func(s *socketio.Socket, e *socketio.Event) {
		var payload json.RawMessage
		_ = e.Arg(0, &payload)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			answers, err := n.ServerSideEmitWithAck(ctx, "ping", payload)
			out := make([]json.RawMessage, len(answers))
			for i, a := range answers {
				if a.Len() > 0 {
					out[i] = a.Values[0]
				} else {
					out[i] = json.RawMessage("null")
				}
			}
			_ = e.Ack(outcome(err, map[string]any{"answers": out}))
		}()
	})
}

// outcome is an ack payload: fields, plus "error" when err is not nil.
func outcome(err error, fields map[string]any) map[string]any {
	if fields == nil {
		fields = map[string]any{}
	}
	if err != nil {
		fields["error"] = err.Error()
	}
	return fields
}
