package engineio

import (
	"encoding/binary"
	"unicode/utf8"
)

// UTF16Len is the length JavaScript's String.length gives for the UTF-8
// text b: 2 per astral code point, 1 per other code point. Revision 3
// polling prefixes each packet with this count, because engine.io-parser
// 2.x measured the JavaScript string, not its bytes (the README's
// "2:4€" example).
//
// Invalid UTF-8 counts as the U+FFFD characters a JavaScript runtime
// decodes it to: the WHATWG UTF-8 decoder (browsers, Node's
// Buffer.toString) emits one U+FFFD per maximal subpart of an ill-formed
// sequence, so "\xE2\x82A" counts 2 (U+FFFD, "A") and "\xC0\xAF" counts 2.
// Counting the way the peer decodes keeps the length prefixes of a payload
// consistent with what the client's parser sees.
func UTF16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		// Skip ASCII eight bytes at a time: Socket.IO JSON is mostly ASCII.
		for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
			n += 8
		}
		if i == len(b) {
			break
		}
		if b[i] < utf8.RuneSelf {
			i++
			n++
			continue
		}
		size, units := decodeChar(b[i:])
		i += size
		n += units
	}
	return n
}

// utf16Prefix returns how many bytes of b hold its first units UTF-16 code
// units. It fails when b is shorter, or when the last unit would be half
// of a surrogate pair (engine.io-parser then reads a lone surrogate and the
// next length prefix cannot parse, so the payload is rejected either way).
func utf16Prefix(b []byte, units int) (int, bool) {
	i := 0
	for units > 0 {
		for units >= 8 && i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
			units -= 8
		}
		if units == 0 {
			break
		}
		if i >= len(b) {
			return 0, false
		}
		if b[i] < utf8.RuneSelf {
			i++
			units--
			continue
		}
		size, u := decodeChar(b[i:])
		if u > units {
			return 0, false
		}
		i += size
		units -= u
	}
	return i, true
}

// decodeChar decodes the character at the start of b (len(b) > 0) as the
// WHATWG UTF-8 decoder does: it returns the bytes consumed and the UTF-16
// units produced (2 for an astral code point, 1 otherwise; an ill-formed
// sequence is one U+FFFD).
func decodeChar(b []byte) (size, units int) {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size == 1 {
		return maximalSubpart(b), 1
	}
	if r >= 0x10000 {
		return size, 2
	}
	return size, 1
}

// maximalSubpart returns the length of the ill-formed sequence at the start
// of b, which utf8.DecodeRune rejected: the lead byte plus the continuation
// bytes that were still acceptable when the sequence broke off (Unicode
// "maximal subpart", the WHATWG decoder's bounds). The WHATWG decoder
// replaces it with a single U+FFFD; Go's decoder would see one error per
// byte.
func maximalSubpart(b []byte) int {
	c := b[0]
	need := 0
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0 // no overlong forms
	case c == 0xED:
		need, hi = 2, 0x9F // no surrogates
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90 // no overlong forms
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F // nothing above U+10FFFF
	default:
		return 1 // a stray continuation byte or a byte that never starts a sequence
	}
	n := 1
	for n <= need && n < len(b) && b[n] >= lo && b[n] <= hi {
		n++
		lo, hi = 0x80, 0xBF
	}
	if n > need { // complete after all; cannot happen for input DecodeRune rejected
		return need + 1
	}
	return n
}
