#!/usr/bin/env node
// cluster-node.mjs is a Node socket.io 4.8 node on @socket.io/redis-adapter 8.3 for
// ../cluster_test.go: it joins the socketd nodes' cluster on one Redis and serves, on
// "/", the same test events as the suiteserver started with -redis (the contract is in
// ../cluster_test.go), so a client connected here issues the cluster operations from a
// Node node.
//
//   node cluster-node.mjs --redis redis://127.0.0.1:PORT --name NAME [--addr 127.0.0.1:0]
//
// It prints "listening on http://HOST:PORT" once its adapter is subscribed, and exits 0
// on SIGTERM.

import { createServer } from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const opts = parseArgs({
  options: {
    redis: { type: "string" },
    name: { type: "string", default: "node" },
    addr: { type: "string", default: "127.0.0.1:0" },
  },
  strict: true,
}).values;
const NAME = opts.name;

// A PUBLISH rejected while Redis is down must not end the process (the adapter
// does not catch it); the test checks that the node serves on.
process.on("unhandledRejection", (err) => console.error("unhandled rejection:", err && err.message));

const pub = createClient({ url: opts.redis, socket: { reconnectStrategy: () => 100 } });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on("error", (err) => console.error("redis:", err.message));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, {
  allowEIO3: true,
  cors: { origin: true, credentials: true },
  adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }),
});

function fail(ack, err) {
  if (typeof ack === "function") ack({ error: err && err.message ? err.message : String(err) });
}

io.on("ping", (payload, cb) => cb({ node: NAME, echo: payload }));

io.on("connection", (socket) => {
  socket.on("whoami", (ack) => ack({ node: NAME, id: socket.id }));
  socket.on("message", (...args) => socket.emit("message-back", ...args));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack();
  });
  socket.on("set-data", (data, ack) => {
    socket.data = data;
    ack();
  });
  socket.on("to-room", (room, payload, ack) => {
    io.to(room).emit("room-message", payload);
    ack();
  });
  socket.on("to-room-except", (room, except, payload, ack) => {
    io.to(room).except(except).emit("room-message", payload);
    ack();
  });
  socket.on("to-all", (payload, ack) => {
    io.emit("all-message", payload);
    ack();
  });
  socket.on("ask-room", async (room, ms, payload, ack) => {
    try {
      const answers = await io.to(room).timeout(ms).emitWithAck("question", payload);
      for (const a of answers) socket.emit("ask-answer", a);
      ack({ count: answers.length });
    } catch (err) {
      fail(ack, err);
    }
  });
  socket.on("fetch-room", async (room, ack) => {
    try {
      const found = await io.in(room).fetchSockets();
      ack({
        node: NAME,
        sockets: found.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data ?? null, auth: s.handshake.auth, query: s.handshake.query })),
      });
    } catch (err) {
      fail(ack, err);
    }
  });
  socket.on("join-room", (room, newRoom, ack) => {
    io.in(room).socketsJoin(newRoom);
    ack();
  });
  socket.on("leave-room", (room, oldRoom, ack) => {
    io.in(room).socketsLeave(oldRoom);
    ack();
  });
  socket.on("disconnect-room", (room, close, ack) => {
    io.in(room).disconnectSockets(close);
    ack();
  });
  socket.on("sse", async (payload, ack) => {
    try {
      const answers = await io.serverSideEmitWithAck("ping", payload);
      ack({ answers });
    } catch (err) {
      fail(ack, err);
    }
  });
});

const [host, port] = [opts.addr.slice(0, opts.addr.lastIndexOf(":")), Number(opts.addr.slice(opts.addr.lastIndexOf(":") + 1))];
http.listen(port, host, () => {
  const a = http.address();
  process.stdout.write(`listening on http://${a.address}:${a.port}\n`);
});

process.on("SIGTERM", async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(0);
});
