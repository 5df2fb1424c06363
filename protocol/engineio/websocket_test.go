package engineio

import (
	"bytes"
	"testing"
)

func TestWebSocket(t *testing.T) {
	// Round trips: each wire form decodes to want and want encodes back to
	// the same frame.
	tests := []struct {
		name   string
		rev    Revision
		wire   string
		binary bool
		want   Packet
	}{
		// engine.io-protocol README (main), "WebSocket".
		{"v4 message", V4, "4hello", false, msg("hello")},
		{"v4 probe ping", V4, "2probe", false, text(Ping, "probe")},
		{"v4 probe pong", V4, "3probe", false, text(Pong, "probe")},
		{"v4 upgrade", V4, "5", false, text(Upgrade, "")},
		{"v4 noop", V4, "6", false, text(Noop, "")},
		{"v4 close", V4, "1", false, text(Close, "")},
		{"v4 open", V4, `0{"sid":"x"}`, false, text(Open, `0{"sid":"x"}`[1:])},
		{"v4 utf-8", V4, "4€😀", false, msg("€😀")},
		{"v4 binary is sent as is", V4, "\x01\x02\x03\x04", true, bin(1, 2, 3, 4)},
		{"v4 binary starting with 0x04", V4, "\x04\x05", true, bin(4, 5)},
		{"v4 empty binary", V4, "", true, bin()},
		// engine.io-protocol README (v3), "Packet": 4|0|1|2|3|4|5.
		{"v3 binary has a type byte", V3, "\x04\x00\x01\x02\x03\x04\x05", true, bin(0, 1, 2, 3, 4, 5)},
		{"v3 empty binary", V3, "\x04", true, bin()},
		{"v3 message", V3, "4HelloWorld", false, msg("HelloWorld")},
		{"v3 ping", V3, "2", false, text(Ping, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWebSocket(tt.rev, []byte(tt.wire), tt.binary)
			if err != nil {
				t.Fatalf("DecodeWebSocket: %v", err)
			}
			if !samePacket(got, tt.want) {
				t.Fatalf("DecodeWebSocket = %#v, want %#v", got, tt.want)
			}
			out, isBin := AppendWebSocket([]byte("prefix"), tt.rev, tt.want)
			if string(out) != "prefix"+tt.wire || isBin != tt.binary {
				t.Fatalf("AppendWebSocket = %q, %v; want %q, %v", out, isBin, tt.wire, tt.binary)
			}
		})
	}
}

func TestDecodeWebSocketBase64(t *testing.T) {
	// Clients with forceBase64 (and engine.io-parser's decodePacket) put
	// binary in text frames; the result is a binary message.
	tests := []struct {
		name    string
		rev     Revision
		wire    string
		want    Packet
		wantErr error
	}{
		{"v4 b", V4, "bAQIDBA==", bin(1, 2, 3, 4), nil},
		{"v4 empty b", V4, "b", bin(), nil},
		{"v3 b4", V3, "b4AQIDBA==", bin(1, 2, 3, 4), nil},
		{"v3 empty b4", V3, "b4", bin(), nil},
		{"v3 b without type", V3, "b", Packet{}, ErrUnknownType},
		{"v3 b of another type", V3, "b2AQID", Packet{}, ErrUnknownType},
		{"v4 bad base64", V4, "b!!!!", Packet{}, ErrBadBase64},
		{"v4 unpadded base64", V4, "bAQ", Packet{}, ErrBadBase64},
		{"v3 bad base64", V3, "b4AQIDBA=", Packet{}, ErrBadBase64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWebSocket(tt.rev, []byte(tt.wire), false)
			if checkErr(t, err, tt.wantErr) && !samePacket(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeWebSocketErrors(t *testing.T) {
	tests := []struct {
		name    string
		rev     Revision
		wire    string
		binary  bool
		wantErr error
	}{
		{"v4 empty text", V4, "", false, ErrEmptyPacket},
		{"v3 empty text", V3, "", false, ErrEmptyPacket},
		{"v3 empty binary", V3, "", true, ErrEmptyPacket},
		{"type 7", V4, "7", false, ErrUnknownType},
		{"type letter", V4, "x", false, ErrUnknownType},
		{"type below 0", V4, "/", false, ErrUnknownType},
		{"v3 binary of type ping", V3, "\x02abc", true, ErrUnknownType},
		{"v3 binary with a text digit", V3, "4abc", true, ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeWebSocket(tt.rev, []byte(tt.wire), tt.binary)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestDecodeWebSocketAliases(t *testing.T) {
	frame := []byte("4hello")
	p, err := DecodeWebSocket(V4, frame, false)
	if err != nil {
		t.Fatal(err)
	}
	frame[1] = 'J'
	if string(p.Data) != "Jello" {
		t.Fatalf("Data does not alias the frame: %q", p.Data)
	}
}

func TestAppendText(t *testing.T) {
	tests := []struct {
		name string
		rev  Revision
		p    Packet
		want string
	}{
		{"v4 text", V4, msg("hi"), "4hi"},
		{"v3 text", V3, text(Ping, "probe"), "2probe"},
		{"v4 binary", V4, bin(1, 2, 3, 4), "bAQIDBA=="},
		{"v3 binary", V3, bin(1, 2, 3, 4), "b4AQIDBA=="},
		{"binary ignores Type", V4, Packet{Type: Ping, Data: []byte{1}, Binary: true}, "bAQ=="},
	}
	for _, tt := range tests {
		if got := AppendText(nil, tt.rev, tt.p); string(got) != tt.want {
			t.Errorf("%s: AppendText = %q, want %q", tt.name, got, tt.want)
		}
	}
	// A binary packet with another Type still goes out as a message.
	out, _ := AppendWebSocket(nil, V3, Packet{Type: Ping, Data: []byte{9}, Binary: true})
	if !bytes.Equal(out, []byte{4, 9}) {
		t.Errorf("AppendWebSocket(V3, binary ping) = % x", out)
	}
}
