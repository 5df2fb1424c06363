package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// withID sets the ack id of p, for table literals.
func withID(p Packet, id uint64) Packet { p.ID, p.HasID = id, true; return p }

// decodeMessages feeds a header and its attachments to d, as the server
// will, and requires the packet to complete exactly at the last message.
func decodeMessages(d *Decoder, header string, attachments [][]byte) (Packet, error) {
	p, ok, err := d.Add([]byte(header))
	if err != nil {
		return Packet{}, err
	}
	for i, a := range attachments {
		if ok {
			return Packet{}, fmt.Errorf("packet complete after %d of %d attachments", i, len(attachments))
		}
		p, ok, err = d.AddBinary(a)
		if err != nil {
			return Packet{}, err
		}
	}
	if !ok {
		return Packet{}, fmt.Errorf("packet incomplete after %d attachments", len(attachments))
	}
	return p, nil
}

func ph(n int) string { return string(Placeholder(n)) }

type wireCase struct {
	name        string
	wire        string   // the text message, without Engine.IO's "4"
	attachments [][]byte // the binary messages after it
	want        Packet
	encoded     string // what AppendEncode writes, when not wire
}

// v5Cases are the packet examples of the socket.io-protocol README (v5,
// main branch) and of the conformance suite (see shared/conformance).
var v5Cases = []wireCase{
	// Packet encoding > Connection to a namespace
	{name: "connect main namespace", wire: `0`, want: Packet{Type: Connect, Namespace: "/"}},
	{name: "connect reply custom namespace", wire: `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
		want: Packet{Type: Connect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}},
	{name: "connect refused", wire: `4{"message":"Not authorized"}`,
		want: Packet{Type: ConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"Not authorized"}`)}},
	// Exchange protocol > Connection to a namespace
	{name: "connect with auth payload", wire: `0/admin,{"token":"123"}`,
		want: Packet{Type: Connect, Namespace: "/admin", Data: json.RawMessage(`{"token":"123"}`)}},
	{name: "connect reply main namespace", wire: `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		want: Packet{Type: Connect, Namespace: "/", Data: json.RawMessage(`{"sid":"wZX3oN0bSVIhsaknAAAI"}`)}},
	// Packet encoding > Sending and receiving data
	{name: "event main namespace", wire: `2["foo"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["foo"]`)}},
	{name: "event custom namespace", wire: `2/admin,["bar"]`, want: Packet{Type: Event, Namespace: "/admin", Data: json.RawMessage(`["bar"]`)}},
	{name: "binary event", wire: `51-["baz",` + ph(0) + `]`, attachments: [][]byte{{1, 2, 3, 4}},
		want: Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["baz",` + ph(0) + `]`), Attachments: [][]byte{{1, 2, 3, 4}}}},
	{name: "binary event two attachments", wire: `52-/admin,["baz",` + ph(0) + `,` + ph(1) + `]`, attachments: [][]byte{{1, 2}, {3, 4}},
		want: Packet{Type: BinaryEvent, Namespace: "/admin", Data: json.RawMessage(`["baz",` + ph(0) + `,` + ph(1) + `]`), Attachments: [][]byte{{1, 2}, {3, 4}}}},
	// Packet encoding > Acknowledgement
	{name: "event with ack id", wire: `212["foo"]`, want: withID(Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["foo"]`)}, 12)},
	{name: "ack custom namespace", wire: `3/admin,13["bar"]`, want: withID(Packet{Type: Ack, Namespace: "/admin", Data: json.RawMessage(`["bar"]`)}, 13)},
	{name: "binary ack", wire: `61-15["bar",` + ph(0) + `]`, attachments: [][]byte{{1, 2, 3, 4}},
		want: withID(Packet{Type: BinaryAck, Namespace: "/", Data: json.RawMessage(`["bar",` + ph(0) + `]`), Attachments: [][]byte{{1, 2, 3, 4}}}, 15)},
	// Exchange protocol > Acknowledgement
	{name: "empty ack", wire: `312[]`, want: withID(Packet{Type: Ack, Namespace: "/", Data: json.RawMessage(`[]`)}, 12)},
	{name: "event with ack id custom namespace", wire: `2/admin,13["foo"]`, want: withID(Packet{Type: Event, Namespace: "/admin", Data: json.RawMessage(`["foo"]`)}, 13)},
	{name: "binary event with ack id", wire: `51-14["foo",` + ph(0) + `]`, attachments: [][]byte{{1, 2, 3, 4}},
		want: withID(Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["foo",` + ph(0) + `]`), Attachments: [][]byte{{1, 2, 3, 4}}}, 14)},
	// Packet encoding > Disconnection from a namespace
	{name: "disconnect main namespace", wire: `1`, want: Packet{Type: Disconnect, Namespace: "/"}},
	{name: "disconnect custom namespace", wire: `1/admin,`, want: Packet{Type: Disconnect, Namespace: "/admin"}},
	// Sample session
	{name: "sample event", wire: `2["hey","Jude"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["hey","Jude"]`)}},
	{name: "sample connect admin", wire: `0/admin,`, want: Packet{Type: Connect, Namespace: "/admin"}},
	{name: "sample connect admin reply", wire: `0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}`,
		want: Packet{Type: Connect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"-G5j-67EZFp-q59rADQM"}`)}},
	{name: "sample event with ack", wire: `2/admin,1["tellme"]`, want: withID(Packet{Type: Event, Namespace: "/admin", Data: json.RawMessage(`["tellme"]`)}, 1)},
	{name: "sample binary ack", wire: `61-/admin,1[` + ph(0) + `]`, attachments: [][]byte{{0xff}},
		want: withID(Packet{Type: BinaryAck, Namespace: "/admin", Data: json.RawMessage(`[` + ph(0) + `]`), Attachments: [][]byte{{0xff}}}, 1)},

	// Conformance suite (socket.io-protocol test-suite).
	{name: "suite connect with token", wire: `0{"token":"123"}`, want: Packet{Type: Connect, Namespace: "/", Data: json.RawMessage(`{"token":"123"}`)}},
	{name: "suite connect custom without comma", wire: `0/custom`, want: Packet{Type: Connect, Namespace: "/custom"}, encoded: `0/custom,`},
	{name: "suite disconnect custom without comma", wire: `1/custom`, want: Packet{Type: Disconnect, Namespace: "/custom"}, encoded: `1/custom,`},
	{name: "suite invalid namespace reply", wire: `4/random,{"message":"Invalid namespace"}`,
		want: Packet{Type: ConnectError, Namespace: "/random", Data: json.RawMessage(`{"message":"Invalid namespace"}`)}},
	{name: "suite message keeps JSON compact", wire: `2["message",1,"2",{"3":[true]}]`,
		want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["message",1,"2",{"3":[true]}]`)}},
	{name: "suite message with ack", wire: `2456["message-with-ack",1,"2",{"3":[true]}]`,
		want: withID(Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["message-with-ack",1,"2",{"3":[true]}]`)}, 456)},
	{name: "suite ack", wire: `3456[1,"2",{"3":[true]}]`, want: withID(Packet{Type: Ack, Namespace: "/", Data: json.RawMessage(`[1,"2",{"3":[true]}]`)}, 456)},
	{name: "suite binary message", wire: `52-["message",` + ph(0) + `,` + ph(1) + `]`, attachments: [][]byte{{1, 2, 3}, {4, 5, 6}},
		want: Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["message",` + ph(0) + `,` + ph(1) + `]`), Attachments: [][]byte{{1, 2, 3}, {4, 5, 6}}}},
	{name: "suite binary message with ack", wire: `52-789["message-with-ack",` + ph(0) + `,` + ph(1) + `]`, attachments: [][]byte{{1, 2, 3}, {4, 5, 6}},
		want: withID(Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["message-with-ack",` + ph(0) + `,` + ph(1) + `]`), Attachments: [][]byte{{1, 2, 3}, {4, 5, 6}}}, 789)},
	{name: "suite binary ack", wire: `62-789[` + ph(0) + `,` + ph(1) + `]`, attachments: [][]byte{{1, 2, 3}, {4, 5, 6}},
		want: withID(Packet{Type: BinaryAck, Namespace: "/", Data: json.RawMessage(`[` + ph(0) + `,` + ph(1) + `]`), Attachments: [][]byte{{1, 2, 3}, {4, 5, 6}}}, 789)},

	// Edge cases of the grammar.
	{name: "explicit root namespace", wire: `2/,["x"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["x"]`)}, encoded: `2["x"]`},
	{name: "query stays in a v5 namespace", wire: `0/admin?token=abc,`, want: Packet{Type: Connect, Namespace: "/admin?token=abc"}},
	{name: "numeric event name", wire: `2[1,"x"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`[1,"x"]`)}},
	{name: "binary event with zero attachments", wire: `50-["x"]`, want: Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["x"]`)}},
	{name: "ack id leading zeros", wire: `3007[]`, want: withID(Packet{Type: Ack, Namespace: "/", Data: json.RawMessage(`[]`)}, 7), encoded: `37[]`},
	{name: "max uint64 ack id", wire: `318446744073709551615[]`, want: withID(Packet{Type: Ack, Namespace: "/", Data: json.RawMessage(`[]`)}, 18446744073709551615)},
	{name: "nested placeholder", wire: `51-["up",{"file":{"data":` + ph(0) + `}}]`, attachments: [][]byte{{9}},
		want: Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["up",{"file":{"data":` + ph(0) + `}}]`), Attachments: [][]byte{{9}}}},
	{name: "empty attachment", wire: `51-["up",` + ph(0) + `]`, attachments: [][]byte{{}},
		want: Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["up",` + ph(0) + `]`), Attachments: [][]byte{{}}}},
	{name: "connect error string", wire: `4"Not authorized"`, want: Packet{Type: ConnectError, Namespace: "/", Data: json.RawMessage(`"Not authorized"`)}},
	{name: "trailing whitespace kept", wire: "2[\"x\"] \n", want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage("[\"x\"] \n")}},
}

// v4Cases are the examples of the socket.io-protocol README on the v4 branch.
var v4Cases = []wireCase{
	{name: "connect default namespace", wire: `0`, want: Packet{Type: Connect, Namespace: "/"}},
	{name: "connect admin", wire: `0/admin,`, want: Packet{Type: Connect, Namespace: "/admin"}},
	{name: "connect with query", wire: `0/admin?token=1234&uid=abcd,`, want: Packet{Type: Connect, Namespace: "/admin", Query: "token=1234&uid=abcd"}},
	{name: "connect with query no comma", wire: `0/admin?token=abc`, want: Packet{Type: Connect, Namespace: "/admin", Query: "token=abc"}, encoded: `0/admin?token=abc,`},
	{name: "connect root with query", wire: `0/?token=abc,`, want: Packet{Type: Connect, Namespace: "/", Query: "token=abc"}},
	{name: "disconnect admin", wire: `1/admin,`, want: Packet{Type: Disconnect, Namespace: "/admin"}},
	{name: "event", wire: `2["hello",1]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}},
	{name: "event with ack id", wire: `2/admin,456["project:delete",123]`,
		want: withID(Packet{Type: Event, Namespace: "/admin", Data: json.RawMessage(`["project:delete",123]`)}, 456)},
	{name: "ack", wire: `3/admin,456[]`, want: withID(Packet{Type: Ack, Namespace: "/admin", Data: json.RawMessage(`[]`)}, 456)},
	{name: "error", wire: `4/admin,"Not authorized"`, want: Packet{Type: ConnectError, Namespace: "/admin", Data: json.RawMessage(`"Not authorized"`)}},
	{name: "binary event", wire: `51-["hello",` + ph(0) + `]`, attachments: [][]byte{{1, 2, 3}},
		want: Packet{Type: BinaryEvent, Namespace: "/", Data: json.RawMessage(`["hello",` + ph(0) + `]`), Attachments: [][]byte{{1, 2, 3}}}},
	{name: "binary event with ack id", wire: `51-/admin,456["project:delete",` + ph(0) + `]`, attachments: [][]byte{{1, 2, 3}},
		want: withID(Packet{Type: BinaryEvent, Namespace: "/admin", Data: json.RawMessage(`["project:delete",` + ph(0) + `]`), Attachments: [][]byte{{1, 2, 3}}}, 456)},
	{name: "binary ack", wire: `61-/admin,456[` + ph(0) + `]`, attachments: [][]byte{{3, 2, 1}},
		want: withID(Packet{Type: BinaryAck, Namespace: "/admin", Data: json.RawMessage(`[` + ph(0) + `]`), Attachments: [][]byte{{3, 2, 1}}}, 456)},
	{name: "sample event", wire: `2["hey","Jude"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["hey","Jude"]`)}},
	{name: "sample event with ack", wire: `2/admin,1["tellme"]`, want: withID(Packet{Type: Event, Namespace: "/admin", Data: json.RawMessage(`["tellme"]`)}, 1)},
}

func runWireCases(t *testing.T, rev Revision, cases []wireCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(DecoderConfig{Revision: rev})
			got, err := decodeMessages(d, tc.wire, tc.attachments)
			if err != nil {
				t.Fatalf("decode %q: %v", tc.wire, err)
			}
			if !got.Equal(&tc.want) || got.Namespace != tc.want.Namespace {
				t.Fatalf("decode %q:\n got %+v\nwant %+v", tc.wire, got, tc.want)
			}
			want := tc.encoded
			if want == "" {
				want = tc.wire
			}
			header, atts, err := Encode(&tc.want)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if string(header) != want {
				t.Fatalf("encode = %q, want %q", header, want)
			}
			if len(atts) != len(tc.attachments) {
				t.Fatalf("encode gave %d attachments, want %d", len(atts), len(tc.attachments))
			}
			for i := range atts {
				if !bytes.Equal(atts[i], tc.attachments[i]) {
					t.Fatalf("attachment %d = %v, want %v", i, atts[i], tc.attachments[i])
				}
			}
		})
	}
}

func TestWireV5(t *testing.T) { runWireCases(t, V5, v5Cases) }
func TestWireV4(t *testing.T) { runWireCases(t, V4, v4Cases) }

func TestZeroDecoderIsV5(t *testing.T) {
	var d Decoder
	p, ok, err := d.Add([]byte(`0/admin?x=1,`))
	if err != nil || !ok || p.Namespace != "/admin?x=1" || p.Query != "" {
		t.Fatalf("got %+v ok=%v err=%v", p, ok, err)
	}
}

func TestPacketTypeString(t *testing.T) {
	for typ, want := range map[PacketType]string{Connect: "CONNECT", ConnectError: "CONNECT_ERROR", BinaryAck: "BINARY_ACK", 7: "PacketType(7)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
	if V4.String() != "v4" || V5.String() != "v5" || Revision(3).String() != "Revision(3)" {
		t.Errorf("Revision.String: %s %s %s", V4, V5, Revision(3))
	}
}

func TestConnectReply(t *testing.T) {
	tests := []struct {
		name          string
		rev           Revision
		nsp, sid, pid string
		want          string
	}{
		{"v5 main", V5, "/", "wZX3oN0bSVIhsaknAAAI", "", `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`},
		{"v5 custom", V5, "/admin", "oSO0OpakMV_3jnilAAAA", "", `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
		{"v5 with pid", V5, "/", "a", "b", `0{"sid":"a","pid":"b"}`},
		{"v4 main", V4, "/", "ignored", "", `0`},
		{"v4 custom", V4, "/admin", "ignored", "", `0/admin,`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewConnectReply(tc.rev, tc.nsp, tc.sid, tc.pid)
			h, _, err := Encode(&p)
			if err != nil || string(h) != tc.want {
				t.Fatalf("got %q, %v; want %q", h, err, tc.want)
			}
		})
	}
}

func TestConnectError(t *testing.T) {
	tests := []struct {
		name     string
		rev      Revision
		nsp, msg string
		data     json.RawMessage
		want     string
	}{
		{"v5 invalid namespace", V5, "/random", "Invalid namespace", nil, `4/random,{"message":"Invalid namespace"}`},
		{"v5 with data", V5, "/", "Not authorized", json.RawMessage(`{"code":401}`), `4{"message":"Not authorized","data":{"code":401}}`},
		{"v5 escapes message", V5, "/", "bad \"token\"\n", nil, `4{"message":"bad \"token\"\n"}`},
		{"v4 message string", V4, "/admin", "Not authorized", nil, `4/admin,"Not authorized"`},
		{"v4 object data wins", V4, "/", "x", json.RawMessage(`{"code":401}`), `4{"code":401}`},
		{"v4 string data wins", V4, "/", "x", json.RawMessage(`"denied"`), `4"denied"`},
		{"v4 empty string data is falsy", V4, "/", "x", json.RawMessage(`""`), `4"x"`},
		{"v4 number data falls back", V4, "/", "x", json.RawMessage(`5`), `4"x"`},
		{"v4 invalid data falls back", V4, "/", "x", json.RawMessage(`{`), `4"x"`},
		{"v4 unterminated string data", V4, "/", "x", json.RawMessage(`"`), `4"x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewConnectError(tc.rev, tc.nsp, tc.msg, tc.data)
			h, _, err := Encode(&p)
			if err != nil || string(h) != tc.want {
				t.Fatalf("got %q, %v; want %q", h, err, tc.want)
			}
		})
	}
}
