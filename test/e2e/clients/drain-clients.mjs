#!/usr/bin/env node
// drain-clients.mjs plays many Drupal pages at once for ../drain_test.go: each
// client connects the way the module's nodejs.js does (io.connect(url,
// {timeout: 5000}), emit "authenticate" {authToken} on every connect, default
// reconnection), and records, for each of its connections, the sequence
// numbers of the test's publishes it received, so the test can tell whether a
// connection missed one. Nothing is printed per message: the test asks.
//
//   node drain-clients.mjs --url http://127.0.0.1:PORT --count N [--first F] [--timeout ms]
//
// Clients F to F+N-1 (several processes share a large count); client i
// authenticates with the token "drain-<i>" and uses, by i % 5:
// 0 socket.io-client 2.x on polling only, 1-2 2.x with its default transports
// (polling, then the upgrade), 3-4 4.x with its defaults.
//
// Commands (stdin), each answered with one line:
//   {"cmd":"open"}              open every client (spread over a second or so)
//                               -> {"ev":"opening"}
//   {"cmd":"status","tag":T,"seq":S}
//                               -> {"ev":"status","authed":A,"onTag":B,"atSeq":Q,"connects":C,"connectErrors":E}
//                               A: clients authenticated on their current connection;
//                               B: those of them whose Engine.IO sid starts with T;
//                               Q: those whose current connection received publish S
//   {"cmd":"report"}            -> {"ev":"report","clients":[{"conns":[conn...]}...]}
//                               conn: {"sid","authed","first","last","n","gaps":[[after,got]...],"end",
//                               "at","authedAt","endAt"} (wall clock, ms since the epoch; endAt 0 while open)
//   {"cmd":"done"}              close everything, print the result line
// A message event whose data has callback "drainSeq" carries data.seq; within one
// connection the seqs must come one after another (a gap is a lost publish).
// The last line is {"ok":true,...} (exit 0) or {"ok":false,"error":...} (exit 1).

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

// now is the wall clock in milliseconds (fractional), comparable with the
// test's: the test checks which publishes a connection was open for.
const now = () => performance.timeOrigin + performance.now();

let finished = false;
const clients = [];
function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
function finish(result) {
  if (finished) return;
  finished = true;
  for (const c of clients) if (c.socket) c.socket.close();
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: "string" },
      count: { type: "string" },
      first: { type: "string", default: "0" },
      timeout: { type: "string", default: "120000" },
    },
    strict: true,
  }).values;
  if (!opts.url) throw new Error("--url is required");
  if (!(Number(opts.count) > 0)) throw new Error("--count must be a positive number");
  if (!(Number(opts.first) >= 0)) throw new Error("--first must be a number");
  if (!(Number(opts.timeout) > 0)) throw new Error("--timeout must be a positive number");
} catch (err) {
  finish({ ok: false, error: `bad arguments: ${err.message}` });
}

if (!finished) {
  const libs = {};
  for (const name of ["sio2", "sio4"]) {
    const mod = require(name);
    libs[name] = mod.io || mod; // 2.x exports the lookup function itself
  }
  const timer = setTimeout(() => finish({ ok: false, error: `no "done" within ${opts.timeout} ms` }), Number(opts.timeout));
  timer.unref();
  let connects = 0;
  let connectErrors = 0;

  const first = Number(opts.first);

  function open(i) {
    const id = first + i;
    const kind = id % 5;
    const io = kind < 3 ? libs.sio2 : libs.sio4;
    const options = { timeout: 5000, forceNew: true };
    if (kind === 0) options.transports = ["polling"];
    const c = { conns: [], cur: null, socket: null };
    clients[i] = c;
    const socket = io.connect(opts.url, options);
    c.socket = socket;
    socket.on("connect", () => {
      connects++;
      const sid = socket.io && socket.io.engine ? socket.io.engine.id : "";
      c.cur = { sid, authed: false, first: null, last: null, n: 0, gaps: [], end: "", at: now(), authedAt: 0, endAt: 0 };
      c.conns.push(c.cur);
      socket.emit("authenticate", { authToken: `drain-${id}` });
    });
    socket.on("message", (data) => {
      const conn = c.cur;
      if (!conn || !data) return;
      if (data.callback === "clientAuthenticated") {
        conn.authed = true;
        conn.authedAt = now();
        return;
      }
      if (data.callback !== "drainSeq" || !data.data) return;
      const seq = data.data.seq;
      if (conn.last !== null && seq !== conn.last + 1) conn.gaps.push([conn.last, seq]);
      if (conn.first === null) conn.first = seq;
      conn.last = seq;
      conn.n++;
    });
    socket.on("disconnect", (reason) => {
      if (c.cur) {
        c.cur.end = String(reason);
        c.cur.endAt = now();
      }
      c.cur = null;
    });
    socket.on("connect_error", () => {
      connectErrors++;
    });
  }

  function status(tag, seq) {
    let authed = 0;
    let onTag = 0;
    let atSeq = 0;
    for (const c of clients) {
      if (!c || !c.cur || !c.cur.authed) continue;
      authed++;
      if (tag && c.cur.sid.startsWith(tag)) onTag++;
      if (seq && c.cur.last !== null && c.cur.last >= seq) atSeq++;
    }
    return { ev: "status", authed, onTag, atSeq, connects, connectErrors };
  }

  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (finished || !line.trim()) return;
    let c;
    try {
      c = JSON.parse(line);
      switch (c.cmd) {
        case "open": {
          // A few at a time, as pages load: the first contacts of many
          // clients at once would only measure the machine's backlog.
          const n = Number(opts.count);
          let i = 0;
          const batch = () => {
            for (let k = 0; k < 20 && i < n; k++, i++) open(i);
            if (i < n) setTimeout(batch, 20);
          };
          batch();
          out({ ev: "opening" });
          break;
        }
        case "status":
          out(status(c.tag || "", Number(c.seq) || 0));
          break;
        case "report":
          out({
            ev: "report",
            clients: clients.map((x) => ({ conns: x ? x.conns : [] })),
          });
          break;
        case "done":
          finish({ ok: true });
          return;
        default:
          throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
      }
    } catch (err) {
      finish({ ok: false, error: `command ${line}: ${err && err.message ? err.message : String(err)}` });
    }
  });
  rl.on("close", () => finish({ ok: true }));
}
