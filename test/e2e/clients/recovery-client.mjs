#!/usr/bin/env node
// recovery-client.mjs drives a real socket.io-client from npm through one
// connection-state recovery scenario against suiteserver(s) started with
// -recovery (see ../recovery_test.go for the server's test events), and prints
// one JSON line: {"ok":true,...details} (exit 0) or {"ok":false,"error":...}.
//
//   node recovery-client.mjs --scenario recover|expire|plain --client sio2|sio3|sio4 \
//        --transports websocket|polling --url http://127.0.0.1:PORT [--url2 URL] \
//        [--count 300] [--every 5] [--cut 50] [--wait 0] [--timeout 15000]
//
// recover  connect, join a room, ask the server for a stream of --count "seq"
//          events to it (one every --every ms), and after --cut of them close the
//          transport under the client (WebSocket: the TCP connection is torn down;
//          polling: the engine is closed). The client reconnects by itself (to
//          --url2 when given: another node of the cluster) and must come back
//          recovered, with the same id and room, and get every event of the
//          stream once, in order. With --url2 the new node then streams too.
//          With --tolerant the events may come more than once or not at all
//          (counted and reported, in order all the same): a Node node on
//          @socket.io/redis-streams-adapter delivers what it replays and what
//          it reads from the stream meanwhile without sorting them out.
// expire   as recover, but the client stays away --wait ms (past the server's
//          maxDisconnectionDuration) while another socket broadcasts --flood
//          events to the room (more than the server keeps, for the bound's test):
//          it must come back with a new session (not recovered, a new id, not in
//          the room) and none of what was broadcast meanwhile.
// plain    connect, join, receive one broadcast to the room: reports the
//          arguments it came with (2.x clients get no offset).

import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

let opts;
try {
  opts = parseArgs({
    options: {
      scenario: { type: "string" },
      client: { type: "string", default: "sio4" },
      transports: { type: "string", default: "websocket" },
      url: { type: "string" },
      url2: { type: "string" },
      count: { type: "string", default: "300" },
      every: { type: "string", default: "5" },
      cut: { type: "string", default: "50" },
      wait: { type: "string", default: "0" },
      flood: { type: "string", default: "1" },
      tolerant: { type: "boolean", default: false },
      timeout: { type: "string", default: "15000" },
    },
    strict: true,
  }).values;
} catch (err) {
  finish({ ok: false, error: `bad arguments: ${err.message}` });
}

const timeout = Number(opts.timeout);

// bounded rejects after the run's timeout with what was awaited.
function bounded(p, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${timeout} ms waiting for ${what}`)), timeout);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// boundedDescribed is bounded with the description computed at the timeout.
function boundedDescribed(p, describe) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${timeout} ms waiting for ${describe()}`)), timeout);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Client is one socket with everything it received recorded, in order.
class Client {
  constructor(io, url, extra = {}) {
    this.socket = io(url, {
      forceNew: true,
      transports: [opts.transports],
      // socket.io-client's default. The cut is seen by the server at once
      // (the TCP connection ends, or the close packet arrives); a client
      // back before the server saw its connection go gets a new session.
      reconnectionDelay: 1000,
      reconnectionDelayMax: 1000,
      randomizationFactor: 0,
      timeout,
      ...extra,
    });
    this.events = []; // [name, ...args]
    this.connects = [];
    this.disconnects = [];
    this.waiters = [];
    const record = (args) => {
      this.events.push(args);
      this.wake();
    };
    if (typeof this.socket.onAny === "function") {
      this.socket.onAny((...args) => record(args));
    } else {
      // socket.io-client 2.x has no onAny.
      for (const name of ["seq", "room-message", "all-message"]) {
        this.socket.on(name, (...args) => record([name, ...args]));
      }
    }
    this.socket.on("connect", () => {
      this.connects.push({ id: this.socket.id, recovered: this.socket.recovered === true, seen: this.events.length });
      this.wake();
    });
    this.socket.on("disconnect", (reason) => {
      this.disconnects.push(reason);
      this.wake();
    });
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  // until waits (bounded) until cond() holds, woken by every event.
  until(cond, what) {
    const state = () =>
      `${what} (connects ${JSON.stringify(this.connects)}, disconnects ${this.disconnects}, ` +
      `a: ${this.seq("a").length} events, last ${JSON.stringify(this.seq("a").slice(-1)[0])}, b: ${this.seq("b").length})`;
    return boundedDescribed(
      new Promise((resolve) => {
        const check = () => (cond() ? resolve() : this.waiters.push(check));
        check();
      }),
      state,
    );
  }

  call(event, ...args) {
    return bounded(new Promise((resolve) => this.socket.emit(event, ...args, (...res) => resolve(res))), `the ack of ${event}`);
  }

  seq(tag) {
    return this.events.filter((e) => e[0] === "seq" && e[1] === tag);
  }

  // cut closes the transport under the client; it reconnects by itself.
  cut() {
    const engine = this.socket.io.engine;
    const t = engine.transport;
    if (t.name === "websocket" && t.ws && typeof t.ws.terminate === "function") {
      t.ws.terminate(); // the TCP connection is destroyed, no close frame
    } else {
      engine.close();
    }
  }

  close() {
    this.socket.io.reconnection(false);
    this.socket.close();
  }
}

// checkStream verifies that tag's events came once each, in order, 0..n-1,
// with growing offsets. With --tolerant it returns the duplicates and the
// missing events instead of failing on them.
function checkStream(c, tag, n) {
  const got = c.seq(tag);
  if (opts.tolerant) {
    let dups = 0;
    for (let i = 1; i < got.length; i++) {
      if (got[i][2] < got[i - 1][2]) throw new Error(`stream ${tag}: ${got[i][2]} after ${got[i - 1][2]}`);
      if (got[i][2] === got[i - 1][2]) dups++;
    }
    return { dups, missing: n - new Set(got.map((e) => e[2])).size };
  }
  for (let i = 0; i < got.length; i++) {
    if (got[i][2] !== i) {
      const around = got.slice(Math.max(0, i - 3), i + 3).map((e) => e[2]);
      throw new Error(`stream ${tag}: event ${i} is ${got[i][2]} (around: ${around}): lost or duplicated`);
    }
    if (typeof got[i][3] !== "string") throw new Error(`stream ${tag}: event ${i} has no offset`);
  }
  if (got.length !== n) throw new Error(`stream ${tag}: ${got.length} events, want ${n}`);
  return { dups: 0, missing: 0 };
}

const SCENARIOS = {
  async recover(io) {
    const count = Number(opts.count);
    const room = "rec-" + randomUUID();
    const c = new Client(io, opts.url);
    await c.until(() => c.connects.length === 1, "the first connect");
    const first = c.connects[0];
    await c.call("join", room);
    await c.call("stream", room, "a", count, Number(opts.every));
    await c.until(() => c.seq("a").length >= Number(opts.cut), "the first events of the stream");
    if (opts.url2) c.socket.io.uri = opts.url2; // the next connection goes to the other node
    const before = c.events.length;
    c.cut();
    await c.until(() => c.connects.length === 2, "the reconnection");
    const second = c.connects[1];
    // What came before the second connect event was replayed (socket.io-client
    // emits the missed packets it buffered before "connect").
    const replayed = second.seen - before;
    if (opts.url2) await c.call("stream", room, "b", 50, 1);
    const last = (tag) => c.seq(tag).slice(-1)[0];
    await c.until(
      () => (last("a") || [])[2] === count - 1 && (!opts.url2 || (last("b") || [])[2] === 49),
      "the end of the streams",
    );
    await sleep(100); // a duplicate would come right behind the last event
    const a = checkStream(c, "a", count);
    if (opts.url2) checkStream(c, "b", 50);
    const [state] = await c.call("state");
    c.close();
    return {
      recovered: second.recovered,
      sameId: second.id === first.id,
      inRoom: state.rooms.includes(room),
      serverRecovered: state.recovered,
      disconnectReason: c.disconnects[0],
      replayed,
      received: c.seq("a").length,
      duplicates: a.dups,
      missing: a.missing,
    };
  },

  async expire(io) {
    const room = "exp-" + randomUUID();
    const c = new Client(io, opts.url);
    await c.until(() => c.connects.length === 1, "the first connect");
    const first = c.connects[0];
    await c.call("join", room);
    await c.call("stream", room, "a", 5, 0);
    await c.until(() => c.seq("a").length === 5, "the stream");
    c.socket.io.reconnection(false);
    c.cut();
    await c.until(() => c.disconnects.length === 1, "the disconnection");
    const other = new Client(io, opts.url);
    await other.until(() => other.connects.length === 1, "the other socket");
    for (let i = 0; i < Number(opts.flood); i++) await other.call("to-room", room, { missed: i });
    await sleep(Number(opts.wait));
    c.socket.io.reconnection(true);
    c.socket.connect();
    await c.until(() => c.connects.length === 2, "the reconnection");
    const [state] = await c.call("state");
    // A broadcast after the reconnection reaches the room's members only.
    await other.call("to-room", room, { after: true });
    await other.call("to-all", { marker: true });
    await c.until(() => c.events.some((e) => e[0] === "all-message"), "the marker");
    other.close();
    c.close();
    return {
      recovered: c.connects[1].recovered,
      sameId: c.connects[1].id === first.id,
      inRoom: state.rooms.includes(room),
      roomMessages: c.events.filter((e) => e[0] === "room-message").length,
    };
  },

  async plain(io) {
    const room = "plain-" + randomUUID();
    const c = new Client(io, opts.url);
    await c.until(() => c.connects.length === 1, "the connect");
    await c.call("join", room);
    await c.call("to-room", room, { hello: 1 });
    await c.until(() => c.events.some((e) => e[0] === "room-message"), "the broadcast");
    const ev = c.events.find((e) => e[0] === "room-message");
    c.close();
    return { args: ev.slice(1) };
  },
};

async function main() {
  if (!SCENARIOS[opts.scenario]) throw new Error(`--scenario must be one of ${Object.keys(SCENARIOS)}`);
  if (!opts.url) throw new Error("--url is required");
  const mod = require(opts.client);
  const io = mod.io || mod;
  const details = await SCENARIOS[opts.scenario](io);
  return { version: require(`${opts.client}/package.json`).version, ...details };
}

if (!finished) {
  main().then(
    (details) => finish({ ok: true, scenario: opts.scenario, transports: opts.transports, ...details }),
    (err) => finish({ ok: false, error: err && err.stack ? err.stack : String(err) }),
  );
}
