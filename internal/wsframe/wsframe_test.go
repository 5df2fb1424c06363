package wsframe

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestAppendClient(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f := AppendClient([]byte("prefix"), 0x81, payload, key)
		if !bytes.HasPrefix(f, []byte("prefix")) {
			t.Fatalf("n=%d: dst not kept", n)
		}
		f = f[len("prefix"):]
		if f[0] != 0x81 || f[1]&0x80 == 0 {
			t.Fatalf("n=%d: first bytes %x %x", n, f[0], f[1])
		}
		got, hdr := uint64(f[1]&0x7F), 2
		switch got {
		case 126:
			got, hdr = uint64(binary.BigEndian.Uint16(f[2:])), 4
		case 127:
			got, hdr = binary.BigEndian.Uint64(f[2:]), 10
		}
		if got != uint64(n) || (n < 126 && hdr != 2) || (n >= 126 && n <= 0xFFFF && hdr != 4) || (n > 0xFFFF && hdr != 10) {
			t.Fatalf("n=%d: length %d in a %d-byte header", n, got, hdr)
		}
		if !bytes.Equal(f[hdr:hdr+4], key[:]) {
			t.Fatalf("n=%d: mask key %x", n, f[hdr:hdr+4])
		}
		body := f[hdr+4:]
		for i := range body {
			body[i] ^= key[i&3]
		}
		if !bytes.Equal(body, payload) {
			t.Fatalf("n=%d: payload does not unmask", n)
		}
	}
}
