#!/usr/bin/env node
// socketio-client.mjs drives one real socket.io-client from npm against a Socket.IO
// server implementing the e2e contract written at the top of
// ../socketio_clients_test.go, and checks one scenario. The Go tests run it once per
// client × transport × scenario.
//
//   node socketio-client.mjs --url http://127.0.0.1:PORT --client sio2|sio3|sio4 \
//        --transports websocket|polling|default --scenario NAME \
//        [--path /socket.io/] [--timeout 10000] [--stdin-timeout 30000]
//
// Clients: sio2 = socket.io-client 2.5.x (Socket.IO v4 over EIO=3),
//          sio3 = socket.io-client 3.1.x and sio4 = 4.8.x (Socket.IO v5 over EIO=4).
// Modes:   websocket  transports ["websocket"]
//          polling    transports ["polling"]
//          default    the client's default: polling, then upgrade to websocket (the
//                     scenario must end on websocket)
// Scenarios (see SCENARIOS below): basic, acks, binary, rooms, kick, large, namespaces,
// restart, auth (sio3/sio4 only).
//
// Every socket gets its own Manager (forceNew) with a short reconnection delay, and
// every wait is bounded by --timeout milliseconds. The script prints one JSON line on
// stdout, {"ok":true,...details} (exit 0) or {"ok":false,"error":"...",...} (exit 1).
// The restart scenario prints {"ready":true,...} first, then waits (bounded by
// --stdin-timeout) for one line on stdin telling it the server was restarted on the
// same port, then checks that the client reconnected by itself. Set
// DEBUG=socket.io-client*,engine.io-client* for client logs on stderr.

import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

const CLIENTS = ["sio2", "sio3", "sio4"];
const MODES = ["websocket", "polling", "default"];

// Events the contract's server emits; every socket records them from its creation on,
// so nothing is lost between an emit and the registration of a waiter.
const SERVER_EVENTS = ["auth", "message-back", "room-message", "all-message", "answer", "binary-out", "welcome"];

// Mixed arguments: text with non-ASCII, astral and JSON-escaped characters, numbers
// (integer, negative fraction, exponent, 2^53-1), nested objects and arrays, null,
// booleans and an empty string.
const MIXED = [
  'héllo wörld € 𝄞 🎉 日本語 \u2028 "quoted" \\ back\nslash',
  42,
  -3.25,
  1e-7,
  9007199254740991,
  { nested: { deep: { list: [1, "two", { three: 3 }], empty: {}, nil: null } }, flag: false },
  [1, [2, [3, []]], "x"],
  null,
  true,
  false,
  "",
];

let finished = false;
let trace = [];
const started = Date.now();

function log(ev) {
  trace.push(`${Date.now() - started}ms ${ev}`);
  if (trace.length > 40) trace.shift();
}

function finish(result) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

function errorText(err) {
  if (err && err.message) return err.message;
  return typeof err === "object" ? safeJSON(err) : String(err);
}

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: "string" },
      client: { type: "string" },
      transports: { type: "string", default: "default" },
      scenario: { type: "string" },
      path: { type: "string", default: "/socket.io/" },
      timeout: { type: "string", default: "10000" },
      "stdin-timeout": { type: "string", default: "30000" },
    },
    strict: true,
  }).values;
} catch (err) {
  finish({ ok: false, error: `bad arguments: ${err.message}` });
}

async function main(opts) {
  const { client, transports: mode, scenario } = opts;
  const timeout = Number(opts.timeout);
  const stdinTimeout = Number(opts["stdin-timeout"]);
  if (!opts.url) throw new Error("--url is required");
  if (!CLIENTS.includes(client)) throw new Error(`--client must be one of ${CLIENTS.join(", ")}`);
  if (!MODES.includes(mode)) throw new Error(`--transports must be one of ${MODES.join(", ")}`);
  if (!SCENARIOS[scenario]) throw new Error(`--scenario must be one of ${Object.keys(SCENARIOS).join(", ")}`);
  for (const [name, v] of [["timeout", timeout], ["stdin-timeout", stdinTimeout]]) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  }
  const mod = require(client);
  const io = mod.io || mod; // 2.x exports the lookup function itself
  const h = new Harness({ io, client, mode, url: opts.url.replace(/\/+$/, ""), path: opts.path, timeout, stdinTimeout });
  h.version = require(`${client}/package.json`).version;
  if (SCENARIOS[scenario].v5only && h.v4) throw new Error(`scenario ${scenario} needs a Socket.IO v5 client (sio3, sio4)`);
  try {
    const details = await SCENARIOS[scenario].run(h);
    return { version: h.version, eio: h.eio, ...details };
  } finally {
    h.closeAll();
  }
}

// Harness holds the run's options and the sockets it opened.
class Harness {
  constructor(o) {
    Object.assign(this, o);
    this.v4 = o.client === "sio2"; // Socket.IO protocol v4 (2.x) rather than v5
    this.sockets = [];
    this.eio = null;
  }

  // options for one socket, each with its own Manager.
  options(extra = {}) {
    const o = {
      path: this.path,
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
      timeout: this.timeout, // the Manager's connect timeout
      ...extra,
    };
    if (this.mode !== "default") o.transports = [this.mode];
    return o;
  }

  // open creates a socket for nsp (a path, possibly with a query) and records its events.
  open(label, nsp = "/", extra = {}) {
    const socket = this.io(this.url + nsp, this.options(extra));
    const s = new Recorded(socket, label, this);
    this.sockets.push(s);
    return s;
  }

  // connect opens a socket and waits (bounded) until it is connected; a connection
  // error fails.
  async connect(label, nsp = "/", extra = {}) {
    const s = this.open(label, nsp, extra);
    await s.connected();
    const engine = s.socket.io.engine;
    if (engine && engine.transport && engine.transport.query) this.eio = Number(engine.transport.query.EIO);
    return s;
  }

  closeAll() {
    for (const s of this.sockets) {
      try {
        s.expectDisconnect = true;
        s.socket.close();
        if (s.socket.io && typeof s.socket.io.close === "function") s.socket.io.close();
      } catch {
        // already closed
      }
    }
  }

  // bounded races p against the run's timeout.
  bounded(p, what, ms = this.timeout) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  // transport checks the transport s ends on: the forced one, or websocket after an
  // upgrade in default mode (waiting for the upgrade, bounded, if it has not happened).
  async transport(s) {
    const engine = s.socket.io.engine;
    if (!engine || !engine.transport) throw new Error(`${s.label}: no engine transport`);
    if (this.mode === "default" && engine.transport.name !== "websocket") {
      await this.bounded(
        new Promise((resolve, reject) => {
          engine.once("upgrade", resolve);
          engine.once("upgradeError", (err) => reject(new Error(`${s.label}: upgrade failed: ${errorText(err)}`)));
        }),
        `${s.label}: upgrade to websocket`,
      );
    }
    const name = engine.transport.name;
    const want = this.mode === "polling" ? "polling" : "websocket";
    if (name !== want) throw new Error(`${s.label}: transport is ${name}, want ${want}`);
    const first = this.mode === "websocket" ? "websocket" : "polling";
    if (s.firstTransport !== null && s.firstTransport !== first) {
      throw new Error(`${s.label}: opened over ${s.firstTransport}, want ${first}`);
    }
    if (this.mode === "default" && s.firstTransport === "polling" && s.upgradedTo !== "websocket") {
      throw new Error(`${s.label}: no upgrade from polling to websocket seen`);
    }
    return name;
  }
}

// Recorded wraps a client socket: every event of interest is queued as it arrives and
// consumed by next(); seen keeps them all for counting.
class Recorded {
  constructor(socket, label, h) {
    this.socket = socket;
    this.label = label;
    this.h = h;
    this.queues = new Map();
    this.waiters = new Map();
    this.seen = new Map();
    this.expectDisconnect = false;
    this.watchers = [];
    this.questionsWithoutAck = 0;
    this.binaryTypes = new Set();

    // The Manager opens its engine synchronously: note the first transport and upgrades.
    const engine = socket.io && socket.io.engine;
    this.firstTransport = engine && engine.transport ? engine.transport.name : null;
    this.upgradedTo = null;
    if (engine) engine.on("upgrade", (t) => (this.upgradedTo = t.name));

    for (const ev of SERVER_EVENTS) socket.on(ev, (...args) => this.record(ev, args));
    // The server's ack-requesting event: answer with a value derived from the payload
    // (so binary in the question also travels back in the ack).
    socket.on("question", (payload, ack) => {
      log(`${label} <- question`);
      if (typeof ack === "function") ack(answerFor(payload, h.client));
      else this.questionsWithoutAck++;
      this.record("question", [payload]);
    });
    socket.on("connect", () => this.record("connect", [socket.id]));
    socket.on("disconnect", (reason) => this.record("disconnect", [reason]));
    socket.on("connect_error", (err) => this.record("connect_error", [err]));
    // 2.x reports namespace errors (CONNECT_ERROR packets) as "error" events.
    if (h.v4) socket.on("error", (err) => this.record("error", [err]));
  }

  record(ev, args) {
    log(`${this.label} <- ${ev} ${ev === "connect_error" || ev === "error" ? errorText(args[0]) : short(args)}`);
    if (!this.seen.has(ev)) this.seen.set(ev, []);
    this.seen.get(ev).push(args);
    const waiting = this.waiters.get(ev);
    if (waiting && waiting.length) {
      waiting.shift().resolve(args);
    } else {
      if (!this.queues.has(ev)) this.queues.set(ev, []);
      this.queues.get(ev).push(args);
    }
    for (const w of this.watchers) if (w.ev === ev && w.pred(args)) w.resolve();
    if (ev === "disconnect" && !this.expectDisconnect) {
      // Fail fast: nothing else will arrive on this connection.
      const err = new Error(`${this.label}: disconnected unexpectedly (${args[0]})`);
      for (const [name, list] of this.waiters) {
        if (name === "connect" || name === "disconnect") continue;
        while (list.length) list.shift().reject(err);
      }
      for (const w of this.watchers) w.reject(err);
    }
  }

  // next returns the arguments of the next unconsumed ev event, waiting (bounded) for it.
  next(ev, ms = this.h.timeout) {
    const queued = this.queues.get(ev);
    if (queued && queued.length) return Promise.resolve(queued.shift());
    let entry;
    const p = new Promise((resolve, reject) => {
      entry = { resolve, reject };
    });
    if (!this.waiters.has(ev)) this.waiters.set(ev, []);
    this.waiters.get(ev).push(entry);
    return this.h.bounded(p, `${this.label}: event ${JSON.stringify(ev)}`, ms).catch((err) => {
      const list = this.waiters.get(ev);
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      throw err;
    });
  }

  count(ev, pred = () => true) {
    return (this.seen.get(ev) || []).filter(pred).length;
  }

  // connected waits for "connect", failing on a connection error instead.
  async connected() {
    const failure = this.h.v4 ? ["error", "connect_error"] : ["connect_error"];
    const p = this.next("connect");
    const errs = failure.map((ev) =>
      this.next(ev).then(
        ([err]) => {
          throw new Error(`${this.label}: ${ev} instead of connect: ${describeError(err)}`);
        },
        () => new Promise(() => {}),
      ),
    );
    await Promise.race([p, ...errs]);
    for (const ev of failure) {
      const list = this.waiters.get(ev) || [];
      while (list.length) list.shift().reject(new Error("connected"));
    }
  }

  // rejected waits for the namespace to refuse the connection and returns the error
  // normalised to {message, data, shape}; a successful connect fails.
  async rejected() {
    const ev = this.h.v4 ? "error" : "connect_error";
    const other = this.next("connect").then(
      () => {
        throw new Error(`${this.label}: connected, want a refusal`);
      },
      () => new Promise(() => {}),
    );
    const fatal = this.h.v4
      ? this.next("connect_error").then(
          ([err]) => {
            throw new Error(`${this.label}: Manager connect_error (not a namespace refusal): ${describeError(err)}`);
          },
          () => new Promise(() => {}),
        )
      : new Promise(() => {});
    const [err] = await Promise.race([this.next(ev), other, fatal]);
    for (const name of ["connect", "connect_error"]) {
      const list = this.waiters.get(name) || [];
      while (list.length) list.shift().reject(new Error("refused"));
    }
    this.expectDisconnect = true;
    if (typeof err === "string") return { message: err, data: undefined, shape: "string" };
    if (err instanceof Error) return { message: err.message, data: err.data, shape: "Error" };
    if (err && typeof err === "object") return { message: err.message, data: err.data, shape: `object ${safeJSON(err)}` };
    return { message: String(err), data: undefined, shape: typeof err };
  }

  emit(ev, ...args) {
    log(`${this.label} -> ${ev} ${short(args)}`);
    this.socket.emit(ev, ...args);
  }

  // emitAck emits ev with an ack callback and returns the ack's arguments (bounded).
  emitAck(ev, ...args) {
    log(`${this.label} -> ${ev} (ack) ${short(args)}`);
    return this.h.bounded(
      new Promise((resolve) => this.socket.emit(ev, ...args, (...res) => resolve(res))),
      `${this.label}: ack of ${JSON.stringify(ev)}`,
    );
  }

  // roundTrip emits "message" with a unique marker and waits for its "message-back":
  // everything the server sent this socket before handling the marker has arrived.
  roundTrip(tag) {
    const marker = `marker-${tag}-${randomUUID()}`;
    this.emit("message", marker);
    return this.until("message-back", (args) => args.length === 1 && args[0] === marker, `the echo of ${marker}`);
  }

  // until waits (bounded) for an ev event whose arguments satisfy pred, without
  // consuming anything from next()'s queue.
  until(ev, pred, what, ms = this.h.timeout) {
    if (this.count(ev, pred)) return Promise.resolve();
    let watcher;
    const p = new Promise((resolve, reject) => {
      watcher = { ev, pred, resolve, reject };
      this.watchers.push(watcher);
    });
    return this.h.bounded(p, `${this.label}: ${what}`, ms).finally(() => {
      const i = this.watchers.indexOf(watcher);
      if (i >= 0) this.watchers.splice(i, 1);
    });
  }

  noteBinary(v) {
    this.binaryTypes.add(v && v.constructor ? v.constructor.name : typeof v);
  }
}

function answerFor(payload, client) {
  return { echo: payload, from: client, n: 7 };
}

// ---- scenarios ---------------------------------------------------------------------

const SCENARIOS = {
  // 1. connect, "auth" is {} on "/", and mixed arguments come back deep-equal.
  basic: {
    async run(h) {
      const a = await h.connect("A");
      const [auth] = await a.next("auth");
      expectEqual(auth, {}, `${a.label}: "auth" payload`);
      a.emit("message", ...MIXED);
      const back = await a.next("message-back");
      expectEqual(back, MIXED, `${a.label}: "message-back" args`);
      return { transport: await h.transport(a), auth, args: back.length };
    },
  },

  // 2. acks in both directions; concurrent acks get their own answers.
  acks: {
    async run(h) {
      const a = await h.connect("A");
      await a.next("auth");
      const res = await a.emitAck("message-with-ack", ...MIXED);
      expectEqual(res, MIXED, `${a.label}: ack of "message-with-ack"`);
      const empty = await a.emitAck("message-with-ack");
      expectEqual(empty, [], `${a.label}: ack of "message-with-ack" without args`);
      const many = await Promise.all(
        Array.from({ length: 5 }, (_, i) => a.emitAck("message-with-ack", `concurrent-${i}`, { i })),
      );
      many.forEach((r, i) => expectEqual(r, [`concurrent-${i}`, { i }], `${a.label}: concurrent ack #${i}`));

      const payload = { q: "what? ¿qué? 𝄞", n: 1, list: [null, true] };
      a.emit("ask-me", payload);
      const [question] = await a.next("question");
      expectEqual(question, payload, `${a.label}: "question" payload`);
      if (a.questionsWithoutAck) throw new Error(`${a.label}: "question" came without an ack id`);
      const [answer] = await a.next("answer");
      expectEqual(answer, answerFor(payload, h.client), `${a.label}: "answer" (the client's ack value)`);
      return { transport: await h.transport(a), concurrentAcks: many.length };
    },
  },

  // 3. binary in both directions, top-level and nested, in events and in acks.
  binary: {
    async run(h) {
      const a = await h.connect("A");
      await a.next("auth");
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const sent = [all, "text", { n: 1 }];
      a.emit("message", ...sent);
      expectEqual(await a.next("message-back"), sent, `${a.label}: "message-back" with a top-level Buffer`, a);

      const nested = {
        a: Buffer.from([1, 2, 3]),
        list: [Buffer.from("héllo"), { deep: { deeper: [all, "x", 1, { last: Buffer.from([0]) }] } }],
        meta: { name: "n", nil: null },
        empty: [],
      };
      a.emit("binary-in-nested", nested);
      const [out] = await a.next("binary-out");
      expectEqual(out, nested, `${a.label}: "binary-out"`, a);

      // BINARY_ACK server → client.
      const ackArgs = [all, { inner: Buffer.from([9, 8, 7]) }, "t"];
      expectEqual(await a.emitAck("message-with-ack", ...ackArgs), ackArgs, `${a.label}: binary ack`, a);

      // BINARY_EVENT with an ack id server → client, and BINARY_ACK client → server.
      const payload = { blob: Buffer.from([0xde, 0xad, 0xbe, 0xef]), list: [Buffer.from("𝄞")] };
      a.emit("ask-me", payload);
      const [question] = await a.next("question");
      expectEqual(question, payload, `${a.label}: binary "question"`, a);
      if (a.questionsWithoutAck) throw new Error(`${a.label}: binary "question" came without an ack id`);
      const [answer] = await a.next("answer");
      expectEqual(answer, answerFor(payload, h.client), `${a.label}: "answer" to a binary ack`, a);
      return { transport: await h.transport(a), binaryTypes: [...a.binaryTypes].sort() };
    },
  },

  // 4. rooms and broadcasts with two sockets on separate Managers. Room names and
  // payloads carry a per-run tag, so runs sharing a server do not see each other's.
  rooms: {
    async run(h) {
      const tag = randomUUID().slice(0, 8);
      const r1 = `r1-${tag}`;
      const r2 = `r2-${tag}`;
      const a = await h.connect("A");
      const b = await h.connect("B");
      await a.next("auth");
      await b.next("auth");
      await a.emitAck("join", r1);
      await a.emitAck("join", r2);

      const ofRun = (n) => ([p]) => p && p.tag === tag && p.n === n;
      const settle = async () => {
        await a.roundTrip(tag);
        await b.roundTrip(tag);
      };
      const expectCount = (s, ev, n, want, what) => {
        const got = s.count(ev, ofRun(n));
        if (got !== want) throw new Error(`${s.label}: ${got} "${ev}" for ${what}, want ${want}`);
      };
      const counts = {};

      // B (in no room) to r1: A once, B never.
      await b.emitAck("to-room", r1, { tag, n: 1 });
      await settle();
      expectCount(a, "room-message", 1, 1, `"to-room" ${r1} from B`);
      expectCount(b, "room-message", 1, 0, `"to-room" ${r1} from B (B is in no room)`);
      expectEqual(a.seen.get("room-message").find(ofRun(1)), [{ tag, n: 1 }], `${a.label}: "room-message" args`);

      // B to r2.
      await b.emitAck("to-room", r2, { tag, n: 2 });
      await settle();
      expectCount(a, "room-message", 2, 1, `"to-room" ${r2} from B`);
      expectCount(b, "room-message", 2, 0, `"to-room" ${r2} from B`);

      // to-all: every socket once, A although it is in two rooms.
      await b.emitAck("to-all", { tag, n: 3 });
      await settle();
      expectCount(a, "all-message", 3, 1, `"to-all" (A is in two rooms)`);
      expectCount(b, "all-message", 3, 1, `"to-all"`);

      // A, in r2, sends to r2: the sender is part of "everyone in the room".
      await a.emitAck("to-room", r2, { tag, n: 4 });
      await settle();
      expectCount(a, "room-message", 4, 1, `"to-room" ${r2} from A itself`);
      expectCount(b, "room-message", 4, 0, `"to-room" ${r2} from A`);

      // A leaves r1: r1 reaches nobody, r2 still reaches A.
      await a.emitAck("leave", r1);
      await b.emitAck("to-room", r1, { tag, n: 5 });
      await b.emitAck("to-room", r2, { tag, n: 6 });
      await settle();
      expectCount(a, "room-message", 5, 0, `"to-room" ${r1} after A left it`);
      expectCount(a, "room-message", 6, 1, `"to-room" ${r2} after A left ${r1}`);

      for (const s of [a, b]) {
        for (const ev of ["room-message", "all-message"]) counts[`${s.label}.${ev}`] = s.count(ev, ([p]) => p && p.tag === tag);
      }
      const transport = await h.transport(a);
      await h.transport(b);
      return { transport, counts };
    },
  },

  // 5. a server-side disconnect: reason "io server disconnect", and no reconnection.
  kick: {
    async run(h) {
      const a = await h.connect("A");
      await a.next("auth");
      const transport = await h.transport(a);
      const manager = a.socket.io;
      const after = { reconnect_attempt: 0, reconnecting: 0, reconnect: 0, open: 0 };
      for (const ev of Object.keys(after)) manager.on(ev, () => after[ev]++);
      // 2.x also emits these on the socket (if it is still subscribed).
      if (h.v4) a.socket.on("reconnect_attempt", () => after.reconnect_attempt++);
      a.expectDisconnect = true;
      a.emit("kick-me");
      const [reason] = await a.next("disconnect");
      if (reason !== "io server disconnect") throw new Error(`${a.label}: disconnect reason ${JSON.stringify(reason)}, want "io server disconnect"`);
      // Absence check: with reconnectionDelay 100 ms a reconnection would start well
      // within this window.
      const windowMs = 1000;
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      const reconnected = a.count("connect") - 1;
      if (Object.values(after).some((n) => n > 0) || reconnected > 0 || a.socket.connected) {
        throw new Error(
          `${a.label}: the client reconnected after "io server disconnect": manager events ${safeJSON(after)}, ` +
            `connects ${reconnected}, connected=${a.socket.connected}`,
        );
      }
      return { transport, reason, watchedMs: windowMs, managerEventsAfter: after };
    },
  },

  // 6. a 500,000-character message (ASCII: 500 KB, under maxHttpBufferSize 1e6).
  large: {
    async run(h) {
      const a = await h.connect("A");
      await a.next("auth");
      const big = bigString(500000);
      a.emit("message", big);
      const back = await a.next("message-back");
      if (back.length !== 1 || typeof back[0] !== "string") {
        throw new Error(`${a.label}: "message-back" ${short(back)}, want one string`);
      }
      if (back[0] !== big) {
        let i = 0;
        while (i < big.length && back[0][i] === big[i]) i++;
        throw new Error(`${a.label}: 500,000-char string came back as ${back[0].length} chars, first difference at ${i}`);
      }
      return { transport: await h.transport(a), chars: back[0].length };
    },
  },

  // 7. namespaces: "/custom", "/private" with its connect middleware, and an unknown one.
  namespaces: {
    async run(h) {
      const results = {};
      const c = await h.connect("custom", "/custom");
      const [auth] = await c.next("auth");
      expectEqual(auth, {}, `${c.label}: "auth" payload`);
      results.custom = { auth, transport: await h.transport(c) };

      const refusal = async (label, nsp, extra, wantMessage, wantData) => {
        const s = h.open(label, nsp, extra);
        const err = await s.rejected();
        if (err.message !== wantMessage) {
          throw new Error(`${label}: refused with message ${JSON.stringify(err.message)} (${err.shape}), want ${JSON.stringify(wantMessage)}`);
        }
        if (wantData !== undefined) expectEqual(err.data, wantData, `${label}: connect_error data`);
        if (s.count("welcome")) throw new Error(`${label}: got "welcome" although refused`);
        results[label] = { message: err.message, data: err.data, shape: err.shape };
      };
      const eAuth = h.v4 ? undefined : { code: "E_AUTH" };
      await refusal("private-no-token", "/private", {}, "not authorized", eAuth);
      if (h.v4) {
        await refusal("private-wrong-token", "/private?token=wrong", {}, "not authorized", eAuth);
      } else {
        await refusal("private-wrong-token", "/private", { auth: { token: "wrong" } }, "not authorized", eAuth);
        // A v5 client's query goes into the Engine.IO handshake, not into the auth
        // payload the middleware checks.
        await refusal("private-query-token", "/private?token=s3cret", {}, "not authorized", eAuth);
      }

      const p = h.v4
        ? await h.connect("private", "/private?token=s3cret")
        : await h.connect("private", "/private", { auth: { token: "s3cret" } });
      const [welcome] = await p.next("welcome");
      if (welcome !== "private") throw new Error(`${p.label}: "welcome" ${short([welcome])}, want "private"`);
      results.private = { welcome, transport: await h.transport(p) };

      await refusal("nope", "/nope", {}, "Invalid namespace", undefined);
      return { transport: results.custom.transport, namespaces: results };
    },
  },

  // 8. the server restarts on the same port; the client reconnects by itself.
  restart: {
    async run(h) {
      const a = await h.connect("A");
      await a.next("auth");
      await a.roundTrip("before");
      const transportBefore = await h.transport(a);
      const idBefore = a.socket.id;
      const manager = a.socket.io;
      let attempts = 0;
      manager.on("reconnect_attempt", () => attempts++);
      a.expectDisconnect = true;

      // Coordination: tell the Go test we are connected, wait for its "restarted" line.
      process.stdout.write(JSON.stringify({ ready: true, id: idBefore, transport: transportBefore }) + "\n");
      const line = await h.bounded(readLine(), "the \"restarted\" line on stdin", h.stdinTimeout);
      log(`stdin: ${line}`);

      // The old server is gone and the new one listens: the client must have lost the
      // connection (now or later, e.g. by a heartbeat timeout) and must come back.
      const [reason] = await a.next("disconnect");
      if (reason === "io server disconnect") {
        throw new Error(
          `${a.label}: the old server sent a Socket.IO DISCONNECT when it stopped (reason "${reason}"): ` +
            "clients do not reconnect after that; a shutdown must only close the transports",
        );
      }
      const deadline = Date.now() + h.timeout;
      // Retry a round trip per connection: a reconnect that raced with the old
      // server's shutdown may die again.
      for (;;) {
        if (!a.socket.connected) await a.next("connect", Math.max(1, deadline - Date.now()));
        // The "auth" of the new connection (the first one was consumed before).
        const left = Math.max(1, deadline - Date.now());
        const attempt = h.bounded(
          Promise.all([a.next("auth", left), a.roundTrip("after")]),
          "\"auth\" and a round trip after the reconnection",
          left,
        );
        const dropped = a.next("disconnect", left).then(
          ([r]) => `dropped again (${r})`,
          () => new Promise(() => {}),
        );
        const again = await Promise.race([attempt.then(() => null), dropped]);
        if (again === null) break;
        if (Date.now() >= deadline) throw new Error(`no stable reconnection within ${h.timeout} ms: ${again}`);
        log(`retry: ${again}`);
      }
      return {
        transport: await h.transport(a),
        transportBefore,
        disconnectReason: reason,
        disconnects: a.count("disconnect"),
        connects: a.count("connect"),
        reconnectAttempts: attempts,
        idChanged: a.socket.id !== idBefore,
      };
    },
  },

  // 9. Socket.IO v5 only: the CONNECT auth payload reaches the server unchanged.
  auth: {
    v5only: true,
    async run(h) {
      const want = { token: "abc", n: 1 };
      const a = await h.connect("A", "/", { auth: want });
      const [auth] = await a.next("auth");
      expectEqual(auth, want, `${a.label}: "auth" payload`);
      return { transport: await h.transport(a), auth };
    },
  },
};

// ---- helpers -----------------------------------------------------------------------

let stdinLines;
function readLine() {
  if (!stdinLines) {
    stdinLines = [];
    const waiting = [];
    const rl = createInterface({ input: process.stdin });
    rl.on("line", (l) => (waiting.length ? waiting.shift()(l) : stdinLines.push(l)));
    rl.on("close", () => {
      while (waiting.length) waiting.shift()(null);
    });
    stdinLines.waiting = waiting;
  }
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve, reject) =>
    stdinLines.waiting.push((l) => (l === null ? reject(new Error("stdin closed before the \"restarted\" line")) : resolve(l))),
  );
}

function bigString(n) {
  // Position markers every 100 chars make a shifted or truncated copy visible.
  let s = "";
  for (let i = 0; s.length < n; i += 100) s += `<${i}>`.padEnd(100, "abcdefghijklmnopqrstuvwxyz0123456789");
  return s.slice(0, n);
}

function toBytes(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

// expectEqual compares got with want deeply; a Buffer in want matches any binary
// value with the same bytes (2.x and 3.x/4.x deliver Buffer or ArrayBuffer), never a
// string or a placeholder object. Object key order does not matter.
function expectEqual(got, want, what, recorder) {
  const diff = difference(want, got, "$", recorder);
  if (diff) throw new Error(`${what}: ${diff}`);
}

function difference(want, got, path, recorder) {
  if (Buffer.isBuffer(want)) {
    const b = toBytes(got);
    if (b === null) return `${path}: want binary ${describe(want)}, got ${describe(got)}`;
    if (recorder) recorder.noteBinary(got);
    return b.equals(want) ? null : `${path}: binary differs: want ${describe(want)}, got ${describe(b)}`;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return `${path}: want an array, got ${describe(got)}`;
    if (got.length !== want.length) return `${path}: want ${want.length} elements, got ${got.length}: ${describe(got)}`;
    for (let i = 0; i < want.length; i++) {
      const d = difference(want[i], got[i], `${path}[${i}]`, recorder);
      if (d) return d;
    }
    return null;
  }
  if (want !== null && typeof want === "object") {
    if (got === null || typeof got !== "object" || Array.isArray(got) || toBytes(got) !== null) {
      return `${path}: want an object, got ${describe(got)}`;
    }
    const wk = Object.keys(want).sort();
    const gk = Object.keys(got).sort();
    if (wk.join("\0") !== gk.join("\0")) return `${path}: keys ${safeJSON(gk)}, want ${safeJSON(wk)}`;
    for (const k of wk) {
      const d = difference(want[k], got[k], `${path}.${k}`, recorder);
      if (d) return d;
    }
    return null;
  }
  return want === got ? null : `${path}: want ${describe(want)}, got ${describe(got)}`;
}

function describe(v) {
  if (v === undefined) return "undefined";
  const b = toBytes(v);
  if (b !== null) {
    const head = b.subarray(0, 16).toString("hex");
    return `<${v.constructor.name} ${b.length} bytes ${head}${b.length > 16 ? "…" : ""}>`;
  }
  const s = safeJSON(v);
  return s.length > 120 ? `${s.slice(0, 120)}… (${s.length} chars)` : s;
}

function short(args) {
  return describe(args);
}

function describeError(err) {
  if (err === null || typeof err !== "object") return safeJSON(err);
  const parts = [err.message || safeJSON(err)];
  if (err.data !== undefined) parts.push(`data=${safeJSON(err.data)}`);
  if (err.description !== undefined) {
    const d = err.description;
    parts.push(`description=${d && d.message ? d.message : typeof d === "object" ? safeJSON(d) : d}`);
  }
  if (err.type) parts.push(`type=${err.type}`);
  return parts.join(" ");
}

function safeJSON(v) {
  try {
    const s = JSON.stringify(v, (k, x) => (x && x.type === "Buffer" && Array.isArray(x.data) ? `<Buffer ${x.data.length}>` : x));
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}

// Start once every declaration above is initialised.
const base = { client: opts && opts.client, mode: opts && opts.transports, scenario: opts && opts.scenario };
if (!finished) {
  main(opts).then(
    (details) => finish({ ok: true, ...base, ...details, elapsedMs: Date.now() - started }),
    (err) => finish({ ok: false, error: errorText(err), ...base, trace }),
  );
}
