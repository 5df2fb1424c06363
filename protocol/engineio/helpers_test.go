package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Constructors that keep the test tables readable.
func text(t PacketType, data string) Packet { return Packet{Type: t, Data: []byte(data)} }
func msg(data string) Packet                { return text(Message, data) }
func bin(data ...byte) Packet               { return Packet{Type: Message, Data: data, Binary: true} }

// samePackets compares packets by value; nil and empty Data are equal,
// since the decoders return empty slices that alias their input.
func samePackets(a, b []Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !samePacket(a[i], b[i]) {
			return false
		}
	}
	return true
}

func samePacket(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func (p Packet) GoString() string {
	if p.Binary {
		return fmt.Sprintf("bin(% x)", p.Data)
	}
	return fmt.Sprintf("%v(%q)", p.Type, p.Data)
}

func fmtPackets(ps []Packet) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.GoString())
	}
	return "[" + b.String() + "]"
}

// checkErr fails t unless err wraps want (or is nil when want is nil).
func checkErr(t *testing.T, err, want error) bool {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("no error, want %v", want)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want one wrapping %v", err, want)
	}
	return err == nil
}
