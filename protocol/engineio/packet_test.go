package engineio

import (
	"strings"
	"testing"
)

func TestPacketTypeString(t *testing.T) {
	want := []string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}
	for i, name := range want {
		pt := PacketType(i)
		if got := pt.String(); got != name {
			t.Errorf("PacketType(%d).String() = %q, want %q", i, got, name)
		}
		if !pt.Valid() {
			t.Errorf("PacketType(%d).Valid() = false", i)
		}
	}
	if got := PacketType(7).String(); got != "PacketType(7)" {
		t.Errorf("PacketType(7).String() = %q", got)
	}
	if PacketType(7).Valid() || PacketType(255).Valid() {
		t.Error("PacketType(7) or (255) reported valid")
	}
}

func TestParseTypeDigit(t *testing.T) {
	for c := 0; c < 256; c++ {
		pt, ok := parseTypeDigit(byte(c))
		wantOK := c >= '0' && c <= '6'
		if ok != wantOK || ok && pt != PacketType(c-'0') {
			t.Errorf("parseTypeDigit(%q) = %v, %v", byte(c), pt, ok)
		}
	}
}

func TestParseRevision(t *testing.T) {
	tests := []struct {
		in   string
		want Revision
		ok   bool
	}{
		{"3", V3, true},
		{"4", V4, true},
		{"", 0, false},
		{"2", 0, false},
		{"5", 0, false},
		{"04", 0, false},
		{"4 ", 0, false},
		{"+4", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRevision(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRevision(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if V3.String() != "3" || V4.String() != "4" {
		t.Errorf("Revision.String: %q %q", V3, V4)
	}
}

func TestSentinelMessages(t *testing.T) {
	for _, err := range []error{ErrEmptyPacket, ErrUnknownType, ErrBadPayload, ErrBadBase64, ErrBadJSONP} {
		if !strings.HasPrefix(err.Error(), "engineio: ") {
			t.Errorf("%q lacks the package prefix", err)
		}
	}
}
