package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/socketd/socketd/protocol/socketio"
)

// This file transcodes msgpack to JSON: the JSON that socket.io-parser's
// encoder (JSON.stringify) would write in Node for what notepack.io 3.x
// decodes, so a socketd node's clients get what a Node node's clients get.

// AppendJSON reads one value and appends it to dst as JSON. Binary values
// (bin, and the ArrayBuffer extension of notepack.io 2.x) become attachment
// placeholders, numbered from len(*atts), and are appended to *atts; they
// share the message's bytes. With atts nil they are written as Node's JSON
// form of a Buffer instead.
//
// Values that JSON.stringify writes specially: a Date (timestamp extension
// -1, or notepack.io 2.x's extension 0 of 8 bytes) is its ISO-8601 string,
// an invalid one null; NaN and infinities are null; undefined (notepack.io
// 2.x's fixext 0) is null in an array and leaves its key out of an object;
// other extensions are [type, <binary>] as notepack.io decodes them.
// Numbers are written as JSON.stringify writes the double notepack.io
// decodes.
func (r *Reader) AppendJSON(dst []byte, atts *[][]byte) ([]byte, error) {
	return r.appendJSON(dst, atts, 0)
}

// isUndefined reports whether the next value is notepack.io 2.x's undefined.
func (r *Reader) isUndefined() bool {
	return len(r.b)-r.off >= 3 && r.b[r.off] == 0xd4 && r.b[r.off+1] == 0
}

func (r *Reader) appendJSON(dst []byte, atts *[][]byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, r.errorf("nesting deeper than %d", maxDepth)
	}
	switch r.Peek() {
	case KindNil:
		r.off++
		return append(dst, "null"...), nil
	case KindBool:
		v, _ := r.ReadBool()
		return strconv.AppendBool(dst, v), nil
	case KindInt, KindUint, KindFloat:
		n, err := r.readNumber()
		if err != nil {
			return dst, err
		}
		return appendNumberJSON(dst, n), nil
	case KindString:
		s, err := r.ReadStringBytes()
		if err != nil {
			return dst, err
		}
		return appendJSString(dst, s), nil
	case KindBinary:
		b, err := r.ReadBinary()
		if err != nil {
			return dst, err
		}
		return appendAttachment(dst, atts, b), nil
	case KindExt:
		return r.extJSON(dst, atts)
	case KindArray:
		n, err := r.ReadArrayLen()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			if r.isUndefined() {
				r.off += 3
				dst = append(dst, "null"...)
				continue
			}
			if dst, err = r.appendJSON(dst, atts, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case KindMap:
		n, err := r.ReadMapLen()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '{')
		first := true
		for range n {
			keyAt := len(dst)
			if !first {
				dst = append(dst, ',')
			}
			if dst, err = r.keyJSON(dst); err != nil {
				return dst, err
			}
			if r.isUndefined() {
				r.off += 3
				dst = dst[:keyAt]
				continue
			}
			dst = append(dst, ':')
			if dst, err = r.appendJSON(dst, atts, depth+1); err != nil {
				return dst, err
			}
			first = false
		}
		return append(dst, '}'), nil
	}
	return dst, r.errorf("invalid byte 0x%02x", r.peekByte())
}

// keyJSON appends a map key as a JSON string: Node uses String(key) as the
// property name.
func (r *Reader) keyJSON(dst []byte) ([]byte, error) {
	switch r.Peek() {
	case KindString:
		s, err := r.ReadStringBytes()
		if err != nil {
			return dst, err
		}
		return appendJSString(dst, s), nil
	case KindInt, KindUint, KindFloat:
		n, err := r.readNumber()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '"')
		if n.kind == KindFloat && (math.IsNaN(n.f) || math.IsInf(n.f, 0)) {
			dst = append(dst, jsNonFinite(n.f)...)
		} else {
			dst = appendNumberJSON(dst, n)
		}
		return append(dst, '"'), nil
	case KindBool:
		v, _ := r.ReadBool()
		return append(strconv.AppendBool(append(dst, '"'), v), '"'), nil
	case KindNil:
		r.off++
		return append(dst, `"null"`...), nil
	}
	return dst, r.errorf("unsupported map key")
}

// appendJSString writes a msgpack string as JSON. Invalid UTF-8 becomes
// U+FFFD, as Node's Buffer.toString makes it.
func appendJSString(dst, s []byte) []byte {
	if !utf8.Valid(s) {
		s = bytes.ToValidUTF8(s, []byte("\uFFFD"))
	}
	return socketio.AppendJSONString(dst, string(s))
}

func jsNonFinite(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "Infinity"
	}
	return "-Infinity"
}

// appendAttachment writes binary b: a placeholder for attachment b, or with
// atts nil the JSON that JSON.stringify writes for a Node Buffer (what a
// JSON request of the classic adapter carries).
func appendAttachment(dst []byte, atts *[][]byte, b []byte) []byte {
	if atts == nil {
		dst = append(dst, `{"type":"Buffer","data":[`...)
		for i, c := range b {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(c), 10)
		}
		return append(dst, "]}"...)
	}
	*atts = append(*atts, b)
	return socketio.AppendPlaceholder(dst, len(*atts)-1)
}

// appendNumberJSON writes a decoded number as a Node node would: notepack.io
// makes every number a double, so an integer beyond 2^53 is written as that
// double (JSON.parse of either text gives the same double).
func appendNumberJSON(dst []byte, n number) []byte {
	switch n.kind {
	case KindInt:
		if n.i >= -(1<<53) && n.i <= 1<<53 {
			return strconv.AppendInt(dst, n.i, 10)
		}
		return AppendJSNumberJSON(dst, float64(n.i))
	case KindUint:
		if n.u <= 1<<53 {
			return strconv.AppendUint(dst, n.u, 10)
		}
		return AppendJSNumberJSON(dst, float64(n.u))
	}
	return AppendJSNumberJSON(dst, n.f)
}

// AppendJSNumberJSON appends f as JSON.stringify writes a number: the
// shortest form that reads back as f, in exponent form below 1e-6 and from
// 1e21 up, "0" for -0, null for NaN and infinities.
func AppendJSNumberJSON(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Go writes e-07 where JavaScript writes e-7.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// extJSON writes an extension value the way notepack.io 3.x decodes it.
func (r *Reader) extJSON(dst []byte, atts *[][]byte) ([]byte, error) {
	code := r.b[r.off]
	typ, data, err := r.ext()
	if err != nil {
		return dst, err
	}
	switch {
	case typ == 0 && code == 0xd4:
		// undefined outside an array or object (a bare value): JSON has
		// no undefined; null is what an array slot would get.
		return append(dst, "null"...), nil
	case typ == 0 && code == 0xd7:
		// notepack.io 2.x Date: milliseconds as a signed 64-bit integer.
		hi := int32(binary.BigEndian.Uint32(data))
		lo := binary.BigEndian.Uint32(data[4:])
		return appendDateJSON(dst, float64(hi)*(1<<32)+float64(lo)), nil
	case typ == 0 && (code == 0xc7 || code == 0xc8 || code == 0xc9):
		// notepack.io 2.x ArrayBuffer.
		return appendAttachment(dst, atts, data), nil
	case typ == -1 && code == 0xd6:
		return appendDateJSON(dst, float64(binary.BigEndian.Uint32(data))*1e3), nil
	case typ == -1 && code == 0xd7:
		hi := binary.BigEndian.Uint32(data)
		lo := binary.BigEndian.Uint32(data[4:])
		s := float64(hi&3)*(1<<32) + float64(lo)
		return appendDateJSON(dst, s*1e3+float64(hi>>2)/1e6), nil
	case typ == -1 && code == 0xc7:
		if len(data) != 12 {
			return dst, r.errorf("timestamp of %d bytes", len(data))
		}
		ns := binary.BigEndian.Uint32(data)
		hi := int32(binary.BigEndian.Uint32(data[4:]))
		lo := binary.BigEndian.Uint32(data[8:])
		return appendDateJSON(dst, (float64(hi)*(1<<32)+float64(lo))*1e3+float64(ns)/1e6), nil
	}
	dst = append(strconv.AppendInt(append(dst, '['), int64(typ), 10), ',')
	return append(appendAttachment(dst, atts, data), ']'), nil
}

// maxDateMS is the largest magnitude of a valid JavaScript Date (ECMA-262
// TimeClip).
const maxDateMS = 8.64e15

// appendDateJSON writes new Date(ms) as JSON.stringify does: toISOString, or
// null for an invalid date.
func appendDateJSON(dst []byte, ms float64) []byte {
	if math.IsNaN(ms) || math.Abs(ms) > maxDateMS {
		return append(dst, "null"...)
	}
	t := time.UnixMilli(int64(ms)).UTC() // int64() truncates toward zero, as TimeClip does
	dst = append(dst, '"')
	switch y := t.Year(); {
	case y >= 0 && y <= 9999:
		dst = appendDigits(dst, y, 4)
	case y < 0:
		dst = appendDigits(append(dst, '-'), -y, 6)
	default:
		dst = appendDigits(append(dst, '+'), y, 6)
	}
	dst = appendDigits(append(dst, '-'), int(t.Month()), 2)
	dst = appendDigits(append(dst, '-'), t.Day(), 2)
	dst = appendDigits(append(dst, 'T'), t.Hour(), 2)
	dst = appendDigits(append(dst, ':'), t.Minute(), 2)
	dst = appendDigits(append(dst, ':'), t.Second(), 2)
	dst = appendDigits(append(dst, '.'), t.Nanosecond()/1e6, 3)
	return append(dst, 'Z', '"')
}

func appendDigits(dst []byte, v, width int) []byte {
	var buf [12]byte
	s := strconv.AppendInt(buf[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
