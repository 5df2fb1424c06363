package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/socketd/socketd/protocol/socketio"
)

func addGoldenSeeds(f *testing.F) {
	for _, g := range loadGolden(f) {
		b, _ := hex.DecodeString(g.Msgpack)
		f.Add(b)
	}
	for _, s := range []string{"92d4000001", "d70000000180c8e1b0a6", "c70200abcd", "c70cff000000007fffffffffffffff", "d50501ff", "8201a1610ba162"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
}

// FuzzReadJSON feeds arbitrary bytes to the msgpack decoder. Whatever it
// accepts must be valid JSON whose placeholders match the attachments, and
// must survive the way back to msgpack and forth to the same JSON.
func FuzzReadJSON(f *testing.F) {
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var atts [][]byte
		out, err := NewReader(b).AppendJSON(nil, &atts)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %x", out, b)
		}
		back, err := AppendJSON(nil, out, atts)
		if err != nil {
			t.Fatalf("JSON %s does not go back to msgpack: %v", out, err)
		}
		var atts2 [][]byte
		again, err := NewReader(back).AppendJSON(nil, &atts2)
		if err != nil || !bytes.Equal(again, out) || len(atts2) != len(atts) {
			t.Fatalf("round trip: %s -> %s (%v)", out, again, err)
		}
	})
}

// FuzzAppendJSON checks the JSON to msgpack direction: valid JSON always
// transcodes, invalid JSON never does, and the value comes back equal.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`["ev",1,"two",{"a":[true,null,1.5e300]}]`, `"\ud83d\ude00\u00e9"`, `-0.0`, `1e400`, `{"_placeholder":true,"num":0}`, `[1,`, `18446744073709551616`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := AppendJSON(nil, in, nil)
		valid := json.Valid(in)
		if err == nil && !valid {
			t.Fatalf("invalid JSON %q transcoded", in)
		}
		if err != nil {
			// Only nesting past maxDepth may refuse valid JSON.
			if valid && !strings.Contains(err.Error(), "nesting deeper") {
				t.Fatalf("valid JSON %q refused: %v", in, err)
			}
			return
		}
		js, err := NewReader(out).AppendJSON(nil, new([][]byte))
		if err != nil {
			t.Fatalf("%q -> %x does not decode: %v", in, out, err)
		}
		var a, b any
		if json.Unmarshal(in, &a) != nil || json.Unmarshal(js, &b) != nil {
			return // numbers beyond float64 (1e400) are Infinity in JavaScript, null back
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s came back as %s", in, js)
		}
	})
}

// FuzzDecodeBroadcast is the bus message decoder: any input decodes to a
// valid packet or to an error, never a panic, and what decodes re-encodes to
// an equal message.
func FuzzDecodeBroadcast(f *testing.F) {
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBroadcast(b, true)
		if err != nil {
			return
		}
		// The event's name and namespace are the sender's to choose; the
		// transcoding must always give valid JSON.
		if !json.Valid(m.Packet.Data) {
			t.Fatalf("invalid data %q", m.Packet.Data)
		}
		again, err := AppendBroadcast(nil, m.UID, &m.Packet, m.Opts)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := DecodeBroadcast(again, true)
		if err != nil || !m2.Packet.Equal(&m.Packet) || m2.UID != m.UID {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// FuzzDecodeRequest covers the request and response channels, and the
// sharded wire's messages.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"uid":"a","requestId":"b","type":5,"opts":{"rooms":["r"],"except":[]}}`,
		`{"uid":"a","type":6,"data":["ev",1]}`,
		`{"type":2,"opts":{"rooms":[1],"except":[]},"rooms":["x"]}`,
		`{"requestId":"b","sockets":[{"id":"s","handshake":{},"rooms":["s"],"data":{}}]}`,
		`{"type":8,"requestId":"b","clientCount":3}`,
		`{"type":3,"data":{"packet":{"type":2,"data":["e",1],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"u","nsp":"/"}`,
		`{"type":9,"data":{"requestId":"r","packet":["e"]},"uid":"u","nsp":"/"}`,
	} {
		f.Add([]byte(s))
	}
	pkt := socketio.NewEvent("/", "q", socketio.Args{})
	b, _ := AppendBroadcastRequest(nil, "n", "r", &pkt, Opts{})
	f.Add(b)
	b, _ = AppendAck(nil, "r", "s", socketio.Args{Values: []json.RawMessage{json.RawMessage(`[1]`)}})
	f.Add(b)
	m := ClusterMessage{Type: ClusterBroadcast, UID: "u", Nsp: "/", Packet: socketio.NewEvent("/", "e", socketio.Args{})}
	m.Packet.Type, m.Packet.Data, m.Packet.Attachments = socketio.BinaryEvent, []byte(`["e",{"_placeholder":true,"num":0}]`), [][]byte{{1}}
	b, _ = AppendClusterMessage(nil, &m)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeClusterMessage(b); err == nil && m.Type == ClusterBroadcast {
			if !json.Valid(m.Packet.Data) {
				t.Fatalf("invalid packet data %q", m.Packet.Data)
			}
		}
		if q, err := DecodeRequest(b); err == nil && q.Type == BroadcastWithAck && !json.Valid(q.Packet.Data) {
			t.Fatalf("invalid packet data %q", q.Packet.Data)
		}
		_, _ = ResponseRequestID(b)
		for _, kind := range []RequestType{Sockets, RemoteFetch, BroadcastWithAck} {
			if resp, err := DecodeResponse(b, kind); err == nil {
				for _, v := range resp.Ack.Values {
					if !json.Valid(v) {
						t.Fatalf("invalid ack %q", v)
					}
				}
			}
		}
	})
}
