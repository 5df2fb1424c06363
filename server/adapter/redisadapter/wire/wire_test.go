package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

type golden struct {
	Name        string   `json:"name"`
	Msgpack     string   `json:"msgpack"`
	Header      string   `json:"header"`
	Attachments []string `json:"attachments"`
}

func loadGolden(t testing.TB) []golden {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g []golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenDecode decodes messages notepack.io 3.x wrote (testdata/golden.js)
// and checks that this node would write to its clients exactly what a Node
// node's socket.io-parser writes for them.
func TestGoldenDecode(t *testing.T) {
	for _, g := range loadGolden(t) {
		t.Run(g.Name, func(t *testing.T) {
			m, err := DecodeBroadcast(unhex(t, g.Msgpack), true)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(socketio.AppendEncode(nil, &m.Packet)); got != g.Header {
				t.Fatalf("header\n got %s\nwant %s", got, g.Header)
			}
			if len(m.Packet.Attachments) != len(g.Attachments) {
				t.Fatalf("%d attachments, want %d", len(m.Packet.Attachments), len(g.Attachments))
			}
			for i, a := range g.Attachments {
				if !bytes.Equal(m.Packet.Attachments[i], unhex(t, a)) {
					t.Fatalf("attachment %d differs", i)
				}
			}
		})
	}
}

// TestGoldenEncode re-encodes the decoded packets and expects notepack.io's
// bytes, for every case whose values survive JSON (Dates become strings and
// undefined keys vanish on the way, so those two cases cannot).
func TestGoldenEncode(t *testing.T) {
	for _, g := range loadGolden(t) {
		if g.Name == "date" || g.Name == "undefined" || g.Name == "emitter" {
			continue
		}
		t.Run(g.Name, func(t *testing.T) {
			want := unhex(t, g.Msgpack)
			m, err := DecodeBroadcast(want, true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendBroadcast(nil, m.UID, &m.Packet, Opts{Rooms: []adapter.Room{"r1"}, Except: []adapter.Room{"x"}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("bytes\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestGoldenEmitterOpts(t *testing.T) {
	for _, g := range loadGolden(t) {
		if g.Name != "emitter" {
			continue
		}
		m, err := DecodeBroadcast(unhex(t, g.Msgpack), true)
		if err != nil {
			t.Fatal(err)
		}
		if m.UID != EmitterUID || !m.Opts.Volatile || m.Packet.Namespace != "/admin" || len(m.Opts.Rooms) != 0 {
			t.Fatalf("%+v", m)
		}
		got, err := AppendEmitterBroadcast(nil, &m.Packet, Opts{Volatile: true})
		if err != nil || !bytes.Equal(got, unhex(t, g.Msgpack)) {
			t.Fatalf("emitter bytes\n got %x\nwant %s (%v)", got, g.Msgpack, err)
		}
	}
}

func mp(t testing.TB, s string) []byte { return unhex(t, s) }

// TestReadJSON covers the forms notepack.io 2.x wrote and the values
// JSON.stringify writes specially.
func TestReadJSON(t *testing.T) {
	tt := []struct {
		name, in, want string
		atts           int
	}{
		{"2.x undefined in array", "92d4000001", "[null,1]", 0},
		{"2.x undefined in map", "82a161d40000a16201", `{"b":1}`, 0},
		{"2.x undefined alone", "d40000", "null", 0},
		{"2.x date", "d700" + "0000018cc820db26", `"2024-01-02T03:04:05.670Z"`, 0},
		{"2.x arraybuffer", "c70200abcd", `{"_placeholder":true,"num":0}`, 1},
		{"timestamp 32", "d6ff00000001", `"1970-01-01T00:00:01.000Z"`, 0},
		{"timestamp 64 with ns", "d7ff" + "0bebc200" + "00000001", `"1970-01-01T00:00:01.050Z"`, 0},
		{"timestamp 96 negative", "c70cff" + "00000000" + "ffffffff" + "ffffffff", `"1969-12-31T23:59:59.000Z"`, 0},
		{"timestamp 96 invalid date", "c70cff" + "00000000" + "7fffffff" + "ffffffff", "null", 0},
		{"other ext", "d50501ff", `[5,{"_placeholder":true,"num":0}]`, 1},
		{"float32", "ca3dcccccd", "0.10000000149011612", 0},
		{"NaN", "cb7ff8000000000000", "null", 0},
		{"negative zero", "cb8000000000000000", "0", 0},
		{"small float", "cb3eb0c6f7a0b5ed8d", "0.000001", 0},
		{"big uint", "cf8000000000000001", "9223372036854776000", 0},
		{"min int64", "d38000000000000000", "-9223372036854776000", 0},
		{"integer keys", "8201a1610ba162", `{"1":"a","11":"b"}`, 0},
		{"nil and bool keys", "82c001c302", `{"null":1,"true":2}`, 0},
		{"invalid utf-8", "a2ff41", "\"\uFFFDA\"", 0},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			var atts [][]byte
			r := NewReader(mp(t, tc.in))
			got, err := r.AppendJSON(nil, &atts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || len(atts) != tc.atts || !r.Done() {
				t.Fatalf("got %s (%d attachments, done %v), want %s", got, len(atts), r.Done(), tc.want)
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	tt := []struct{ in, want string }{
		{`1.0`, "01"},
		{`1e3`, "cd03e8"},
		{`-0`, "00"},
		{`-0.0`, "00"},
		{`1e19`, "cf8ac7230489e80000"},
		{`10000000000000000000`, "cf8ac7230489e80000"},
		{`1e21`, "cb444b1ae4d6e2ef50"},
		{`-9223372036854775809`, "d38000000000000000"},
		{`1.5`, "cb3ff8000000000000"},
		{`"a\u00e9\ud83d\ude00"`, "a761c3a9f09f9880"},
		{`"\ud800x"`, "a4efbfbd78"},
		{` [ true , false , null ] `, "93c3c2c0"},
		{`{"a":[]}`, "81a16190"},
		{`{"_placeholder":true,"num":0}`, "82ac5f706c616365686f6c646572c3a36e756d00"},
	}
	for _, tc := range tt {
		got, err := AppendJSON(nil, []byte(tc.in), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Fatalf("%s: got %x, want %s", tc.in, got, tc.want)
		}
	}
	// With attachments, placeholders are binaries; a bad num is an error.
	got, err := AppendJSON(nil, []byte(`[{"num":1,"_placeholder":true},{"_placeholder":false}]`), [][]byte{{1}, {2, 3}})
	if err != nil || hex.EncodeToString(got) != "92c402020381ac5f706c616365686f6c646572c2" {
		t.Fatalf("placeholders: %x, %v", got, err)
	}
	if _, err := AppendJSON(nil, []byte(`{"_placeholder":true,"num":2}`), [][]byte{{1}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad placeholder: %v", err)
	}
	for _, bad := range []string{``, `[`, `{"a"}`, `01`, `1.`, `"\x01"`, `[1,]`, `tru`, `{"a":1,}`, `"\u12"`, `1 2`} {
		if _, err := AppendJSON(nil, []byte(bad), nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

// TestRoundTrip sends JSON arguments with binary through msgpack and back.
func TestRoundTrip(t *testing.T) {
	var args socketio.Args
	args.AddJSON(json.RawMessage(`{"k":[1,-2,3.25,"x\"y",null,true,{}]}`))
	args.AddBinary([]byte("bytes"))
	args.AddJSON(json.RawMessage(`"é"`))
	pkt := socketio.NewEvent("/chat", "ev", args)
	opts := Opts{Rooms: []adapter.Room{"a", "b"}, Except: []adapter.Room{"c"}, Volatile: true, Timeout: 2 * time.Second, Ext: Ext{Seq: 7, CountID: "q1"}}
	b, err := AppendBroadcast(nil, "node1", &pkt, opts)
	if err != nil {
		t.Fatal(err)
	}
	if uid, err := BroadcastUID(b); err != nil || uid != "node1" {
		t.Fatalf("uid %q %v", uid, err)
	}
	m, err := DecodeBroadcast(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Packet.Equal(&pkt) {
		t.Fatalf("packet\n got %+v\nwant %+v", m.Packet, pkt)
	}
	if !slices.Equal(m.Opts.Rooms, opts.Rooms) || !slices.Equal(m.Opts.Except, opts.Except) || !m.Opts.Volatile ||
		m.Opts.Timeout != opts.Timeout || m.Opts.Ext != opts.Ext {
		t.Fatalf("opts %+v", m.Opts)
	}
	head, err := DecodeBroadcast(b, false)
	if err != nil || head.Packet.Data != nil || head.Opts.Ext != opts.Ext {
		t.Fatalf("opts-only decode: %+v %v", head, err)
	}
}

func TestRequests(t *testing.T) {
	q := Request{UID: "n1", Type: RemoteJoin, Opts: &Target{Rooms: []adapter.Room{"r"}}, Rooms: []adapter.Room{"new"}, Seq: 3}
	b, err := AppendRequest(nil, &q)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"uid":"n1","type":2,"opts":{"rooms":["r"],"except":[]},"rooms":["new"],"socketd":{"seq":3}}` {
		t.Fatalf("%s", b)
	}
	got, err := DecodeRequest(b)
	if err != nil || got.UID != "n1" || got.Type != RemoteJoin || got.Seq != 3 || !slices.Equal(got.Rooms, q.Rooms) || !slices.Equal(got.Opts.Rooms, q.Opts.Rooms) {
		t.Fatalf("%+v %v", got, err)
	}
	// The emitter's form: no uid, numeric rooms.
	got, err = DecodeRequest([]byte(`{"type":4,"opts":{"rooms":[1,"a"],"except":[]},"close":true}`))
	if err != nil || got.UID != "" || got.Type != RemoteDisconnect || !got.Close || !slices.Equal(got.Opts.Rooms, []adapter.Room{"1", "a"}) {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{`{"uid":"x"}`, `{"type":6,"data":{}}`, `{"type":"1"}`, `{`, ``, `\x81`} {
		if _, err := DecodeRequest([]byte(bad)); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
	// Broadcast with acks, msgpack.
	pkt := socketio.NewEvent("/", "q", socketio.Args{Values: []json.RawMessage{json.RawMessage(`1`)}})
	b, err = AppendBroadcastRequest(nil, "n1", "req1", &pkt, Opts{Rooms: []adapter.Room{"r"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, err = DecodeRequest(b)
	if err != nil || got.Type != BroadcastWithAck || got.RequestID != "req1" || !got.Packet.Equal(&pkt) || got.Flags.Timeout != time.Second {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestResponses(t *testing.T) {
	var args socketio.Args
	args.AddBinary([]byte{1, 2})
	b, err := AppendAck(nil, "req1", "sock1", args)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := ResponseRequestID(b); err != nil || id != "req1" {
		t.Fatalf("%q %v", id, err)
	}
	resp, err := DecodeResponse(b, BroadcastWithAck)
	if err != nil || resp.SID != "sock1" || len(resp.Ack.Values) != 1 || string(resp.Ack.Values[0]) != `{"_placeholder":true,"num":0}` ||
		!bytes.Equal(resp.Ack.Attachments[0], []byte{1, 2}) {
		t.Fatalf("%+v %v", resp, err)
	}
	fetched := Response{RequestID: "r2", Fetched: []adapter.SocketInfo{{ID: "s", Rooms: []adapter.Room{"s", "x"}, Handshake: []byte(`{"a":1}`)}}}
	b, err = AppendJSONResponse(nil, &fetched, RemoteFetch)
	if err != nil || string(b) != `{"requestId":"r2","sockets":[{"id":"s","handshake":{"a":1},"rooms":["s","x"],"data":{}}]}` {
		t.Fatalf("%s %v", b, err)
	}
	resp, err = DecodeResponse(b, RemoteFetch)
	if err != nil || len(resp.Fetched) != 1 || resp.Fetched[0].ID != "s" || string(resp.Fetched[0].Data) != "{}" {
		t.Fatalf("%+v %v", resp, err)
	}
	if id, err := ResponseRequestID(b); err != nil || id != "r2" {
		t.Fatalf("%q %v", id, err)
	}
}

func TestArgsJSON(t *testing.T) {
	var args socketio.Args
	args.AddJSON(json.RawMessage(`{"a":1}`))
	args.AddBinary([]byte{7, 255})
	out, err := ArgsJSON(args)
	if err != nil || string(out[0]) != `{"a":1}` || string(out[1]) != `{"type":"Buffer","data":[7,255]}` {
		t.Fatalf("%s %v", out, err)
	}
}

func TestMalformedNeverPanics(t *testing.T) {
	for _, in := range []string{"", "91", "93a0", "93a0c0c0", "dd7fffffff", "df7fffffff00", "c1", "93a08100c0", "93a0" + "81a474797065cc02" + "80"} {
		b := mp(t, in)
		if _, err := DecodeBroadcast(b, true); err == nil {
			t.Fatalf("%s decoded", in)
		}
	}
	deep := bytes.Repeat([]byte{0x91}, 10000)
	if _, err := NewReader(deep).AppendJSON(nil, new([][]byte)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("deep: %v", err)
	}
	if err := NewReader(deep).Skip(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("deep skip: %v", err)
	}
}
