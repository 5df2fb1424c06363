#!/usr/bin/env node
// puppet.mjs holds any number of real socket.io-client sockets (2.x, 3.x, 4.x from
// npm) for ../cluster_test.go and does what the Go test tells it, one JSON command per
// stdin line; it reports everything the sockets see, one JSON object per stdout line.
// The assertions live in the Go test.
//
//   node puppet.mjs [--timeout 120000]
//
// Binary values travel in this JSON as {"$bin":"<base64>"} in both directions: a
// command's {"$bin"} becomes a Buffer, and every Buffer/ArrayBuffer/typed array a
// socket receives is reported as {"$bin":...,"$type":"<constructor name>"}.
//
// Commands (stdin):
//   {"cmd":"connect","name":N,"client":"sio2|sio3|sio4","url":U,
//    "transports":["websocket"],"auth":{...},"query":"k=v"}     open socket N
//   {"cmd":"emit","name":N,"event":E,"args":[...],"seq":S}      emit, with an ack
//                                                               when seq is given
//   {"cmd":"close","name":N}                                    client-side disconnect
//   {"cmd":"emitter","redis":URL,"seq":S,"room":R,"event":E,
//    "args":[...]}                                              @socket.io/redis-emitter
//   {"cmd":"done"}                                              close all, print result
// Events (stdout):
//   {"name":N,"ev":"connect","id":ID}        every connect, reconnects included
//   {"name":N,"ev":"event","event":E,"args":[...]}  every server event
//   {"name":N,"ev":"ack","seq":S,"args":[...]}      the ack of an emit
//   {"name":N,"ev":"disconnect","reason":R}
//   {"name":N,"ev":"connect_error","error":...}
//   {"ev":"emitted","seq":S}                 the emitter published
//   {"ev":"error","error":...}               a command failed
// A "question" event with an ack callback is answered {"echo":payload,"from":client}
// (binary in the payload travels back in the ack). The last line is {"ok":true} or
// {"ok":false,"error":...}; the run is bounded by --timeout ms.

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

const sockets = new Map();
const emitters = new Map(); // redis URL -> {client, emitter}
let finished = false;

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function finish(result) {
  if (finished) return;
  finished = true;
  for (const s of sockets.values()) s.close();
  for (const { client } of emitters.values()) await client.quit().catch(() => {});
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

function errorText(err) {
  if (err && err.message) return err.message;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

// toWire turns received values into JSON with binary as {"$bin"}.
function toWire(v) {
  if (v === null || v === undefined) return v === undefined ? null : v;
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const b = Buffer.isBuffer(v)
      ? v
      : v instanceof ArrayBuffer
        ? Buffer.from(v)
        : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return { $bin: b.toString("base64"), $type: v.constructor.name };
  }
  if (Array.isArray(v)) return v.map(toWire);
  if (typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = toWire(x);
    return o;
  }
  return v;
}

// fromWire turns {"$bin"} in a command's arguments into Buffers.
function fromWire(v) {
  if (Array.isArray(v)) return v.map(fromWire);
  if (v !== null && typeof v === "object") {
    if (typeof v.$bin === "string") return Buffer.from(v.$bin, "base64");
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = fromWire(x);
    return o;
  }
  return v;
}

function connect(c) {
  const mod = require(c.client);
  const io = mod.io || mod; // 2.x exports the lookup function itself
  const o = {
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    randomizationFactor: 0,
    timeout: 5000,
  };
  if (c.transports) o.transports = c.transports;
  if (c.auth) o.auth = c.auth;
  if (c.query) o.query = c.query;
  const socket = io(c.url, o);
  const name = c.name;
  sockets.set(name, socket);
  socket.on("connect", () => out({ name, ev: "connect", id: socket.id }));
  socket.on("disconnect", (reason) => out({ name, ev: "disconnect", reason }));
  socket.on("connect_error", (err) => out({ name, ev: "connect_error", error: errorText(err) }));
  const onAny = (event, args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out({ name, ev: "event", event, args: toWire(args), withAck: cb !== null });
    if (cb && event === "question") cb({ echo: args[0], from: c.client });
  };
  if (typeof socket.onAny === "function") {
    socket.onAny((event, ...args) => onAny(event, [...args]));
  } else {
    // 2.x has no onAny: take over its packet dispatch (no listener needs it).
    socket.onevent = function (packet) {
      const args = (packet.data || []).slice(1);
      if (packet.id != null) args.push(this.ack(packet.id));
      onAny(packet.data[0], args);
    };
  }
}

async function emitter(c) {
  let e = emitters.get(c.redis);
  if (!e) {
    const { createClient } = require("redis");
    const { Emitter } = require("@socket.io/redis-emitter");
    const client = createClient({ url: c.redis });
    client.on("error", () => {});
    await client.connect();
    e = { client, emitter: new Emitter(client) };
    emitters.set(c.redis, e);
  }
  const target = c.room ? e.emitter.to(c.room) : e.emitter;
  target.emit(c.event, ...fromWire(c.args || []));
  out({ ev: "emitted", seq: c.seq });
}

function command(c) {
  switch (c.cmd) {
    case "connect":
      return connect(c);
    case "emit": {
      const s = sockets.get(c.name);
      if (!s) throw new Error(`no socket ${c.name}`);
      const args = fromWire(c.args || []);
      if (c.seq !== undefined) {
        s.emit(c.event, ...args, (...res) => out({ name: c.name, ev: "ack", seq: c.seq, args: toWire(res) }));
      } else {
        s.emit(c.event, ...args);
      }
      return;
    }
    case "close": {
      const s = sockets.get(c.name);
      if (s) s.close();
      return;
    }
    case "emitter":
      return emitter(c);
    case "done":
      return finish({ ok: true });
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

let opts;
try {
  opts = parseArgs({ options: { timeout: { type: "string", default: "120000" } }, strict: true }).values;
} catch (err) {
  finish({ ok: false, error: `bad arguments: ${err.message}` });
}
if (opts) {
  setTimeout(() => finish({ ok: false, error: `no "done" within ${opts.timeout} ms` }), Number(opts.timeout)).unref();
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    let c;
    try {
      c = JSON.parse(line);
      Promise.resolve(command(c)).catch((err) => out({ ev: "error", error: errorText(err), cmd: c }));
    } catch (err) {
      out({ ev: "error", error: errorText(err), line });
    }
  });
  rl.on("close", () => finish({ ok: true }));
}
