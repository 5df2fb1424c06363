package store

import (
	"testing"
	"unsafe"
)

// Memory keeps a tokenRecord per auth token and a presence per online user:
// their fields fill a size class (24 and 48 bytes); a field more moves them up
// one for every socket or user.
func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(tokenRecord{}); n > 24 {
		t.Errorf("tokenRecord is %d bytes, want at most 24", n)
	}
	if n := unsafe.Sizeof(presence{}); n > 48 {
		t.Errorf("presence is %d bytes, want at most 48", n)
	}
}
