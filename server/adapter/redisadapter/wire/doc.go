// Package wire is the Redis wire format of socket.io's classic Redis adapter
// (@socket.io/redis-adapter 8.x) and of @socket.io/redis-emitter 5.x: a
// msgpack codec that writes exactly what notepack.io 3.x writes and reads
// what notepack.io 2.x and 3.x write, the transcoding between msgpack values
// and socketd's JSON arguments with binary attachments, and the bus
// messages (broadcasts, requests, responses).
//
// Event arguments are never decoded into Go values: AppendJSON transcodes
// JSON text to msgpack and Reader.AppendJSON msgpack to JSON text, each in
// one pass, turning attachment placeholders into msgpack binaries and back.
// The JSON written for clients is what socket.io-parser writes in Node for
// the same message, so a socketd node's clients and a Node node's clients
// receive the same packets (see ../../../../docs/DESIGN.md, "The Redis wire").
//
// The package imports no Redis client: server/adapter/redisadapter and the
// emitter share it.
package wire
