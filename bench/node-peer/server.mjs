// The Node peer of socketd's benchmark: socket.io 4.8 (allowEIO3, so Drupal's
// socket.io-client 2.x can connect) serving the part of the drupal-node.js
// 1.0.13 contract the benchmark drives (docs: ../../docs/PERFORMANCE.md):
//
//   - socket event `authenticate` {authToken, ...}: POST the message to the
//     Drupal backend as form fields messageJson + serviceKey; on a valid reply
//     join its channels (as socket.io rooms), mark the socket authenticated,
//     tell Drupal `userOnline` for a uid's first socket, push
//     `message` {"callback":"clientAuthenticated","data":<reply>} and ack
//     {"result":"success"}; on an invalid reply disconnect the socket.
//   - POST <basePath>publish with header NodejsServiceKey: `broadcast` truthy
//     sends to every authenticated socket, else to `channel`; the reply is
//     {"status":"success","sent":N}.
//   - GET <basePath>health/check.
//
// Written the usual way for socket.io (rooms, io.to(room).emit), as an
// operator would; it is not drupal-node.js itself (no content tokens, kick,
// presence lists or extensions).
//
// With --redis URL the process is one node of a cluster: @socket.io/redis-adapter
// 8.3 (on the `redis` 4 client, key prefix "socket.io") carries every emit to
// the other nodes, so a publish POSTed to any node reaches the channel's members
// wherever they are connected. Rooms are named as socketd names them in a
// cluster (issue 10): `drupal:authenticated` for every authenticated socket and
// `channel:<name>` for a Drupal channel. The publish reply's `sent` counts this
// node's members only (the adapter does not count remote deliveries).
//
// Usage: node server.mjs [--host 127.0.0.1] [--port 8092]
//          [--backend http://127.0.0.1:8099/nodejs/message]
//          [--service-key bench-service-key] [--base-path /nodejs/]
//          [--redis redis://127.0.0.1:6379]
//          [--tls-cert cert.pem --tls-key key.pem]   (node:https, as drupal-node.js
//                                                      serves scheme "https")
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { Server } from "socket.io";

function args(argv) {
  const o = {
    host: "127.0.0.1",
    port: 8092,
    backend: "http://127.0.0.1:8099/nodejs/message",
    "service-key": "bench-service-key",
    "base-path": "/nodejs/",
    path: "/socket.io",
    "ping-interval": 25000,
    redis: "",
    "tls-cert": "",
    "tls-key": "",
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, "");
    if (!(k in o) || i + 1 >= argv.length) {
      console.error(`node-peer: unknown or incomplete option ${argv[i]}`);
      process.exit(2);
    }
    o[k] = argv[++i];
  }
  return o;
}

const opt = args(process.argv.slice(2));
const serviceKey = opt["service-key"];
const basePath = opt["base-path"];
const backendURL = new URL(opt.backend);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// AUTHED holds every authenticated socket; a Drupal channel is the room
// channelRoom(name), so no channel name can collide with AUTHED.
const AUTHED = "drupal:authenticated";
const channelRoom = (name) => "channel:" + name;
const uidSockets = new Map(); // uid -> number of authenticated sockets

// backend POSTs one message to Drupal and resolves with the parsed reply.
function backend(message) {
  const body = new URLSearchParams({
    messageJson: JSON.stringify(message),
    serviceKey,
  }).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      backendURL,
      {
        method: "POST",
        agent,
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "Content-Length": Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) {
            reject(new Error(`backend HTTP ${res.statusCode}`));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()));
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function readJSON(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on("data", (c) => {
      n += c.length;
      if (n > limit) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString() || "null"));
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

// The Drupal routes. Registered before socket.io attaches, which forwards
// every request outside its path to the listeners present at that time.
async function routes(req, res) {
  const url = new URL(req.url, "http://x");
  if (!url.pathname.startsWith(basePath)) {
    res.writeHead(404, { "Content-Type": "text/html" });
    res.end("Not Found.");
    return;
  }
  if (serviceKey && req.headers["nodejsservicekey"] !== serviceKey) {
    reply(res, 200, { error: "Invalid service key." });
    return;
  }
  const route = url.pathname.slice(basePath.length);
  if (route === "publish" && req.method === "POST") {
    let msg;
    try {
      msg = await readJSON(req);
    } catch {
      reply(res, 400, { error: "Invalid JSON." });
      return;
    }
    if (!msg || (!msg.broadcast && !msg.channel)) {
      reply(res, 200, { error: "Required parameters are missing." });
      return;
    }
    const room = msg.broadcast ? AUTHED : channelRoom(String(msg.channel));
    const sent = io.sockets.adapter.rooms.get(room)?.size ?? 0;
    // In a cluster the members may all sit on other nodes: emit regardless.
    if (sent > 0 || opt.redis) io.to(room).emit("message", msg);
    reply(res, 200, { status: "success", sent });
    return;
  }
  if (route === "health/check" && req.method === "GET") {
    reply(res, 200, {
      authenticatedClients: io.sockets.adapter.rooms.get(AUTHED)?.size ?? 0,
      sockets: io.of("/").sockets.size,
      onlineUsers: uidSockets.size,
      tokenChannels: 0,
      contentTokens: {},
      status: "success",
      version: "1.0.13",
    });
    return;
  }
  res.writeHead(404, { "Content-Type": "text/html" });
  res.end("Not Found.");
}

const handle = (req, res) => {
  routes(req, res).catch((e) => {
    if (!res.headersSent) reply(res, 500, { error: String(e) });
  });
};
const scheme = opt["tls-cert"] ? "https" : "http";
const httpServer = opt["tls-cert"]
  ? https.createServer({ cert: readFileSync(opt["tls-cert"]), key: readFileSync(opt["tls-key"]) }, handle)
  : http.createServer(handle);
httpServer.keepAliveTimeout = 65000;

const io = new Server(httpServer, {
  path: opt.path,
  allowEIO3: true,
  serveClient: false,
  pingInterval: Number(opt["ping-interval"]),
});

function userOnline(uid) {
  const n = (uidSockets.get(uid) ?? 0) + 1;
  uidSockets.set(uid, n);
  if (n === 1) backend({ uid, messageType: "userOnline" }).catch(() => {});
}

function userGone(uid) {
  const n = (uidSockets.get(uid) ?? 0) - 1;
  if (n > 0) {
    uidSockets.set(uid, n);
    return;
  }
  uidSockets.delete(uid);
  // drupal-node.js waits 2 s for a reconnect before telling Drupal.
  setTimeout(() => {
    if (!uidSockets.has(uid)) {
      backend({ uid, messageType: "userOffline" }).catch(() => {});
    }
  }, 2000).unref();
}

io.on("connection", (socket) => {
  let authing = false;
  socket.on("authenticate", async (message, ack) => {
    if (authing || !message || typeof message !== "object") return;
    authing = true;
    let auth;
    try {
      auth = await backend({
        ...message,
        messageType: "authenticate",
        clientId: socket.id,
      });
    } catch {
      socket.disconnect(true);
      return;
    }
    if (!auth || auth.error || !auth.nodejsValidAuthToken) {
      socket.disconnect(true);
      return;
    }
    if (!socket.connected) return;
    const uid = Number(auth.uid) || 0;
    socket.data.uid = uid;
    const rooms = [AUTHED];
    for (const ch of Array.isArray(auth.channels) ? auth.channels : []) {
      if (typeof ch === "string") rooms.push(channelRoom(ch));
    }
    socket.join(rooms);
    if (uid !== 0) userOnline(uid);
    socket.emit("message", { callback: "clientAuthenticated", data: auth });
    if (typeof ack === "function") ack({ result: "success" });
  });
  socket.on("disconnect", () => {
    if (socket.data.uid) userGone(socket.data.uid);
  });
});

if (opt.redis) {
  // Loaded only in cluster mode, so the single-node peer needs neither package.
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pubClient = createClient({ url: opt.redis });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) {
    c.on("error", (e) => console.error(`node-peer: redis: ${e.message}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

httpServer.listen(Number(opt.port), opt.host, () => {
  const mode = opt.redis ? `, cluster node on ${opt.redis}` : "";
  console.error(`node-peer: listening on ${scheme}://${opt.host}:${opt.port} (pid ${process.pid})${mode}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
