package engineio

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestUTF16Len(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "hello", 5},
		{"euro is one unit", "€", 1},
		{"readme packet", "4€", 2},
		{"emoji is two units", "😀", 2},
		{"mixed", "a€😀é\U0010FFFF", 1 + 1 + 2 + 1 + 2},
		{"nul and del", "\x00\x7f", 2},
		{"literal U+FFFD", "\uFFFD", 1},
		// Ill-formed UTF-8: one U+FFFD per maximal subpart, as Node's
		// Buffer.toString gives (checked with Node 20:
		// Buffer.from("e28241f09f98eda080c0af","hex").toString().length == 8).
		{"truncated 3-byte then ascii", "\xe2\x82A", 2},
		{"truncated 4-byte", "\xf0\x9f\x98", 1},
		{"surrogate", "\xed\xa0\x80", 3},
		{"overlong slash", "\xc0\xaf", 2},
		{"node sample", "\xe2\x82A\xf0\x9f\x98\xed\xa0\x80\xc0\xaf", 8},
		{"stray continuations", "\x80\x80", 2},
		{"lead at end", "a\xe2", 2},
		{"overlong 3-byte", "\xe0\x80\x80", 3},
		{"above U+10FFFF", "\xf4\x90\x80\x80", 4},
		{"F5 never starts", "\xf5\x80", 2},
		{"E0 A0 then break", "\xe0\xa0", 1},
		{"F4 8F BF then break", "\xf4\x8f\xbfA", 2},
	}
	for _, tt := range tests {
		if got := UTF16Len([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: UTF16Len(%q) = %d, want %d", tt.name, tt.in, got, tt.want)
		}
	}
}

// For valid UTF-8 UTF16Len is the length of the UTF-16 encoding.
func TestUTF16LenValid(t *testing.T) {
	s := "héllo wörld €100 😀🎉 \u2028 日本語 \U0001F600"
	for i := 0; i <= len(s); i++ {
		if !utf8.ValidString(s[:i]) {
			continue
		}
		if got, want := UTF16Len([]byte(s[:i])), len(utf16.Encode([]rune(s[:i]))); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", s[:i], got, want)
		}
	}
}

func TestUTF16Prefix(t *testing.T) {
	tests := []struct {
		in    string
		units int
		want  int
		ok    bool
	}{
		{"hello", 0, 0, true},
		{"hello", 3, 3, true},
		{"hello", 5, 5, true},
		{"hello", 6, 0, false},
		{"€x", 1, 3, true},
		{"😀x", 2, 4, true},
		{"😀x", 1, 0, false}, // half a surrogate pair
		{"😀x", 3, 5, true},
		{"\xe2\x82Ab", 1, 2, true},
		{"\xe2\x82Ab", 2, 3, true},
	}
	for _, tt := range tests {
		got, ok := utf16Prefix([]byte(tt.in), tt.units)
		if got != tt.want || ok != tt.ok {
			t.Errorf("utf16Prefix(%q, %d) = %d, %v; want %d, %v", tt.in, tt.units, got, ok, tt.want, tt.ok)
		}
	}
}

// UTF16Len and utf16Prefix agree on every split of a messy string.
func TestUTF16PrefixAgrees(t *testing.T) {
	s := []byte(strings.Repeat("a€😀\xe2\x82\xc0\xaf\xf0\x9f", 3))
	total := UTF16Len(s)
	for u := 0; u <= total; u++ {
		n, ok := utf16Prefix(s, u)
		if !ok {
			continue // u falls inside a surrogate pair
		}
		if got := UTF16Len(s[:n]); got != u {
			t.Fatalf("utf16Prefix(s, %d) = %d bytes, which hold %d units", u, n, got)
		}
	}
	if n, ok := utf16Prefix(s, total); !ok || n != len(s) {
		t.Fatalf("utf16Prefix(s, total) = %d, %v", n, ok)
	}
}
