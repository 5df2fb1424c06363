// Package redisadapter lets socketd nodes share one Redis, beside Node
// socket.io nodes on @socket.io/redis-adapter 8.x and backends publishing
// with @socket.io/redis-emitter 5.x, on their wire.
//
// A Cluster is a node's presence on the bus: New starts it, and its Factory
// is the adapter.Factory to give socketio.Config.Adapter:
//
//	cl, err := redisadapter.New(redisadapter.Config{Client: redis.NewClient(opts)})
//	io, err := socketio.New(socketio.Config{Adapter: cl.Factory(), ...})
//
// # The wire
//
// By default the classic adapter's (createAdapter): per namespace nsp and
// prefix p (default "socket.io"), broadcasts are msgpack [uid, packet, opts]
// on p#nsp# (p#nsp#room# when they target exactly one room), PSUBSCRIBEd as
// p#nsp#*; requests (JSON, or msgpack for a broadcast with acks) on
// p-request#nsp#, SUBSCRIBEd exactly once per node because requesters count
// nodes with PUBSUB NUMSUB on it; answers on p-response#nsp# (or, with
// Config.PublishOnSpecificResponseChannel, p-response#nsp#<uid>#; a node
// reads both). All request types 0-9 are spoken: sockets, allRooms
// (Adapter.AllRooms), socketsJoin/Leave and disconnectSockets (opts and
// legacy forms), fetchSockets, serverSideEmit with and without answers,
// and broadcasts with acks with their client counts. Package wire holds the
// codec. A node's uid is Config.NodeID; messages carrying it are its own
// echoes; "emitter" is the emitter's.
//
// With Config.Sharded, the sharded adapter's wire (createShardedAdapter,
// Redis 7): ClusterMessage JSON or msgpack over SPUBLISH/SSUBSCRIBE on
// p#nsp# and p#nsp#<uid>#, servers counted with PUBSUB SHARDNUMSUB, in the
// three subscription modes (Config.SubscriptionMode; Dynamic, Node's
// default, adds a channel p#nsp#room# per public room, subscribed in the
// background as rooms come and go: Adapter.Sync waits for it). Ordered and
// counted broadcasts always go to p#nsp#, so every node sees them. The
// sharded wire is tested on one Redis 7 server; on a Redis Cluster its
// channels hash to different shards and one connection cannot subscribe to
// them all, which this package does not handle yet (the classic wire works
// there: PUBLISH reaches every shard, and NUMSUB is summed over the masters).
//
// # Publishing
//
// Every message this node publishes (broadcasts, requests, operations,
// answers to other nodes) goes through one queue, in the order it was
// handed over, and one goroutine publishes what is queued in one pipelined
// round trip: a socketsJoin followed by a broadcast to that room, issued
// here one after the other, reach Redis, and so every node, in that order.
// A broadcast is encoded once for the bus, into a pooled buffer the queue
// owns until it is written. The queue is bounded in bytes
// (Config.PublishQueueBytes, 8 MiB). A publish that finds it full waits for
// room up to Config.PublishFullWait (100 ms), so a burst faster than Redis
// takes it is slowed to Redis's pace; what still does not fit, or is handed
// over while the bus is down, is dropped for the other nodes and counted
// (Stats.Dropped, Stats.QueueFull), never queued without bound.
//
// Who waits: Broadcast without Ordered (socket.io's emit), AddSockets,
// DelSockets and DisconnectSockets without Ordered, and ServerSideEmit
// without answers act on this node's sockets, queue their message and
// return without waiting for Redis, as a Node peer's fire-and-forget
// publish does. Ordered operations, BroadcastCount, BroadcastWithAck and
// the requests (FetchSockets, AllRooms, ServerSideEmit with answers) wait
// for their message's outcome, within their ctx and RequestTimeout
// (requests: one RequestTimeout for the whole request, answers included).
//
// # Order
//
// Every message is applied by one goroutine, in the order Redis delivers
// them: a socketsJoin followed by a broadcast to that room finds the socket
// joined. An operation issued here without adapter.Flags.Ordered acts on
// this node's sockets at once and is then published (socket.io's
// behaviour). With Ordered (Broadcast, BroadcastCount, AddSockets,
// DelSockets, DisconnectSockets) it is published with a sequence number
// under the key "socketd" of its opts (Node nodes ignore unknown keys) and
// applied here when its own message comes back from the bus, in bus order
// with everything else; the call returns once the message is on the bus,
// so operations issued one after another through different nodes reach
// every socket in the order they were issued. When the publish fails (bus
// down, queue full, Redis not answering), or the subscription is lost
// before the echo arrives, it is applied here at once; when the caller's
// ctx or RequestTimeout ends first, the call returns and the operation is
// applied on its echo or its failure, later.
//
// # Counted broadcasts
//
// BroadcastCount publishes the classic broadcast message (Node nodes
// deliver it as any other) with {"socketd": {"count": <requestId>}} in its
// opts. Every socketd node that reads it (including those that drop it
// unread because they lack its single room) answers on the requester's own
// response channel with {"type": 8, "requestId", "clientCount"}, the form
// of the classic BROADCAST_CLIENT_COUNT (Node nodes ignore answers to
// requests they did not make). The requester knows how many socketd nodes to
// wait for from PUBSUB NUMSUB of p-socketd#nsp#, a channel only socketd
// nodes subscribe to. The count is this node's plus every socketd node's
// that answers within ctx and Config.RequestTimeout; Node nodes deliver
// the broadcast but are not counted (the classic wire has no count for a
// broadcast without acks, and asking for acks would make every client
// answer).
//
// # Faults
//
// While Redis is unreachable (at start or later) adapters serve this
// node's sockets: broadcasts reach local sockets, operations act locally,
// requests return what this node has with ErrBusDown; nothing is queued, so
// nothing grows. The subscription connection is retried with jittered
// backoff (up to Config.MaxBackoff) and every namespace resubscribed when it
// comes back. A killed Redis closes the subscription connection and is
// noticed at once. A frozen one (or a network dropping packets without a
// reset) is noticed by the publisher: a publish that fails on the network
// (the client's read timeout) pings the subscription connection at once,
// which is replaced when no PONG comes within half a second, taking the
// node off the bus. A subscription connection that stays silent with
// nothing published is pinged after Config.HealthCheckInterval and replaced
// when the ping goes unanswered. A node that stops answering makes requests
// return after Config.RequestTimeout with ErrTimeout and the answers
// received. Malformed messages are ignored and counted (Stats.Malformed).
// Answers to requests go through the publish queue without waiting, so the
// ordered path never waits on the network.
//
// How soon a dead Redis is noticed depends on Config.Client's options;
// go-redis's defaults retry a refused connection for about 1.7 s and wait
// 5 s for a frozen Redis. socketd's (cmd/socketd, busOptions) notice either
// within about a second: DialTimeout, ReadTimeout, WriteTimeout and
// PoolTimeout 1 s, DialerRetries 1 (this package retries with its own
// backoff), MaxRetries -1 (a pipeline retried after a read timeout would
// publish its messages twice once Redis answers again). No caller waits on
// them beyond its ctx and RequestTimeout whatever they are.
//
// # Code run by the bus
//
// The reader goroutine calls the namespace (adapter.Local) for every message,
// so user code can run on it: disconnect hooks of sockets disconnected by
// another node (or closed as slow consumers during a remote broadcast), and
// the namespace's server-side event handler. Such code may publish
// (Broadcast, AddSockets, ...) but must not wait for other nodes
// (FetchSockets, ServerSideEmit with answers, BroadcastCount, AllRooms):
// their answers are read by the goroutine it is blocking, so it would wait
// until RequestTimeout and hold up the bus meanwhile. Hand such work to
// another goroutine. The publisher goroutine applies Ordered operations
// whose publish failed, so the same code can run on it; there it must not
// wait for a publish either (Ordered operations, requests), or it holds up
// this node's publishing until RequestTimeout.
//
// # Ack ids
//
// A broadcast with acks asked by another node gets ack ids from 2^52 up,
// far above the namespace's own (which count from 0), below 2^53 so
// JavaScript clients read them back exactly.
package redisadapter
