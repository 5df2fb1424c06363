// Package socketio implements the Socket.IO packet format, revisions 4
// (socket.io 1.x/2.x clients) and 5 (socket.io 3.x/4.x clients), as
// described in the socket.io-protocol README and implemented by npm
// socket.io-parser 3.4.x (v4) and 4.2.x (v5).
//
// It is the counterpart of socket.io-parser and knows nothing of Engine.IO:
// every packet travels as one Engine.IO message (the "4" prefix is the
// engine's business), and binary attachments travel as the binary messages
// that follow it. It is pure: no goroutines, no I/O, standard library only.
//
// Three entry points:
//
//   - Packet is one packet. Its JSON payload stays raw bytes (Data), so
//     arguments round-trip byte-exactly; nothing is re-marshalled through
//     maps. Attachments holds the binary attachments in placeholder order.
//   - AppendEncode / Encode write the text header
//     <type>[<attachments>-][<nsp>,][<ack id>][<JSON>]; the caller then
//     sends each attachment as its own binary message.
//   - Decoder reads one connection: Add for each text message, AddBinary
//     for each binary one. A BINARY_EVENT/BINARY_ACK header makes it wait
//     for the announced attachments before it returns the packet.
//
// Helpers for the server layer: SplitEvent/SplitArray cut a payload into raw
// arguments; AppendEventData/AppendArrayData and NewEvent/NewAck build them;
// Args carries arguments with their attachments and decodes one into a Go
// value with placeholders substituted (Args.Arg); NewConnectReply and
// NewConnectError build the namespace handshake replies per revision.
//
// # Revisions
//
// Encoding is identical in v4 and v5. The differences a server sees are:
// in v4 the namespace of a CONNECT may carry a query (`40/admin?token=x,`),
// exposed as Packet.Query by a V4 Decoder; the v4 CONNECT reply has no
// payload (`40/admin,`) where v5 sends {"sid":...}; a v4 CONNECT_ERROR is
// usually a JSON string (`44"Not authorized"`), a v5 one an object
// {"message":...,"data":...}.
//
// # Validation
//
// The Decoder refuses, with an error wrapping one of the Err* values, every
// packet Node's parser refuses, plus some it lets through:
//
//   - unknown type, or an empty message (Node reads "" as CONNECT);
//   - binary packets whose count is not digits followed by '-' (Node's
//     Number() also takes "", "1e1" and " 1"), or more than MaxAttachments;
//   - ack ids that are not plain digits or overflow uint64; junk between the
//     header and the payload (`2abc["x"]`); ACK packets without an id (Node
//     ignores them);
//   - payloads that are not well-formed JSON, nest deeper than MaxDepth, or
//     have the wrong shape (isPayloadValid of socket.io-parser 4.2.4):
//     CONNECT absent or an object (v4's parser also took null and arrays;
//     v4 clients never send a CONNECT payload, so the v5 rule applies to
//     both); DISCONNECT absent; CONNECT_ERROR absent, an object or a
//     string; EVENT a non-empty array whose first element is a string that
//     is not reserved (see IsReservedEvent), or a number; ACK an array. The
//     reserved-name check applies to v4 too: v4 clients cannot emit those
//     names either. EVENT and ACK without payload are refused, as the
//     protocol README requires ("the payload is mandatory");
//   - in binary packets, any object whose "_placeholder" is true and whose
//     "num" is not a canonical integer literal in [0, attachments), at any
//     depth (CVE-2022-2421; Node checks typeof num === "number", so it
//     accepts 1.0, 1e0 and -0, which socketd refuses). These are checked on
//     the header, before any attachment is buffered;
//   - a text message while attachments are pending, a binary message when
//     none are, and attachments beyond MaxBufferedBytes.
//
// Choices where Node is loose or silent:
//
//   - Numeric event names (`2[1,"x"]`) are accepted, as socket.io-parser
//     accepts them; SplitEvent returns the literal ("1") as the name. Node
//     would also map 1.0 to "1"; clients send integers.
//   - Placeholders and attachments are not counted against each other, as
//     in Node: an attachment may be referenced twice or never. A legitimate
//     client always writes one placeholder per attachment; unreferenced
//     ones cost memory bounded by MaxAttachments and MaxBufferedBytes.
//     Args.Arg, which copies attachments into the JSON it decodes, refuses
//     to expand more bytes than the attachments hold, so repeated
//     references cannot multiply memory.
//   - A binary packet announcing 0 attachments is complete at once, as in
//     Node, and then may contain no placeholder.
//   - Placeholder-shaped objects in EVENT/ACK (non-binary) packets are plain
//     data, as in Node.
//   - Ack ids span uint64; clients count from 0, far below 2^53.
//   - The payload must start right after the header with '[', '{' or '"';
//     trailing whitespace is kept in Data.
//
// Errors mean the peer is broken or hostile; the protocol README says to
// close the whole connection.
package socketio
