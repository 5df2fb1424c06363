#!/usr/bin/env node
// drupal-client.mjs plays the browsers of a Drupal site for ../drupal_flow_test.go: it
// opens socket.io-client connections the way the module's nodejs.js does
// (io.connect(url, {timeout: 5000}) with the client's default transports, emit
// "authenticate" {authToken} without an ack on every connect, every "message" event
// recorded) and reports what each socket sees, one JSON object per stdout line, while
// the Go test drives it with one JSON command per stdin line.
//
//   node drupal-client.mjs --url http://127.0.0.1:PORT --client sio2|sio4 [--timeout 60000]
//
// Commands (stdin):
//   {"cmd":"connect","name":N,"token":T}          open socket N, authenticate with T on connect
//                                                 ("transports":[...] optional, e.g. ["polling"];
//                                                 "url":U optional, another server than --url;
//                                                 "contentTokens":{channel: token} optional, sent
//                                                 with authenticate as the page's settings do)
//   {"cmd":"emit","name":N,"event":E,"data":D}     socket N emits E with D (no ack)
//   {"cmd":"close","name":N}                      socket N disconnects (client side)
//   {"cmd":"done"}                                close everything, print the result line
// Events (stdout), every one with "name" (the socket) and "ev":
//   {"ev":"connect","id":socket.id,"sid":engine id} (every connect, reconnects included)
//   {"ev":"message","data":D,"raw":JSON.stringify(D)}
//   {"ev":"disconnect","reason":R}
//   {"ev":"connect_error","error":...}
//   {"ev":"upgrade","transport":name}             the Engine.IO transport changed
//   {"ev":"ack","cmd":...}                        a command was carried out
// The last line is {"ok":true,"version":...} (exit 0) or {"ok":false,"error":...} (exit 1).
// The whole run is bounded by --timeout milliseconds, and stdin closing ends it as "done".

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

let finished = false;
function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
function finish(result) {
  if (finished) return;
  finished = true;
  for (const s of sockets.values()) s.close();
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

const sockets = new Map();

function errorText(err) {
  if (err && err.message) return err.message;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: "string" },
      client: { type: "string" },
      timeout: { type: "string", default: "60000" },
    },
    strict: true,
  }).values;
  if (!opts.url) throw new Error("--url is required");
  if (!["sio2", "sio4"].includes(opts.client)) throw new Error("--client must be sio2 or sio4");
  if (!(Number(opts.timeout) > 0)) throw new Error("--timeout must be a positive number");
} catch (err) {
  finish({ ok: false, error: `bad arguments: ${err.message}` });
}

if (!finished) {
  const mod = require(opts.client);
  const io = mod.io || mod; // 2.x exports the lookup function itself
  const version = require(`${opts.client}/package.json`).version;
  const timer = setTimeout(() => finish({ ok: false, error: `no "done" within ${opts.timeout} ms` }), Number(opts.timeout));
  timer.unref();

  function transportName(socket) {
    const engine = socket.io && socket.io.engine;
    return engine && engine.transport ? engine.transport.name : "";
  }

  function connect(name, token, transports, url, contentTokens) {
    if (sockets.has(name)) throw new Error(`socket ${name} exists`);
    // As nodejs.js: io.connect(url, {timeout}); forceNew so that every simulated
    // browser has its own Engine.IO connection.
    const options = { timeout: 5000, forceNew: true };
    if (transports) options.transports = transports;
    const socket = io.connect(url || opts.url, options);
    sockets.set(name, socket);
    socket.on("connect", () => {
      const sid = socket.io && socket.io.engine ? socket.io.engine.id : "";
      out({ name, ev: "connect", id: socket.id, sid, transport: transportName(socket) });
      socket.emit("authenticate", contentTokens ? { authToken: token, contentTokens } : { authToken: token });
      const engine = socket.io.engine;
      if (engine && !engine.__watched) {
        engine.__watched = true;
        engine.on("upgrade", (t) => out({ name, ev: "upgrade", transport: t && t.name ? t.name : transportName(socket) }));
      }
    });
    socket.on("message", (data) => out({ name, ev: "message", data, raw: JSON.stringify(data) }));
    socket.on("disconnect", (reason) => out({ name, ev: "disconnect", reason: String(reason) }));
    socket.on("connect_error", (err) => out({ name, ev: "connect_error", error: errorText(err) }));
  }

  function get(name) {
    const s = sockets.get(name);
    if (!s) throw new Error(`no socket ${name}`);
    return s;
  }

  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (finished || !line.trim()) return;
    let c;
    try {
      c = JSON.parse(line);
      switch (c.cmd) {
        case "connect":
          connect(c.name, c.token, c.transports, c.url, c.contentTokens);
          break;
        case "emit":
          get(c.name).emit(c.event, c.data);
          break;
        case "close":
          get(c.name).close();
          break;
        case "done":
          finish({ ok: true, version });
          return;
        default:
          throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
      }
      out({ name: c.name || "", ev: "ack", cmd: c.cmd });
    } catch (err) {
      finish({ ok: false, error: `command ${line}: ${errorText(err)}`, version });
    }
  });
  rl.on("close", () => finish({ ok: true, version }));
}
