// Package engine is the Engine.IO server: sessions, the long-polling (and JSONP)
// and WebSocket transports, the polling-to-WebSocket upgrade, heartbeats, and a
// byte-bounded outbound path per session.
//
// It speaks both wire revisions on one endpoint: EIO=3 (socket.io-client 1.x/2.x,
// client-initiated heartbeat, length-prefixed polling payloads) and EIO=4
// (socket.io-client 3.x/4.x, server-initiated heartbeat, 0x1e-separated payloads).
// See the engine.io-protocol README (https://github.com/socketio/engine.io-protocol)
// and docs/ in this repository.
//
// A Server is an http.Handler. Each new session is announced through the OpenFunc
// given to New, which returns the Handler that receives the session's messages.
// Outbound data is a *Frame: encoded once, immutable, and shareable between any
// number of sessions, so a broadcast costs one encoding however many receive it.
//
// WebSocket connections are moved off net/http onto an event-driven poller
// (github.com/lesismal/nbio) after the upgrade, so an idle WebSocket session holds
// no goroutine and no read buffer. Writes are non-blocking: bytes the kernel does
// not take at once are kept by the poller, bounded per connection, and flushed when
// the socket becomes writable.
//
// Several servers can share one endpoint behind a balancer that is not sticky
// (Config.Nodes): each puts its node tag in the sids it makes, and forwards a
// polling request or WebSocket upgrade for another node's session to that node
// (forward.go, bridge.go; docs/DESIGN.md, "Cluster without sticky sessions").
//
// Config.Limits bound the sessions clients may open, in all and per client
// address (limits.go): a handshake past one is refused before its session
// exists. The client's address is the peer's, or behind Config.TrustedProxies
// the one they forwarded for (Session.ClientIP).
package engine
