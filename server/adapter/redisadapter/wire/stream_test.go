package wire

import (
	"encoding/base64"
	"slices"
	"testing"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

func event(data string, atts ...[]byte) *socketio.Packet {
	p := socketio.Packet{Type: socketio.Event, Namespace: "/chat", Data: []byte(data), Attachments: atts}
	if len(atts) > 0 {
		p.Type = socketio.BinaryEvent
	}
	return &p
}

// appendOffset does what the store script does: it appends the entry id as
// a msgpack string.
func appendOffset(msg []byte, id string) []byte { return AppendString(msg, id) }

// A stored broadcast's message is the classic one (Node nodes read it as
// any broadcast) with the offset the script appends under socketd's "off".
func TestStoredBroadcastMessage(t *testing.T) {
	for _, ext := range []Ext{{}, {Seq: 7}, {Seq: 8, CountID: "abc-1"}} {
		opts := Opts{Rooms: []adapter.Room{"r"}, Except: []adapter.Room{"x"}, Ext: ext}
		msg, err := AppendStoredBroadcast(nil, "node01", event(`["ev",1,"é"]`), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"1700000000000-0", "18446744073709551615-18446744073709551615"} {
			m, err := DecodeBroadcast(appendOffset(slices.Clone(msg), id), true)
			if err != nil {
				t.Fatalf("%+v %s: %v", ext, id, err)
			}
			want := ext
			want.Offset, _ = adapter.ParseOffset(id)
			if m.UID != "node01" || string(m.Packet.Data) != `["ev",1,"é"]` || m.Opts.Ext != want ||
				!slices.Equal(m.Opts.Rooms, opts.Rooms) || !slices.Equal(m.Opts.Except, opts.Except) {
				t.Fatalf("%+v %s: decoded %+v", ext, id, m)
			}
		}
	}
}

func TestStreamData(t *testing.T) {
	opts := Opts{Rooms: []adapter.Room{"r", `q"uote`}, Except: []adapter.Room{"x"}}
	// The JSON form, as the Node adapter writes it (JSON.stringify of
	// {packet, opts}).
	data, err := AppendStreamData(nil, event(`["ev",1,{"a":"é"}]`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"packet":{"type":2,"data":["ev",1,{"a":"é"}]},"opts":{"rooms":["r","q\"uote"],"except":["x"],"flags":{}}}`; string(data) != want {
		t.Fatalf("JSON form %s, want %s", data, want)
	}
	p, o, err := DecodeStreamData("/chat", data)
	if err != nil || !p.Equal(event(`["ev",1,{"a":"é"}]`)) || !slices.Equal(o.Rooms, opts.Rooms) || !slices.Equal(o.Except, opts.Except) {
		t.Fatalf("JSON form read back %+v %+v %v", p, o, err)
	}
	// The msgpack form for binary.
	bin := event(`["file",{"_placeholder":true,"num":0},"x"]`, []byte{0, 1, 2, 255})
	data, err = AppendStreamData(nil, bin, opts)
	if err != nil || data[0] == '{' {
		t.Fatalf("binary form %q, %v", data, err)
	}
	p, o, err = DecodeStreamData("/chat", data)
	if err != nil || !p.Equal(bin) || !slices.Equal(o.Rooms, opts.Rooms) {
		t.Fatalf("binary form read back %+v %+v %v", p, o, err)
	}
	// What a Node node writes: numeric rooms, a nsp in the packet, flags.
	p, o, err = DecodeStreamData("/chat", []byte(`{"packet":{"type":2,"data":["ev"],"nsp":"/chat"},"opts":{"rooms":[42],"except":[],"flags":{"volatile":true}}}`))
	if err != nil || string(p.Data) != `["ev"]` || !slices.Equal(o.Rooms, []adapter.Room{"42"}) || !o.Volatile {
		t.Fatalf("Node's form %+v %+v %v", p, o, err)
	}
	for _, bad := range []string{
		``, `{}`, `{"packet":{"type":3,"data":["ev"]},"opts":{}}`, `{"packet":{"type":2,"data":[]},"opts":{}}`,
		`{"packet":{"type":2,"data":"x"},"opts":{}}`, `{"packet":{"type":2,"data":["ev"]}}`, `not base64!`,
		base64.StdEncoding.EncodeToString([]byte{0x81, 0xa1, 'x', 0x01}),
	} {
		if _, _, err := DecodeStreamData("/", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestSession(t *testing.T) {
	for _, s := range []adapter.Session{
		{SID: "sid1", PID: "pid1", Rooms: []adapter.Room{"sid1", "r", "é"}, Data: []byte(`{"a":[1,2.5,"x",null,true],"b":{}}`)},
		{SID: "sid2", PID: "pid2", Rooms: []adapter.Room{"sid2"}},
	} {
		b, err := AppendSession(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSession(b)
		if err != nil || got.SID != s.SID || got.PID != s.PID || !slices.Equal(got.Rooms, s.Rooms) || string(got.Data) != string(s.Data) {
			t.Fatalf("%+v read back as %+v (%v)", s, got, err)
		}
	}
	// @msgpack/msgpack writes undefined data as nil and may order keys
	// otherwise.
	b := AppendMapHeader(nil, 4)
	b = AppendNil(AppendString(b, "data"))
	b = AppendString(AppendString(b, "pid"), "p")
	b = AppendArrayHeader(AppendString(b, "rooms"), 0)
	b = AppendString(AppendString(b, "sid"), "s")
	if got, err := DecodeSession(b); err != nil || got.SID != "s" || got.PID != "p" || got.Data != nil {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := DecodeSession(AppendMapHeader(nil, 0)); err == nil {
		t.Fatal("a session without sid accepted")
	}
}

// FuzzDecodeStreamData: whatever a stream entry holds, decoding does not
// panic, and an accepted packet is an event that encodes again.
func FuzzDecodeStreamData(f *testing.F) {
	f.Add([]byte(`{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r"],"except":[],"flags":{}}}`))
	bin, _ := AppendStreamData(nil, event(`["file",{"_placeholder":true,"num":0}]`, []byte{1, 2}), Opts{Rooms: []adapter.Room{"r"}})
	f.Add(bin)
	f.Add([]byte(`{"packet":{"type":2,"data":[[[[[[]]]]]]},"opts":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := DecodeStreamData("/", data)
		if err != nil {
			return
		}
		if _, _, err := p.Event(); err != nil {
			t.Fatalf("accepted a packet that is not an event: %q", p.Data)
		}
		if _, err := AppendStreamData(nil, &p, Opts{}); err != nil {
			t.Fatalf("accepted packet does not encode: %v", err)
		}
	})
}

// FuzzDecodeSession: any bytes from Redis decode or fail cleanly, and an
// accepted session encodes and reads back the same.
func FuzzDecodeSession(f *testing.F) {
	b, _ := AppendSession(nil, adapter.Session{SID: "s", PID: "p", Rooms: []adapter.Room{"s", "r"}, Data: []byte(`{"x":[1,"y"]}`)})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSession(b)
		if err != nil {
			return
		}
		again, err := AppendSession(nil, s)
		if err != nil {
			t.Fatalf("accepted session does not encode: %v", err)
		}
		s2, err := DecodeSession(again)
		if err != nil || s2.SID != s.SID || s2.PID != s.PID || !slices.Equal(s2.Rooms, s.Rooms) || string(s2.Data) != string(s.Data) {
			t.Fatalf("%+v -> %+v (%v)", s, s2, err)
		}
	})
}
