// Package wsframe builds WebSocket frames as a client sends them (masked,
// RFC 6455 §5.2 and §5.3). The server side uses a WebSocket library; this is
// for the load client (bench/socketbench) and the tests' client
// (internal/testutil), which write frames byte by byte so they can also write
// the malformed ones the tests need.
package wsframe

import "encoding/binary"

// AppendClient appends to dst one frame with first byte b0 (FIN, RSV and
// opcode), payload masked with key, and returns the extended slice.
func AppendClient(dst []byte, b0 byte, payload []byte, key [4]byte) []byte {
	n := len(payload)
	dst = append(dst, b0)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}
