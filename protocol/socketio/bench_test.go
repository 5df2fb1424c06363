package socketio

import (
	"encoding/json"
	"testing"
)

var (
	benchEvent       = []byte(`2["chat",{"user":"a","text":"hello"}]`)
	benchEventAck    = []byte(`2/chat,42["chat",{"user":"a","text":"hello"}]`)
	benchBinary      = []byte(`52-["upload",{"name":"a.png"},` + `{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	benchAttachments = [][]byte{make([]byte, 1024), make([]byte, 4096)}
)

func benchDecode(b *testing.B, text []byte, attachments [][]byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	var d Decoder
	for b.Loop() {
		p, ok, err := d.Add(text)
		for _, a := range attachments {
			p, ok, err = d.AddBinary(a)
		}
		if err != nil || !ok || p.Data == nil {
			b.Fatal(ok, err)
		}
	}
}

func benchEncode(b *testing.B, text []byte, attachments [][]byte) {
	var d Decoder
	p, err := decodeMessages(&d, string(text), attachments)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("AppendEncode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = AppendEncode(buf[:0], &p)
		}
	})
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Encode(&p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B)        { benchDecode(b, benchEvent, nil) }
func BenchmarkDecodeEventWithAck(b *testing.B) { benchDecode(b, benchEventAck, nil) }
func BenchmarkDecodeBinaryEvent(b *testing.B)  { benchDecode(b, benchBinary, benchAttachments) }

func BenchmarkEncodeEvent(b *testing.B)        { benchEncode(b, benchEvent, nil) }
func BenchmarkEncodeEventWithAck(b *testing.B) { benchEncode(b, benchEventAck, nil) }
func BenchmarkEncodeBinaryEvent(b *testing.B)  { benchEncode(b, benchBinary, benchAttachments) }

// BenchmarkDecodeAndSplitEvent is what the server does per received event:
// decode, then split into name and raw arguments.
func BenchmarkDecodeAndSplitEvent(b *testing.B) {
	b.ReportAllocs()
	var d Decoder
	for b.Loop() {
		p, _, err := d.Add(benchEvent)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.Event(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewEvent is what the server does per emit: build the payload from
// a name and raw arguments, then write the header.
func BenchmarkNewEvent(b *testing.B) {
	b.ReportAllocs()
	args := Args{Values: []json.RawMessage{json.RawMessage(`{"user":"a","text":"hello"}`)}}
	buf := make([]byte, 0, 256)
	for b.Loop() {
		p := NewEvent("/", "chat", args)
		buf = AppendEncode(buf[:0], &p)
	}
}

func BenchmarkArgBinaryStruct(b *testing.B) {
	b.ReportAllocs()
	var d Decoder
	p, err := decodeMessages(&d, `51-["upload",{"name":"a.png","data":{"_placeholder":true,"num":0}}]`, benchAttachments[:1])
	if err != nil {
		b.Fatal(err)
	}
	_, args, err := p.Event()
	if err != nil {
		b.Fatal(err)
	}
	var u upload
	for b.Loop() {
		if err := args.Arg(0, &u); err != nil {
			b.Fatal(err)
		}
	}
}
