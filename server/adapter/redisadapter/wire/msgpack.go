package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file holds the msgpack primitives: append functions that write the
// smallest form of each value, as notepack.io 3.x does, and a Reader over a
// whole message held in memory (a Redis message always is).

// ErrMalformed is wrapped by every decoding error of this package.
var ErrMalformed = errors.New("wire: malformed message")

// maxDepth bounds how deeply msgpack and JSON values may nest. socket.io
// payloads are shallow; the bound keeps hostile input from exhausting the
// stack.
const maxDepth = 512

// AppendNil appends nil.
func AppendNil(dst []byte) []byte { return append(dst, 0xc0) }

// AppendBool appends a boolean.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

// AppendInt appends an integer in its smallest form (notepack.io's choice:
// positive values as fixint/uint8..uint64, negative ones as
// fixint/int8..int64).
func AppendInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return AppendUint(dst, uint64(v))
	}
	switch {
	case v >= -0x20:
		return append(dst, byte(v))
	case v >= -0x80:
		return append(dst, 0xd0, byte(v))
	case v >= -0x8000:
		return append(dst, 0xd1, byte(v>>8), byte(v))
	case v >= -0x80000000:
		return append(dst, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	dst = append(dst, 0xd3)
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

// AppendUint appends a non-negative integer in its smallest form.
func AppendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(dst, byte(v))
	case v < 0x100:
		return append(dst, 0xcc, byte(v))
	case v < 0x10000:
		return append(dst, 0xcd, byte(v>>8), byte(v))
	case v < 0x100000000:
		return append(dst, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	dst = append(dst, 0xcf)
	return binary.BigEndian.AppendUint64(dst, v)
}

// AppendFloat appends a float64 (notepack.io never writes float32).
func AppendFloat(dst []byte, v float64) []byte {
	dst = append(dst, 0xcb)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
}

// AppendStringHeader appends the header of a string of n bytes.
func AppendStringHeader(dst []byte, n int) []byte {
	switch {
	case n < 0x20:
		return append(dst, 0xa0|byte(n))
	case n < 0x100:
		return append(dst, 0xd9, byte(n))
	case n < 0x10000:
		return append(dst, 0xda, byte(n>>8), byte(n))
	}
	return append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendString appends a string.
func AppendString(dst []byte, s string) []byte {
	return append(AppendStringHeader(dst, len(s)), s...)
}

// AppendBinary appends b as bin8/16/32, the form Node Buffers take.
func AppendBinary(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n < 0x100:
		dst = append(dst, 0xc4, byte(n))
	case n < 0x10000:
		dst = append(dst, 0xc5, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, b...)
}

// AppendArrayHeader appends the header of an array of n elements.
func AppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 0x10:
		return append(dst, 0x90|byte(n))
	case n < 0x10000:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendMapHeader appends the header of a map of n entries.
func AppendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 0x10:
		return append(dst, 0x80|byte(n))
	case n < 0x10000:
		return append(dst, 0xde, byte(n>>8), byte(n))
	}
	return append(dst, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// Kind is the family of the next msgpack value.
type Kind uint8

// Kinds of msgpack values.
const (
	KindInvalid Kind = iota
	KindNil
	KindBool
	KindInt   // negative or signed forms
	KindUint  // positive fixint and uint forms
	KindFloat // float32 or float64
	KindString
	KindBinary
	KindArray
	KindMap
	KindExt
)

// Reader reads msgpack values from a message held in memory. Strings and
// binaries it returns share the message's bytes.
type Reader struct {
	b   []byte
	off int
}

// NewReader returns a Reader at the start of b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Offset is the position of the next value.
func (r *Reader) Offset() int { return r.off }

// Rest returns the bytes not read yet.
func (r *Reader) Rest() []byte { return r.b[r.off:] }

// Done reports whether every byte has been read.
func (r *Reader) Done() bool { return r.off >= len(r.b) }

func (r *Reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format+" at offset %d", append([]any{ErrMalformed}, append(args, r.off)...)...)
}

func (r *Reader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, r.errorf("truncated (%d bytes wanted)", n)
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s, nil
}

func (r *Reader) uintN(n int) (uint64, error) {
	s, err := r.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range s {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// Peek returns the kind of the next value without reading it.
func (r *Reader) Peek() Kind {
	if r.off >= len(r.b) {
		return KindInvalid
	}
	c := r.b[r.off]
	switch {
	case c < 0x80:
		return KindUint
	case c < 0x90:
		return KindMap
	case c < 0xa0:
		return KindArray
	case c < 0xc0:
		return KindString
	case c >= 0xe0:
		return KindInt
	}
	switch c {
	case 0xc0:
		return KindNil
	case 0xc2, 0xc3:
		return KindBool
	case 0xc4, 0xc5, 0xc6:
		return KindBinary
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return KindExt
	case 0xca, 0xcb:
		return KindFloat
	case 0xcc, 0xcd, 0xce, 0xcf:
		return KindUint
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return KindInt
	case 0xd9, 0xda, 0xdb:
		return KindString
	case 0xdc, 0xdd:
		return KindArray
	case 0xde, 0xdf:
		return KindMap
	}
	return KindInvalid // 0xc1 is never used
}

// lengthOf reads the length that follows a header byte with a 1, 2 or 4 byte
// length field (chosen by small, mid and big).
func (r *Reader) lengthOf(c, small, mid, big byte) (int, error) {
	var n uint64
	var err error
	switch c {
	case small:
		n, err = r.uintN(1)
	case mid:
		n, err = r.uintN(2)
	case big:
		n, err = r.uintN(4)
	}
	return int(n), err
}

// ReadArrayLen reads an array header. The length is checked against the
// bytes left (every element takes at least one), so a hostile length never
// sizes an allocation.
func (r *Reader) ReadArrayLen() (int, error) {
	if r.Peek() != KindArray {
		return 0, r.errorf("array expected")
	}
	c := r.b[r.off]
	r.off++
	n := int(c & 0x0f)
	if c >= 0xdc {
		var err error
		if n, err = r.lengthOf(c, 0, 0xdc, 0xdd); err != nil {
			return 0, err
		}
	}
	if n > len(r.b)-r.off {
		return 0, r.errorf("array of %d elements in %d bytes", n, len(r.b)-r.off)
	}
	return n, nil
}

// ReadMapLen reads a map header, checked as ReadArrayLen does.
func (r *Reader) ReadMapLen() (int, error) {
	if r.Peek() != KindMap {
		return 0, r.errorf("map expected")
	}
	c := r.b[r.off]
	r.off++
	n := int(c & 0x0f)
	if c >= 0xde {
		var err error
		if n, err = r.lengthOf(c, 0, 0xde, 0xdf); err != nil {
			return 0, err
		}
	}
	if n > (len(r.b)-r.off)/2 {
		return 0, r.errorf("map of %d entries in %d bytes", n, len(r.b)-r.off)
	}
	return n, nil
}

// ReadStringBytes reads a string, sharing the message's bytes.
func (r *Reader) ReadStringBytes() ([]byte, error) {
	if r.Peek() != KindString {
		return nil, r.errorf("string expected")
	}
	c := r.b[r.off]
	r.off++
	n := int(c & 0x1f)
	if c >= 0xd9 {
		var err error
		if n, err = r.lengthOf(c, 0xd9, 0xda, 0xdb); err != nil {
			return nil, err
		}
	}
	return r.take(n)
}

// ReadString reads a string.
func (r *Reader) ReadString() (string, error) {
	b, err := r.ReadStringBytes()
	return string(b), err
}

// ReadBinary reads a bin8/16/32 value, sharing the message's bytes.
func (r *Reader) ReadBinary() ([]byte, error) {
	if r.Peek() != KindBinary {
		return nil, r.errorf("binary expected")
	}
	c := r.b[r.off]
	r.off++
	n, err := r.lengthOf(c, 0xc4, 0xc5, 0xc6)
	if err != nil {
		return nil, err
	}
	return r.take(n)
}

// ReadBool reads a boolean.
func (r *Reader) ReadBool() (bool, error) {
	if r.Peek() != KindBool {
		return false, r.errorf("boolean expected")
	}
	r.off++
	return r.b[r.off-1] == 0xc3, nil
}

// ReadNil reads nil.
func (r *Reader) ReadNil() error {
	if r.Peek() != KindNil {
		return r.errorf("nil expected")
	}
	r.off++
	return nil
}

// number is a decoded msgpack number: exactly one of its forms is set by kind.
type number struct {
	kind Kind // KindInt, KindUint or KindFloat
	i    int64
	u    uint64
	f    float64
}

func (r *Reader) readNumber() (number, error) {
	if r.off >= len(r.b) {
		return number{}, r.errorf("number expected")
	}
	c := r.b[r.off]
	switch {
	case c < 0x80:
		r.off++
		return number{kind: KindUint, u: uint64(c)}, nil
	case c >= 0xe0:
		r.off++
		return number{kind: KindInt, i: int64(int8(c))}, nil
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2, 0xca:
		size = 4
	case 0xcf, 0xd3, 0xcb:
		size = 8
	default:
		return number{}, r.errorf("number expected")
	}
	r.off++
	v, err := r.uintN(size)
	if err != nil {
		return number{}, err
	}
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf:
		return number{kind: KindUint, u: v}, nil
	case 0xd0:
		return number{kind: KindInt, i: int64(int8(v))}, nil
	case 0xd1:
		return number{kind: KindInt, i: int64(int16(v))}, nil
	case 0xd2:
		return number{kind: KindInt, i: int64(int32(v))}, nil
	case 0xd3:
		return number{kind: KindInt, i: int64(v)}, nil
	case 0xca:
		return number{kind: KindFloat, f: float64(math.Float32frombits(uint32(v)))}, nil
	}
	return number{kind: KindFloat, f: math.Float64frombits(v)}, nil
}

// ReadInt reads an integer that fits an int64 (any integer form, or a float
// with an integral value, as a JavaScript number would be).
func (r *Reader) ReadInt() (int64, error) {
	n, err := r.readNumber()
	if err != nil {
		return 0, err
	}
	switch n.kind {
	case KindInt:
		return n.i, nil
	case KindUint:
		if n.u > math.MaxInt64 {
			return 0, r.errorf("integer %d out of range", n.u)
		}
		return int64(n.u), nil
	}
	if n.f != math.Trunc(n.f) || math.Abs(n.f) > 1<<53 {
		return 0, r.errorf("integer expected, got %v", n.f)
	}
	return int64(n.f), nil
}

// ext reads an extension header and its payload.
func (r *Reader) ext() (typ int8, data []byte, err error) {
	c := r.b[r.off]
	r.off++
	var n int
	switch c {
	case 0xd4:
		n = 1
	case 0xd5:
		n = 2
	case 0xd6:
		n = 4
	case 0xd7:
		n = 8
	case 0xd8:
		n = 16
	default:
		if n, err = r.lengthOf(c, 0xc7, 0xc8, 0xc9); err != nil {
			return 0, nil, err
		}
	}
	t, err := r.uintN(1)
	if err != nil {
		return 0, nil, err
	}
	data, err = r.take(n)
	return int8(t), data, err
}

// Skip reads past the next value, whatever it is.
func (r *Reader) Skip() error { return r.skip(0) }

func (r *Reader) skip(depth int) error {
	if depth > maxDepth {
		return r.errorf("nesting deeper than %d", maxDepth)
	}
	switch r.Peek() {
	case KindNil, KindBool:
		r.off++
		return nil
	case KindInt, KindUint, KindFloat:
		_, err := r.readNumber()
		return err
	case KindString:
		_, err := r.ReadStringBytes()
		return err
	case KindBinary:
		_, err := r.ReadBinary()
		return err
	case KindExt:
		_, _, err := r.ext()
		return err
	case KindArray:
		n, err := r.ReadArrayLen()
		for i := 0; i < n && err == nil; i++ {
			err = r.skip(depth + 1)
		}
		return err
	case KindMap:
		n, err := r.ReadMapLen()
		for i := 0; i < 2*n && err == nil; i++ {
			err = r.skip(depth + 1)
		}
		return err
	}
	return r.errorf("invalid byte 0x%02x", r.peekByte())
}

func (r *Reader) peekByte() byte {
	if r.off < len(r.b) {
		return r.b[r.off]
	}
	return 0
}
