// A Node socket.io 4.8 node on @socket.io/redis-adapter 8.3 and a
// @socket.io/redis-emitter 5.1 publisher, sharing one Redis with a socketd
// node (TestRedisWire drives it). Lines on stdout report what happened;
// lines on stdin tell it when to go on.
//
//   node redis-wire.mjs redis://127.0.0.1:PORT [static|dynamic]
//
// With a subscription mode the Node node uses createShardedAdapter in that
// mode and there is no emitter (it speaks the classic wire only).
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { io as connect } from "sio4";

const url = process.argv[2];
const mode = process.argv[3];
const sharded = !!mode;
const out = (...parts) => process.stdout.write(parts.join(" ") + "\n");
const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on("line", (l) => waiting.shift()?.(l));
const nextLine = () => new Promise((resolve) => waiting.push(resolve));

const pub = createClient({ url });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const adapter = sharded ? createShardedAdapter(pub, sub, { subscriptionMode: mode }) : createAdapter(pub, sub);
const io = new Server(http, { adapter });
io.on("connection", (socket) => socket.join("r"));
io.on("pingNode", (x, cb) => cb("pong-" + x)); // a server-side event from socketd
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));

const client = connect(`http://127.0.0.1:${http.address().port}`, { transports: ["websocket"] });
client.on("fromGo", (...args) => {
  out("fromGo", JSON.stringify(args.map((a) =>
    Buffer.isBuffer(a) || a instanceof ArrayBuffer ? { buffer: Buffer.from(a).toString("hex") } : a)));
});
client.on("ask", (n, cb) => cb("node-client-" + n));
await new Promise((resolve) => client.on("connect", resolve));
out("ready", client.id);

await nextLine(); // the socketd node is subscribed
if (!sharded) new Emitter(pub).to("r").emit("fromEmitter", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) }, new Date(0), 1e19);
io.to("r").emit("fromNode", Buffer.from([5, 6]), "text");
out("emitted");

await nextLine(); // socketd's client answers acks
const answers = await io.timeout(10000).to("r").emitWithAck("ask", 1);
out("answers", JSON.stringify(answers.map((a) => Buffer.isBuffer(a) ? { buffer: a.toString("hex") } : a).sort()));

await nextLine(); // server-side events with answers, to socketd
out("serverAnswers", JSON.stringify(await io.serverSideEmitWithAck("pingGo", 1)));

await nextLine(); // now act on socketd's socket
const sockets = await io.fetchSockets();
out("fetched", JSON.stringify(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort() }))));
io.in("g").socketsJoin("joinedByNode");
io.to("joinedByNode").emit("afterJoin");
io.in("g").disconnectSockets(true);
out("acted");

await nextLine();
client.close();
io.close();
await Promise.all([pub.quit().catch(() => {}), sub.quit().catch(() => {})]);
out("done");
process.exit(0);
