#!/usr/bin/env node
// engineio-client.mjs drives one real engine.io-client from npm against an Engine.IO
// echo endpoint (every message, text or binary, is sent back unchanged) and checks the
// round trips. The Go tests in ../engineio_clients_test.go run it once per
// client × transport combination.
//
//   node engineio-client.mjs --url http://127.0.0.1:PORT --client eio3|eio6 \
//        --transports websocket|polling|default|polling-b64 [--path /engine.io/] \
//        [--timeout 10000] [--count 200] [--heartbeats 2]
//
// Clients: eio3 = engine.io-client 3.5.x (EIO=3), eio6 = engine.io-client 6.6.x (EIO=4).
// Modes:
//   websocket    transports ["websocket"]
//   polling      transports ["polling"]
//   default      the client's default: polling, then upgrade to websocket
//   polling-b64  eio3 only: transports ["polling"] with forceBase64 (b64=1)
// (JSONP is not offered: engine.io-client 3.x implements it with <script> and
// <form>/<iframe> elements, so it needs a browser document.)
//
// Checks, in order, each bounded by --timeout milliseconds:
//   1. the socket opens;
//   2. right after `open` it sends a few text messages (non-ASCII, astral, empty,
//      newline), one binary message (bytes 0..255) and --count numbered messages; in
//      default mode it sends 20 more while upgrading and 20 right after the upgrade, so
//      traffic crosses the polling→websocket switch in both directions; every echo
//      must arrive complete and in order;
//   3. default mode: the transport was upgraded to websocket;
//   4. at least --heartbeats heartbeats pass with the socket open (eio6: server pings
//      received, eio3: pongs received for the client's pings);
//   5. the socket closes cleanly on close().
// Prints exactly one JSON line on stdout: {"ok":true,...details} and exits 0, or
// {"ok":false,"error":"..."} and exits 1. Set DEBUG=engine.io-client* for client logs
// on stderr.

import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

const MODES = {
  eio3: ["websocket", "polling", "default", "polling-b64"],
  eio6: ["websocket", "polling", "default"],
};

const TEXTS = ["héllo €𝄞", "", "12:4 \"quoted\" \\ back\nslash"];
const UPGRADE_BATCH = 20;

let finished = false;

function finish(result) {
  if (finished) return;
  finished = true;
  const line = JSON.stringify(result) + "\n";
  process.stdout.write(line, () => process.exit(result.ok ? 0 : 1));
}

function fail(error, extra = {}) {
  finish({ ok: false, error: String(error && error.message ? error.message : error), ...extra });
}

let args;
try {
  args = parseArgs({
    options: {
      url: { type: "string" },
      client: { type: "string" },
      transports: { type: "string", default: "default" },
      path: { type: "string", default: "/engine.io/" },
      timeout: { type: "string", default: "10000" },
      count: { type: "string", default: "200" },
      heartbeats: { type: "string", default: "2" },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(`bad arguments: ${err.message}`);
}

if (!finished) {
  main(args).catch((err) => fail(err));
}

async function main(opts) {
  const client = opts.client;
  const mode = opts.transports;
  const timeout = Number(opts.timeout);
  const count = Number(opts.count);
  const wantHeartbeats = Number(opts.heartbeats);
  if (!opts.url) throw new Error("--url is required");
  if (!MODES[client]) throw new Error(`--client must be one of ${Object.keys(MODES).join(", ")}`);
  if (!MODES[client].includes(mode)) {
    throw new Error(`--transports for ${client} must be one of ${MODES[client].join(", ")}`);
  }
  for (const [name, v] of [["timeout", timeout], ["count", count], ["heartbeats", wantHeartbeats]]) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  }

  const clientOpts = { path: opts.path };
  if (mode === "websocket") clientOpts.transports = ["websocket"];
  if (mode === "polling" || mode === "polling-b64") clientOpts.transports = ["polling"];
  if (mode === "polling-b64") clientOpts.forceBase64 = true;

  let Socket;
  let version;
  if (client === "eio3") {
    Socket = require("eio3");
    version = require("eio3/package.json").version;
  } else {
    ({ Socket } = await import("eio6"));
    version = require("eio6/package.json").version;
  }

  const state = {
    client,
    version,
    mode,
    trace: [], // the last protocol-level events, for failure reports
    sent: { atOpen: 0, duringUpgrade: 0, afterUpgrade: 0 },
    receivedByTransport: {},
    packetsIn: {},
    binaryType: null,
    heartbeats: 0,
    upgraded: false,
    transportAtOpen: null,
  };
  const trace = (ev) => {
    state.trace.push(`${Date.now() - started}ms ${ev}`);
    if (state.trace.length > 30) state.trace.shift();
  };
  const started = Date.now();

  // expected is the sequence of echoes, in send order.
  const expected = [];
  let received = 0;
  let socket;

  const failWith = (error) => {
    fail(error, {
      client,
      version,
      mode,
      received,
      expected: expected.length,
      transport: socket && socket.transport ? socket.transport.name : null,
      trace: state.trace,
    });
    try {
      socket.close();
    } catch {
      // already closed
    }
  };

  // Each phase is a promise with a deadline.
  const deferred = (what) => {
    let resolve;
    let reject;
    const p = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    p.what = what;
    p.resolve = resolve;
    p.reject = reject;
    p.settled = false;
    p.then(() => (p.settled = true), () => (p.settled = true));
    return p;
  };
  const within = async (p) => {
    if (p.settled) return p;
    let timer;
    const t = new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timeout after ${timeout} ms waiting for ${p.what}`)), timeout);
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  };

  const opened = deferred("open");
  const echoed = deferred("all echoes");
  const upgraded = deferred("upgrade to websocket");
  const beats = deferred(`${wantHeartbeats} heartbeats`);
  const closed = deferred("close");
  // Any of these rejects every pending phase at once.
  const abort = (err) => {
    for (const p of [opened, echoed, upgraded, beats]) if (!p.settled) p.reject(err);
  };
  if (wantHeartbeats === 0) beats.resolve();

  const send = (data, phase) => {
    expected.push(data);
    state.sent[phase]++;
    socket.send(data);
  };
  const sendNumbered = (prefix, n, phase) => {
    for (let i = 0; i < n; i++) send(`${prefix}-${i}`, phase);
  };

  socket = new Socket(opts.url, clientOpts);

  // Every packet the active transport delivers, by type: a "ping" from the server
  // on EIO=3 or a "pong" on EIO=4 is the wrong heartbeat direction, which both
  // clients silently tolerate, so the Go test checks these counts.
  socket.on("packet", (packet) => {
    state.packetsIn[packet.type] = (state.packetsIn[packet.type] || 0) + 1;
  });
  socket.on("handshake", (data) => {
    state.handshake = data;
  });
  socket.on("open", () => {
    state.transportAtOpen = socket.transport.name;
    trace(`open transport=${socket.transport.name} sid=${socket.id}`);
    for (const text of TEXTS) send(text, "atOpen");
    send(Buffer.from(Array.from({ length: 256 }, (_, i) => i)), "atOpen");
    sendNumbered("msg", count, "atOpen");
    opened.resolve();
  });
  socket.on("upgrading", (transport) => {
    trace(`upgrading to=${transport.name}`);
    if (mode === "default") sendNumbered("upgrading", UPGRADE_BATCH, "duringUpgrade");
  });
  socket.on("upgrade", (transport) => {
    trace(`upgrade to=${transport.name}`);
    state.upgraded = true;
    if (mode === "default") sendNumbered("upgraded", UPGRADE_BATCH, "afterUpgrade");
    if (transport.name === "websocket") upgraded.resolve();
  });
  socket.on("upgradeError", (err) => {
    trace(`upgradeError ${err && err.message}`);
    abort(new Error(`upgrade failed: ${err && err.message}`));
  });
  socket.on("message", (data) => {
    const tname = socket.transport ? socket.transport.name : "?";
    state.receivedByTransport[tname] = (state.receivedByTransport[tname] || 0) + 1;
    const index = received++;
    if (index >= expected.length) {
      abort(new Error(`unexpected extra message #${index}: ${describe(data)}`));
      return;
    }
    const want = expected[index];
    if (typeof want === "string") {
      // Both client generations decode a message packet without data ("4") as
      // undefined, so an empty text message comes back as undefined.
      const text = want === "" && data === undefined ? "" : data;
      if (typeof text !== "string" || text !== want) {
        abort(new Error(`echo #${index} over ${tname}: want text ${describe(want)}, got ${describe(data)}`));
        return;
      }
    } else {
      const got = toBuffer(data);
      if (got === null) {
        abort(new Error(`echo #${index} over ${tname}: want binary ${describe(want)}, got ${describe(data)}`));
        return;
      }
      state.binaryType = data.constructor ? data.constructor.name : typeof data;
      if (!got.equals(want)) {
        abort(new Error(`echo #${index} over ${tname}: binary differs: want ${describe(want)}, got ${describe(got)}`));
        return;
      }
    }
    if (received === expected.length && echoesComplete()) echoed.resolve();
  });
  // eio6: the server pings (EIO=4). eio3: the client pings and counts the server's pongs.
  socket.on(client === "eio6" ? "ping" : "pong", () => {
    state.heartbeats++;
    trace(`heartbeat ${state.heartbeats}`);
    if (state.heartbeats >= wantHeartbeats) beats.resolve();
  });
  socket.on("error", (err) => {
    trace(`error ${err && err.message}`);
    abort(new Error(`socket error: ${describeError(err)}`));
  });
  socket.on("close", (reason, desc) => {
    trace(`close reason=${reason}`);
    state.closeReason = reason;
    if (!closed.settled) closed.resolve(reason);
    abort(new Error(`socket closed early: ${reason}${desc ? ` (${describeError(desc)})` : ""}`));
  });

  // In default mode the batches sent around the upgrade are part of the sequence too,
  // so "complete" also needs the upgrade to have happened.
  const echoesComplete = () => mode !== "default" || state.sent.afterUpgrade === UPGRADE_BATCH;

  try {
    await within(opened);
    if (mode === "default") await within(upgraded);
    if (received === expected.length && echoesComplete() && !echoed.settled) echoed.resolve();
    await within(echoed);
    await within(beats);
  } catch (err) {
    failWith(err);
    return;
  }

  const transportAtEnd = socket.transport.name;
  const wantTransport = mode === "default" || mode === "websocket" ? "websocket" : "polling";
  if (transportAtEnd !== wantTransport) {
    failWith(new Error(`transport at the end is ${transportAtEnd}, want ${wantTransport}`));
    return;
  }
  const details = {
    ok: true,
    client,
    version,
    mode,
    protocol: Number(client === "eio3" ? require("eio3").protocol : Socket.protocol),
    sid: socket.id,
    transportAtOpen: state.transportAtOpen,
    transportAtEnd,
    upgraded: state.upgraded,
    handshake: state.handshake, // the open packet's JSON as the client decoded it
    sent: state.sent,
    received,
    receivedByTransport: state.receivedByTransport,
    packetsIn: state.packetsIn,
    binaryType: state.binaryType,
    heartbeats: state.heartbeats,
    elapsedMs: Date.now() - started,
  };

  socket.close();
  try {
    details.closeReason = await within(closed);
  } catch (err) {
    failWith(err);
    return;
  }
  finish(details);
}

function toBuffer(data) {
  if (typeof data === "string") return null;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function describe(data) {
  if (typeof data === "string") {
    return data.length > 60 ? `${JSON.stringify(data.slice(0, 60))}… (${data.length} chars)` : JSON.stringify(data);
  }
  const b = toBuffer(data);
  if (b === null) return `${typeof data} ${String(data).slice(0, 60)}`;
  const head = b.subarray(0, 16).toString("hex");
  return `<${b.length} bytes ${head}${b.length > 16 ? "…" : ""}>`;
}

function describeError(err) {
  if (!err) return String(err);
  if (typeof err !== "object") return String(err);
  const parts = [err.message || err.type || String(err)];
  if (err.description !== undefined) {
    const d = err.description;
    parts.push(`description=${d && d.message ? d.message : typeof d === "object" ? safeJSON(d) : d}`);
  }
  if (err.context && err.context.status !== undefined) parts.push(`status=${err.context.status}`);
  if (err.transport) parts.push(`transport=${err.transport}`);
  return parts.join(" ");
}

function safeJSON(v) {
  try {
    return JSON.stringify(v).slice(0, 200);
  } catch {
    return String(v);
  }
}
