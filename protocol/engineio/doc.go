// Package engineio implements the Engine.IO wire formats, revisions 3
// (socket.io 1.x/2.x clients, EIO=3) and 4 (socket.io 3.x/4.x clients,
// EIO=4), as described in the engine.io-protocol README (branch v3 for
// revision 3, main for revision 4) and implemented by npm engine.io-parser
// 2.2.x and 5.x and by the engine.io server's polling-jsonp transport.
//
// It is the counterpart of engine.io-parser and knows nothing of sessions:
// every function is pure, with no goroutines and no I/O, and only the
// standard library is imported. Functions follow the strconv Append style
// (they append to a caller's buffer and return it), so a caller that reuses
// its buffers encodes without allocating.
//
// # Packets
//
// A Packet is a type (open, close, ping, pong, message, upgrade, noop: the
// digits 0-6) and an optional payload. A binary message (Packet.Binary)
// carries raw bytes; every other packet is text, written "<type><data>".
//
// # Framings
//
//   - WebSocket: one packet per frame (AppendWebSocket, DecodeWebSocket). A
//     binary message is a binary frame: the raw bytes in revision 4, a 0x04
//     type byte and the bytes in revision 3. AppendText writes the base64
//     text form that clients connected with b64=1 (forceBase64) expect.
//   - HTTP long-polling: several packets in one body, a "payload"
//     (AppendPayload, AppendPayloadPacket, DecodePayload). PayloadFormat
//     picks one of the three wire forms: revision 4 joins packets with the
//     record separator 0x1e and sends binary as "b"+base64; revision 3
//     prefixes each packet with its length in UTF-16 code units ("6:4hello")
//     and sends binary as "b4"+base64, or, for XHR2 clients, writes a binary
//     body with byte lengths.
//   - JSONP polling: the text payload wrapped in a script call
//     (AppendJSONP) and a form-encoded POST body (DecodeJSONPBody).
//
// The open packet's JSON is built by AppendHandshake.
//
// # Errors
//
// Decoders return errors that wrap one of the Err* sentinels (test with
// errors.Is); the wrapping names the offending packet or byte. Any of them
// means the peer sent a malformed body, which engine.io answers by closing
// the session ("parse error").
//
// # Strictness
//
// The decoders accept everything the reference clients produce and reject
// some inputs that engine.io-parser tolerates by accident: length prefixes
// that JavaScript's Number() accepts but that are not decimal digits
// (" 5", "0x5", "5e0"), empty packets inside a payload (which the Node
// parser skips), truncated XHR2 packets (which it silently shortens),
// base64 that Node's lenient decoder accepts (URL alphabet, missing padding,
// embedded garbage), and binary packets whose type is not message.
package engineio
