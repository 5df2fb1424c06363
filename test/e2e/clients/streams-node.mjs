#!/usr/bin/env node
// streams-node.mjs is a Node socket.io 4.8 node on @socket.io/redis-streams-adapter
// 0.3 with connection-state recovery on, for ../recovery_test.go: it serves on "/"
// the recovery test events of the suiteserver started with -recovery ("join",
// "to-room", "to-all", "stream", "state"; the contract is in ../recovery_test.go), so
// a client can move between it and a socketd node on the same Redis.
//
//   node streams-node.mjs --redis redis://127.0.0.1:PORT [--window 10000] [--addr 127.0.0.1:0]
//
// It prints "listening on http://HOST:PORT" once it serves, and exits 0 on SIGTERM.

import { createServer } from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");

const opts = parseArgs({
  options: {
    redis: { type: "string" },
    window: { type: "string", default: "10000" },
    addr: { type: "string", default: "127.0.0.1:0" },
  },
  strict: true,
}).values;

process.on("unhandledRejection", (err) => console.error("unhandled rejection:", err && err.message));

const client = createClient({ url: opts.redis });
client.on("error", (err) => console.error("redis:", err.message));
await client.connect();

const http = createServer();
const io = new Server(http, {
  cors: { origin: true, credentials: true },
  adapter: createAdapter(client),
  connectionStateRecovery: { maxDisconnectionDuration: Number(opts.window), skipMiddlewares: true },
});

io.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack();
  });
  socket.on("to-room", (room, payload, ack) => {
    io.to(room).emit("room-message", payload);
    ack();
  });
  socket.on("to-all", (payload, ack) => {
    io.emit("all-message", payload);
    ack();
  });
  socket.on("stream", (room, tag, count, every, ack) => {
    ack({ count });
    let i = 0;
    const next = () => {
      if (i >= count) return;
      io.to(room).emit("seq", tag, i++);
      setTimeout(next, every);
    };
    next();
  });
  socket.on("state", (ack) => ack({ id: socket.id, recovered: socket.recovered, rooms: [...socket.rooms] }));
});

const [host, port] = opts.addr.split(":");
http.listen(Number(port), host, () => {
  const a = http.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});

process.on("SIGTERM", () => {
  io.close();
  client.quit().finally(() => process.exit(0));
});
