package main

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/socketd/socketd/protocol/engineio"
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// newSocketIO builds the Socket.IO endpoint: the socket.io-protocol suite's
// reference handlers, plus the handlers test/e2e/socketio_clients_test.go
// describes in its contract comment.
func newSocketIO(logger *slog.Logger, factory adapter.Factory, pingTimeout time.Duration) (*socketio.Server, error) {
	pingInterval := 300 * time.Millisecond
	if factory != nil {
		// A cluster node's handlers may wait on Redis (a publish while Redis
		// goes away takes go-redis' dial retries, about 2 s): the cluster test
		// is not about heartbeats, so they must not end sessions then.
		pingInterval, pingTimeout = 2*time.Second, 5*time.Second
	}
	io, err := socketio.New(socketio.Config{
		Engine: engine.Config{
			PingInterval:      pingInterval,
			PingTimeout:       pingTimeout,
			MaxHTTPBufferSize: 1e6,
			CORS:              engine.CORSConfig{AllowedOrigins: []string{"*"}},
		},
		ConnectTimeout: time.Second,
		Adapter:        factory,
		Logger:         logger,
	})
	if err != nil {
		return nil, err
	}

	main := io.Of("/")
	main.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
	})
	main.On("message", func(s *socketio.Socket, e *socketio.Event) {
		_ = s.EmitArgs("message-back", e.Args)
	})
	main.On("message-with-ack", func(s *socketio.Socket, e *socketio.Event) {
		_ = e.AckArgs(e.Args)
	})
	main.On("join", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		if e.Arg(0, &room) == nil {
			s.Join(room)
		}
		_ = e.Ack()
	})
	main.On("leave", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		if e.Arg(0, &room) == nil {
			s.Leave(room)
		}
		_ = e.Ack()
	})
	main.On("to-room", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		if e.Arg(0, &room) == nil && e.Args.Len() > 1 {
			_ = main.To(room).EmitArgs("room-message", argAt(e, 1))
		}
		_ = e.Ack()
	})
	main.On("to-all", func(s *socketio.Socket, e *socketio.Event) {
		if e.Args.Len() > 0 {
			_ = main.EmitArgs("all-message", argAt(e, 0))
		}
		_ = e.Ack()
	})
	main.On("kick-me", func(s *socketio.Socket, _ *socketio.Event) {
		s.Disconnect(false)
	})
	main.On("ask-me", func(s *socketio.Socket, e *socketio.Event) {
		question := psio.Args{Values: []json.RawMessage{json.RawMessage("null")}}
		if e.Args.Len() > 0 {
			question = argAt(e, 0)
		}
		_ = s.EmitArgsWithAck("question", 5*time.Second, func(args psio.Args, err error) {
			if err == nil && args.Len() > 0 {
				_ = s.EmitArgs("answer", psio.Args{Values: args.Values[:1], Attachments: args.Attachments})
			}
		}, question)
	})
	main.On("binary-in-nested", func(s *socketio.Socket, e *socketio.Event) {
		_ = s.EmitArgs("binary-out", e.Args)
	})

	io.Of("/custom").OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
	})

	private := io.Of("/private")
	private.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "s3cret" {
			err := &socketio.ConnectError{Message: "not authorized"}
			// A v4 (2.x) client is sent the data instead of the message when there
			// is data (Node: err.data || err.message); the contract wants it to see
			// the message.
			if s.Session().Revision() != engineio.V3 {
				err.Data = json.RawMessage(`{"code":"E_AUTH"}`)
			}
			return err
		}
		return nil
	})
	private.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("welcome", "private")
	})
	return io, nil
}

// argAt is argument i of e with the attachments it refers to.
func argAt(e *socketio.Event, i int) psio.Args {
	return psio.Args{Values: e.Args.Values[i : i+1], Attachments: e.Args.Attachments}
}
