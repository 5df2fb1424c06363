// Package socketio is the Socket.IO server: namespaces with connect middleware,
// sockets with typed event handlers and acknowledgements in both directions,
// rooms, and broadcasts, for Socket.IO protocol v4 (socket.io-client 1.x/2.x,
// over Engine.IO v3) and v5 (socket.io-client 3.x/4.x, over Engine.IO v4) on one
// endpoint. See the socket.io-protocol README
// (https://github.com/socketio/socket.io-protocol).
//
// A Server owns an engine.Server and is an http.Handler for the Socket.IO path:
//
//	io, _ := socketio.New(socketio.Config{})
//	io.Of("/").OnConnection(func(s *socketio.Socket) {
//		s.On("chat", func(s *socketio.Socket, e *socketio.Event) {
//			var text string
//			_ = e.Arg(0, &text)
//			s.Broadcast().Emit("chat", text)
//		})
//	})
//	http.Handle("/socket.io/", io)
//
// Handlers run on the reading side of the client's connection, one at a time per
// connection and in arrival order; a handler that blocks holds up that client's
// later packets (and nothing else). Emits never wait on a client: they queue
// on the connection, bounded in bytes (engine.Config.MaxQueueBytes).
//
// Disconnect hooks can run on the goroutine of whatever ended the socket: an
// emit that finds the client over its outbound limit, or a Disconnect call. Do
// not hold a lock a hook takes while emitting or disconnecting.
//
// Room membership and broadcasts go through an adapter.Adapter per namespace
// (in memory by default), the seam where a multi-node adapter plugs in. A
// broadcast is encoded once; every target connection gets the same frames.
//
// With a cluster adapter (Config.Adapter) the namespace spans every node:
// broadcasts reach the sockets of all of them, and the operations that ask
// the other nodes (FetchSockets, SocketsJoin, SocketsLeave, DisconnectSockets,
// EmitWithAck, ServerSideEmit, ServerSideEmitWithAck) take a context and return
// within it or the adapter's request timeout, whichever ends first. Other nodes
// send this namespace server-side events (OnServerSideEmit), not only clients.
package socketio
