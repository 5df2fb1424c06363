// Generates golden.json: what notepack.io 3.x (the codec of
// @socket.io/redis-adapter 8.x and @socket.io/redis-emitter 5.x) writes for
// broadcast messages, and what a Node node's socket.io-parser then writes to
// its clients. Run from test/e2e (its node_modules):
//   node ../../server/adapter/redisadapter/wire/testdata/golden.js > ../../server/adapter/redisadapter/wire/testdata/golden.json
const path = require("path");
const req = (m) => require(path.join(process.cwd(), "node_modules", m));
const msgpack = req("notepack.io");
const { Encoder } = require(require.resolve("socket.io-parser", { paths: [require.resolve(path.join(process.cwd(), "node_modules", "socket.io"))] }));

const cases = {
  "plain": ["ev", 1, "two", { three: 3, four: [4, true, null] }],
  "buffer": ["bin", Buffer.from([1, 2, 3]), { nested: Buffer.from("hi") }, [Buffer.alloc(300, 7)]],
  "date": ["d", new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), new Date(0), new Date(Date.UTC(2025, 5, 6)), new Date(-1), new Date(Date.UTC(20000, 0, 1)), new Date(Date.UTC(-5, 0, 1))],
  "numbers": ["n", 0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -128, -129, -32768, -32769, -2147483648, -2147483649, 1.5, -0.25, 1e19, 9007199254740991, -9007199254740991, 1e-7, 1e21, 0.1],
  "strings": ["s", "", "a".repeat(31), "b".repeat(32), "c".repeat(255), "d".repeat(256), "é€😀", "quote\"back\\slash\nnl\u0001"],
  "undefined": ["u", { a: undefined, b: 1, c: null }, [undefined, 2]],
  "arrays": ["a", new Array(15).fill(1), new Array(16).fill(2), {}, [], Object.fromEntries(Array.from({ length: 16 }, (_, i) => ["k" + i, i]))],
  "typed": ["t", new Uint8Array([9, 8]), new Uint8Array([5, 6, 7]).buffer],
};

const out = [];
for (const [name, data] of Object.entries(cases)) {
  const packet = { type: 2, data, nsp: "/" };
  const opts = { rooms: ["r1"], except: ["x"], flags: {} };
  const msg = msgpack.encode(["uid123", packet, opts]);
  // What a receiving Node node writes to its clients.
  const decoded = msgpack.decode(msg);
  const encoded = new Encoder().encode(decoded[1]);
  out.push({
    name,
    msgpack: msg.toString("hex"),
    header: encoded[0],
    attachments: encoded.slice(1).map((b) => Buffer.from(b).toString("hex")),
  });
}
// The emitter's forms.
const emitted = msgpack.encode(["emitter", { type: 2, data: ["e", Buffer.from([0xff])], nsp: "/admin" }, { rooms: [], flags: { volatile: true }, except: [] }]);
out.push({ name: "emitter", msgpack: emitted.toString("hex"), header: new Encoder().encode(msgpack.decode(emitted)[1])[0], attachments: ["ff"] });
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
