package wire

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file transcodes JSON (socketd's form of event arguments) to msgpack,
// writing what notepack.io 3.x writes for the value JSON.parse would give
// in Node, in one pass and without building a tree. Containers are written
// with a 5-byte header reserved and shifted down to their smallest header
// once their length is known: the bytes of a value move once per level of
// nesting above it, and socket.io payloads are shallow.

// AppendJSON appends the JSON value raw to dst as msgpack. When atts is not
// empty, every attachment placeholder {"_placeholder":true,"num":N} becomes
// the binary atts[N] (socket.io-parser's reconstructPacket rule: an object
// whose _placeholder is true is a placeholder, and a bad num is an error).
//
// Numbers follow JavaScript: a literal is the double JSON.parse makes of it,
// written as notepack.io writes a number: whole values in the smallest
// integer form (1.0 and 1e3 too), the rest as float64. Whole values beyond
// the 64-bit ranges are written as float64, where notepack.io would wrap
// them.
func AppendJSON(dst []byte, raw []byte, atts [][]byte) ([]byte, error) {
	t := jsonTranscoder{in: raw, atts: atts}
	i := t.space(0)
	var err error
	dst, i, err = t.value(dst, i, 0)
	if err != nil {
		return dst, err
	}
	if i = t.space(i); i != len(raw) {
		return dst, t.errorf(i, "trailing data")
	}
	return dst, nil
}

type jsonTranscoder struct {
	in   []byte
	atts [][]byte
}

func (t *jsonTranscoder) errorf(i int, format string, args ...any) error {
	return fmt.Errorf("%w: JSON: "+format+" at offset %d", append([]any{ErrMalformed}, append(args, i)...)...)
}

func (t *jsonTranscoder) space(i int) int {
	for i < len(t.in) {
		switch t.in[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value transcodes the value at i and returns the index after it.
func (t *jsonTranscoder) value(dst []byte, i, depth int) ([]byte, int, error) {
	if i >= len(t.in) {
		return dst, i, t.errorf(i, "value expected")
	}
	switch c := t.in[i]; {
	case c == '"':
		return t.str(dst, i)
	case c == '[':
		return t.array(dst, i, depth)
	case c == '{':
		return t.object(dst, i, depth)
	case c == 't':
		return t.literal(dst, i, "true", 0xc3)
	case c == 'f':
		return t.literal(dst, i, "false", 0xc2)
	case c == 'n':
		return t.literal(dst, i, "null", 0xc0)
	case c == '-' || ('0' <= c && c <= '9'):
		return t.number(dst, i)
	}
	return dst, i, t.errorf(i, "unexpected %q", t.in[i])
}

func (t *jsonTranscoder) literal(dst []byte, i int, lit string, code byte) ([]byte, int, error) {
	if !bytes.HasPrefix(t.in[i:], []byte(lit)) {
		return dst, i, t.errorf(i, "invalid literal")
	}
	return append(dst, code), i + len(lit), nil
}

// numberEnd returns the end of the number literal at i, checking its syntax
// (RFC 8259), and whether it is an integer literal.
func (t *jsonTranscoder) numberEnd(i int) (end int, integer bool, err error) {
	start := i
	if i < len(t.in) && t.in[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(t.in) && '0' <= t.in[i] && t.in[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(t.in) && t.in[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, false, t.errorf(start, "invalid number")
	}
	integer = true
	if i < len(t.in) && t.in[i] == '.' {
		i++
		integer = false
		if digits() == 0 {
			return i, false, t.errorf(start, "invalid number")
		}
	}
	if i < len(t.in) && (t.in[i] == 'e' || t.in[i] == 'E') {
		i++
		integer = false
		if i < len(t.in) && (t.in[i] == '+' || t.in[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false, t.errorf(start, "invalid number")
		}
	}
	return i, integer, nil
}

func (t *jsonTranscoder) number(dst []byte, i int) ([]byte, int, error) {
	end, integer, err := t.numberEnd(i)
	if err != nil {
		return dst, end, err
	}
	lit := t.in[i:end]
	// Up to 15 digits an integer is exact as a double: the common case,
	// without strconv.
	if integer && len(lit) <= 15 {
		v, _ := parseInt(lit)
		return AppendInt(dst, v), end, nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !math.IsInf(f, 0) {
		return dst, end, t.errorf(i, "invalid number")
	}
	return appendJSNumber(dst, f), end, nil
}

// appendJSNumber writes a JavaScript number as notepack.io does: whole
// numbers as integers, the rest as float64. Whole numbers beyond the 64-bit
// ranges are written as float64 (notepack.io would wrap them).
func appendJSNumber(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		switch {
		case f >= 0 && f < 1<<64:
			return AppendUint(dst, uint64(f))
		case f < 0 && f >= -(1<<63):
			return AppendInt(dst, int64(f))
		}
	}
	return AppendFloat(dst, f)
}

// parseInt parses a decimal integer literal without allocating.
func parseInt(lit []byte) (int64, bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	if len(lit) == 0 || len(lit) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range lit {
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// strEnd returns the index after the closing quote of the string at i and
// whether it has escapes.
func (t *jsonTranscoder) strEnd(i int) (int, bool, error) {
	escaped := false
	for j := i + 1; j < len(t.in); j++ {
		switch c := t.in[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return j, false, t.errorf(j, "control character in string")
		}
	}
	return len(t.in), false, t.errorf(i, "unterminated string")
}

func (t *jsonTranscoder) str(dst []byte, i int) ([]byte, int, error) {
	end, escaped, err := t.strEnd(i)
	if err != nil {
		return dst, end, err
	}
	body := t.in[i+1 : end-1]
	if !escaped && utf8.Valid(body) {
		return append(AppendStringHeader(dst, len(body)), body...), end, nil
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	dst, err = t.unescape(dst, body, i+1)
	if err != nil {
		return dst, end, err
	}
	return shiftHeader(dst, start, len(dst)-start-5, AppendStringHeader), end, nil
}

// unescape appends the unescaped body of a JSON string, invalid UTF-8 and
// lone surrogates replaced by U+FFFD (as encoding/json does).
func (t *jsonTranscoder) unescape(dst, body []byte, at int) ([]byte, error) {
	for k := 0; k < len(body); {
		c := body[k]
		if c != '\\' {
			if c < utf8.RuneSelf {
				dst = append(dst, c)
				k++
				continue
			}
			r, size := utf8.DecodeRune(body[k:])
			dst = utf8.AppendRune(dst, r)
			k += size
			continue
		}
		if k+1 >= len(body) {
			return dst, t.errorf(at+k, "invalid escape")
		}
		k++
		switch body[k] {
		case '"', '\\', '/':
			dst = append(dst, body[k])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(body[k+1:])
			if !ok {
				return dst, t.errorf(at+k, "invalid \\u escape")
			}
			k += 4
			if utf16.IsSurrogate(r) {
				high := r
				r = utf8.RuneError
				if k+2 < len(body) && body[k+1] == '\\' && body[k+2] == 'u' {
					if low, ok := hex4(body[k+3:]); ok {
						if dec := utf16.DecodeRune(high, low); dec != utf8.RuneError {
							r = dec
							k += 6
						}
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, t.errorf(at+k, "invalid escape")
		}
		k++
	}
	return dst, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// shiftHeader writes the header for n items (or bytes) of the value whose 5
// reserved header bytes start at dst[start], moving the content down when
// the header is shorter.
func shiftHeader(dst []byte, start, n int, header func([]byte, int) []byte) []byte {
	var h [5]byte
	hdr := header(h[:0], n)
	if len(hdr) < 5 {
		copy(dst[start+len(hdr):], dst[start+5:])
		dst = dst[:len(dst)-(5-len(hdr))]
	}
	copy(dst[start:], hdr)
	return dst
}

func (t *jsonTranscoder) array(dst []byte, i, depth int) ([]byte, int, error) {
	if depth >= maxDepth {
		return dst, i, t.errorf(i, "nesting deeper than %d", maxDepth)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	n := 0
	i = t.space(i + 1)
	if i < len(t.in) && t.in[i] == ']' {
		return shiftHeader(dst, start, 0, AppendArrayHeader), i + 1, nil
	}
	for {
		var err error
		if dst, i, err = t.value(dst, i, depth+1); err != nil {
			return dst, i, err
		}
		n++
		i = t.space(i)
		if i >= len(t.in) {
			return dst, i, t.errorf(i, "unterminated array")
		}
		if t.in[i] == ']' {
			return shiftHeader(dst, start, n, AppendArrayHeader), i + 1, nil
		}
		if t.in[i] != ',' {
			return dst, i, t.errorf(i, "',' or ']' expected")
		}
		i = t.space(i + 1)
	}
}

func (t *jsonTranscoder) object(dst []byte, i, depth int) ([]byte, int, error) {
	if depth >= maxDepth {
		return dst, i, t.errorf(i, "nesting deeper than %d", maxDepth)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	n := 0
	// A placeholder is recognised on the way: "_placeholder": true and an
	// integer "num".
	placeholder, num := false, -1
	i = t.space(i + 1)
	if i < len(t.in) && t.in[i] == '}' {
		return shiftHeader(dst, start, 0, AppendMapHeader), i + 1, nil
	}
	for {
		if i >= len(t.in) || t.in[i] != '"' {
			return dst, i, t.errorf(i, "object key expected")
		}
		keyAt := len(dst)
		var err error
		if dst, i, err = t.str(dst, i); err != nil {
			return dst, i, err
		}
		key := dst[keyAt:]
		isPlaceholderKey := bytes.Equal(key, []byte("\xac_placeholder"))
		isNumKey := bytes.Equal(key, []byte("\xa3num"))
		i = t.space(i)
		if i >= len(t.in) || t.in[i] != ':' {
			return dst, i, t.errorf(i, "':' expected")
		}
		i = t.space(i + 1)
		valueAt, valueIn := len(dst), i
		if dst, i, err = t.value(dst, i, depth+1); err != nil {
			return dst, i, err
		}
		switch {
		case isPlaceholderKey:
			placeholder = len(dst) == valueAt+1 && dst[valueAt] == 0xc3
		case isNumKey:
			num = -1
			if _, integer, _ := t.numberEnd(valueIn); integer && t.in[valueIn] != '-' {
				if v, ok := parseInt(t.in[valueIn:i]); ok && v < 1<<31 {
					num = int(v)
				}
			}
		}
		n++
		i = t.space(i)
		if i >= len(t.in) {
			return dst, i, t.errorf(i, "unterminated object")
		}
		if t.in[i] == '}' {
			break
		}
		if t.in[i] != ',' {
			return dst, i, t.errorf(i, "',' or '}' expected")
		}
		i = t.space(i + 1)
	}
	i++
	if placeholder && len(t.atts) > 0 {
		if num < 0 || num >= len(t.atts) {
			return dst, i, t.errorf(i, "illegal attachments: placeholder %d of %d", num, len(t.atts))
		}
		return AppendBinary(dst[:start], t.atts[num]), i, nil
	}
	return shiftHeader(dst, start, n, AppendMapHeader), i, nil
}
