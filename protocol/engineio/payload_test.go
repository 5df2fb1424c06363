package engineio

import (
	"bytes"
	"strings"
	"testing"
)

// payloadCase is a polling body and the packets it carries. Unless noted,
// the wire strings were produced by npm engine.io-parser (2.2.1 for the v3
// formats, 5.2.3 for v4) or copied from the engine.io-protocol READMEs.
type payloadCase struct {
	name   string
	format PayloadFormat
	wire   string
	want   []Packet
}

var bigBinary = bytes.Repeat([]byte{7}, 300)

var payloadRoundTrips = []payloadCase{
	// engine.io-protocol README (main), "HTTP long-polling".
	{"v4 readme text", PayloadV4, "4hello\x1e2\x1e4world", []Packet{msg("hello"), text(Ping, ""), msg("world")}},
	{"v4 readme binary", PayloadV4, "4hello\x1ebAQIDBA==", []Packet{msg("hello"), bin(1, 2, 3, 4)}},
	{"v4 single", PayloadV4, "4hello", []Packet{msg("hello")}},
	{"v4 noop", PayloadV4, "6", []Packet{text(Noop, "")}},
	{"v4 utf-8 is not counted", PayloadV4, "4hello\x1e4€", []Packet{msg("hello"), msg("€")}},
	{"v4 empty binary", PayloadV4, "b", []Packet{bin()}},
	{"v4 handshake then event", PayloadV4, "0{\"sid\":\"a\"}\x1e42[\"x\",{\"_placeholder\":true,\"num\":0}]\x1eb" + strings.Repeat("BwcH", 100),
		[]Packet{text(Open, `{"sid":"a"}`), msg(`2["x",{"_placeholder":true,"num":0}]`), bin(bigBinary...)}},

	// engine.io-protocol README (v3), "Payload".
	{"v3 readme text", PayloadV3Text, "6:4hello2:4€", []Packet{msg("hello"), msg("€")}},
	{"v3 readme base64", PayloadV3Text, "2:4€10:b4AQIDBA==", []Packet{msg("€"), bin(1, 2, 3, 4)}},
	{"v3 astral counts 2", PayloadV3Text, "4:4😀x1:2", []Packet{msg("😀x"), text(Ping, "")}},
	{"v3 empty binary", PayloadV3Text, "2:b4", []Packet{bin()}},
	{"v3 observed handshake", PayloadV3Text, `97:0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}2:40`,
		[]Packet{text(Open, `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`), msg("0")}},
	{"v3 long", PayloadV3Text, "12:0{\"sid\":\"a\"}37:42[\"x\",{\"_placeholder\":true,\"num\":0}]402:b4" + strings.Repeat("BwcH", 100),
		[]Packet{text(Open, `{"sid":"a"}`), msg(`2["x",{"_placeholder":true,"num":0}]`), bin(bigBinary...)}},

	// The README's XHR2 example: 00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04.
	{"v3 readme xhr2", PayloadV3Binary, "\x00\x04\xff4€\x01\x05\xff\x04\x01\x02\x03\x04", []Packet{msg("€"), bin(1, 2, 3, 4)}},
	{"v3 xhr2 text only", PayloadV3Binary, "\x00\x01\xff2", []Packet{text(Ping, "")}},
	{"v3 xhr2 empty binary", PayloadV3Binary, "\x01\x01\xff\x04", []Packet{bin()}},
	{"v3 xhr2 multi-digit lengths", PayloadV3Binary, "\x00\x01\x02\xff0{\"sid\":\"a\"}\x00\x03\x07\xff42[\"x\",{\"_placeholder\":true,\"num\":0}]\x01\x03\x00\x01\xff\x04" + string(bigBinary),
		[]Packet{text(Open, `{"sid":"a"}`), msg(`2["x",{"_placeholder":true,"num":0}]`), bin(bigBinary...)}},
	{"v3 xhr2 astral counts bytes", PayloadV3Binary, "\x00\x05\xff4😀", []Packet{msg("😀")}},
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, tt := range payloadRoundTrips {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePayload(tt.format, []byte(tt.wire))
			if err != nil {
				t.Fatalf("DecodePayload: %v", err)
			}
			if !samePackets(got, tt.want) {
				t.Fatalf("DecodePayload = %s\nwant %s", fmtPackets(got), fmtPackets(tt.want))
			}
			out := AppendPayload([]byte("prefix"), tt.format, tt.want)
			if string(out) != "prefix"+tt.wire {
				t.Fatalf("AppendPayload = %q\nwant %q", out, "prefix"+tt.wire)
			}
		})
	}
}

func TestDecodePayloadLenient(t *testing.T) {
	// Accepted although socketd never writes them this way.
	tests := []payloadCase{
		{"v3 leading zeros (Number accepts them)", PayloadV3Text, "05:4hell", []Packet{msg("hell")}},
		{"v3 xhr2 leading zero digit", PayloadV3Binary, "\x00\x00\x01\xff2", []Packet{text(Ping, "")}},
		{"v3 invalid utf-8 is one unit per maximal subpart", PayloadV3Text, "4:4\xe2\x82A\xc0", []Packet{msg("\xe2\x82A\xc0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePayload(tt.format, []byte(tt.wire))
			if err != nil {
				t.Fatalf("DecodePayload: %v", err)
			}
			if !samePackets(got, tt.want) {
				t.Fatalf("DecodePayload = %s, want %s", fmtPackets(got), fmtPackets(tt.want))
			}
		})
	}
}

func TestDecodePayloadErrors(t *testing.T) {
	tests := []struct {
		name    string
		format  PayloadFormat
		wire    string
		wantErr error
	}{
		{"v4 empty body", PayloadV4, "", ErrEmptyPacket},
		{"v4 empty packet between", PayloadV4, "4a\x1e\x1e4b", ErrEmptyPacket},
		{"v4 trailing separator", PayloadV4, "4\x1e", ErrEmptyPacket},
		{"v4 leading separator", PayloadV4, "\x1e4", ErrEmptyPacket},
		{"v4 unknown type", PayloadV4, "4a\x1e7x", ErrUnknownType},
		{"v4 letter type", PayloadV4, "hello", ErrUnknownType},
		{"v4 invalid base64", PayloadV4, "4a\x1eb!!", ErrBadBase64},
		{"v4 truncated base64", PayloadV4, "bAQIDBA=", ErrBadBase64},

		{"v3 empty body", PayloadV3Text, "", ErrEmptyPacket},
		{"v3 empty list form", PayloadV3Text, "0:", ErrEmptyPacket},
		{"v3 empty packet between", PayloadV3Text, "1:20:1:2", ErrEmptyPacket},
		{"v3 no colon", PayloadV3Text, "6", ErrBadPayload},
		{"v3 trailing digits", PayloadV3Text, "1:21", ErrBadPayload},
		{"v3 empty length", PayloadV3Text, ":4", ErrBadPayload},
		{"v3 space in length", PayloadV3Text, " 5:4hell", ErrBadPayload},
		{"v3 hex length", PayloadV3Text, "0x5:4hell", ErrBadPayload},
		{"v3 exponent length", PayloadV3Text, "5e0:4hell", ErrBadPayload},
		{"v3 negative length", PayloadV3Text, "-1:4", ErrBadPayload},
		{"v3 length overflows int", PayloadV3Text, "99999999999999999999999999:4", ErrBadPayload},
		{"v3 truncated", PayloadV3Text, "6:4hell", ErrBadPayload},
		{"v3 length in bytes is too long", PayloadV3Text, "4:4€", ErrBadPayload},
		{"v3 length splits a surrogate pair", PayloadV3Text, "2:4😀", ErrBadPayload},
		{"v3 unknown type", PayloadV3Text, "1:9", ErrUnknownType},
		{"v3 b without type", PayloadV3Text, "1:b", ErrUnknownType},
		{"v3 base64 of type upgrade", PayloadV3Text, "6:b5AQID", ErrUnknownType},
		{"v3 invalid base64", PayloadV3Text, "4:b4!!", ErrBadBase64},
		{"v3 v4-style base64", PayloadV3Text, "9:bAQIDBA==", ErrUnknownType},

		{"xhr2 empty body", PayloadV3Binary, "", ErrEmptyPacket},
		{"xhr2 zero length", PayloadV3Binary, "\x00\x00\xff", ErrEmptyPacket},
		{"xhr2 empty length", PayloadV3Binary, "\x00\xff4", ErrBadPayload},
		{"xhr2 no terminator", PayloadV3Binary, "\x00\x01\x02", ErrBadPayload},
		{"xhr2 ascii digits", PayloadV3Binary, "\x001\xff2", ErrBadPayload},
		{"xhr2 digit value 10", PayloadV3Binary, "\x00\x0a\xff2", ErrBadPayload},
		{"xhr2 bad marker", PayloadV3Binary, "\x05\x01\xff4", ErrBadPayload},
		{"xhr2 truncated", PayloadV3Binary, "\x01\x05\xff\x04\x01\x02", ErrBadPayload},
		{"xhr2 truncated second packet", PayloadV3Binary, "\x00\x01\xff4\x00\x01", ErrBadPayload},
		{"xhr2 length overflows int", PayloadV3Binary, "\x00" + strings.Repeat("\x09", 30) + "\xff4", ErrBadPayload},
		{"xhr2 binary of type ping", PayloadV3Binary, "\x01\x01\xff\x02", ErrUnknownType},
		{"xhr2 text of unknown type", PayloadV3Binary, "\x00\x01\xff9", ErrUnknownType},
		{"xhr2 text not utf-8", PayloadV3Binary, "\x00\x03\xff4\xed\xa0", ErrBadPayload},
		{"xhr2 text surrogate", PayloadV3Binary, "\x00\x04\xff4\xed\xa0\x80", ErrBadPayload},

		{"unknown format", PayloadFormat(9), "4", ErrBadPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePayload(tt.format, []byte(tt.wire))
			checkErr(t, err, tt.wantErr)
			if got != nil {
				t.Fatalf("packets returned with an error: %s", fmtPackets(got))
			}
		})
	}
}

func TestAppendPayloadEmpty(t *testing.T) {
	// engine.io-parser: encodePayload([]) is "0:" in v3 text, an empty
	// buffer as XHR2, and (5.x) never calls back at all.
	for f, want := range map[PayloadFormat]string{PayloadV4: "", PayloadV3Text: "0:", PayloadV3Binary: ""} {
		if got := AppendPayload(nil, f, nil); string(got) != want {
			t.Errorf("AppendPayload(%v, nil) = %q, want %q", f, got, want)
		}
	}
}

func TestAppendPayloadPacketFirst(t *testing.T) {
	var b []byte
	b = AppendPayloadPacket(b, PayloadV4, msg("a"), true)
	b = AppendPayloadPacket(b, PayloadV4, bin(1), false)
	if string(b) != "4a\x1ebAQ==" {
		t.Fatalf("v4 = %q", b)
	}
	// The v3 formats have no separator; first changes nothing.
	for _, f := range []PayloadFormat{PayloadV3Text, PayloadV3Binary} {
		a := AppendPayloadPacket(nil, f, msg("€"), true)
		c := AppendPayloadPacket(nil, f, msg("€"), false)
		if !bytes.Equal(a, c) {
			t.Errorf("%v: first changes the encoding: %q vs %q", f, a, c)
		}
	}
}

func TestDecodePayloadAliases(t *testing.T) {
	for _, tt := range []struct {
		f    PayloadFormat
		wire string
	}{{PayloadV4, "4hello"}, {PayloadV3Text, "6:4hello"}, {PayloadV3Binary, "\x00\x06\xff4hello"}} {
		body := []byte(tt.wire)
		ps, err := DecodePayload(tt.f, body)
		if err != nil {
			t.Fatal(err)
		}
		body[len(body)-1] = '!'
		if string(ps[0].Data) != "hell!" {
			t.Errorf("%v: Data does not alias the body: %q", tt.f, ps[0].Data)
		}
	}
}

func TestPayloadFormatString(t *testing.T) {
	for f, want := range map[PayloadFormat]string{PayloadV4: "v4", PayloadV3Text: "v3-text", PayloadV3Binary: "v3-binary", 7: "PayloadFormat(7)"} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", f, got, want)
		}
	}
}
