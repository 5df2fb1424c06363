package engineio

import (
	"strings"
	"testing"
)

// benchPackets is a typical polling batch: Socket.IO events, a ping and an
// attachment.
var benchPackets = []Packet{
	msg(`2["chat message",{"user":"alice","text":"hello, world","ts":1700000000000}]`),
	msg(`2["chat message",{"user":"bob","text":"héllo € 😀","ts":1700000000001}]`),
	text(Ping, ""),
	msg(`51-["upload",{"_placeholder":true,"num":0}]`),
	bin([]byte(strings.Repeat("\x00\x01\x02\x03binary", 16))...),
	msg(`2["chat message",{"user":"carol","text":"` + strings.Repeat("lorem ipsum ", 20) + `"}]`),
}

func benchmarkAppendPayload(b *testing.B, f PayloadFormat) {
	buf := AppendPayload(nil, f, benchPackets)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPayload(buf[:0], f, benchPackets)
	}
}

func BenchmarkAppendPayloadV4(b *testing.B)       { benchmarkAppendPayload(b, PayloadV4) }
func BenchmarkAppendPayloadV3Text(b *testing.B)   { benchmarkAppendPayload(b, PayloadV3Text) }
func BenchmarkAppendPayloadV3Binary(b *testing.B) { benchmarkAppendPayload(b, PayloadV3Binary) }

func benchmarkDecodePayload(b *testing.B, f PayloadFormat) {
	body := AppendPayload(nil, f, benchPackets)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePayload(f, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePayloadV4(b *testing.B)       { benchmarkDecodePayload(b, PayloadV4) }
func BenchmarkDecodePayloadV3Text(b *testing.B)   { benchmarkDecodePayload(b, PayloadV3Text) }
func BenchmarkDecodePayloadV3Binary(b *testing.B) { benchmarkDecodePayload(b, PayloadV3Binary) }

func BenchmarkAppendWebSocket(b *testing.B) {
	p := benchPackets[0]
	buf, _ := AppendWebSocket(nil, V4, p)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendWebSocket(buf[:0], V4, p)
	}
}

func BenchmarkDecodeWebSocket(b *testing.B) {
	frame, _ := AppendWebSocket(nil, V4, benchPackets[0])
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeWebSocket(V4, frame, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUTF16Len(b *testing.B) {
	s := []byte(benchPackets[5].Data)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		UTF16Len(s)
	}
}

func BenchmarkAppendJSONP(b *testing.B) {
	payload := AppendPayload(nil, PayloadV3Text, benchPackets)
	buf := AppendJSONP(nil, 0, payload)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSONP(buf[:0], 0, payload)
	}
}
