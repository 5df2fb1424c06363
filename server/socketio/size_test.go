package socketio

import (
	"testing"
	"unsafe"
)

// TestClientSize: a client fills the 80-byte allocation class (the message
// rate's 8 bytes included); a field more moves every connection to the
// 96-byte one.
func TestClientSize(t *testing.T) {
	if n := unsafe.Sizeof(client{}); n > 80 {
		t.Fatalf("client is %d bytes, want at most 80", n)
	}
}
