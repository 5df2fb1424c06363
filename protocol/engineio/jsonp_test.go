package engineio

import (
	"bytes"
	"net/url"
	"regexp"
	"testing"
)

func TestAppendJSONP(t *testing.T) {
	// Expected outputs from Node 20: "___eio[3](" + JSON.stringify(payload)
	// with U+2028/U+2029 replaced + ");" (engine.io polling-jsonp doWrite).
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"plain", "4hello", `___eio[3]("4hello");`},
		{"quotes, backslashes and controls", "4\"quoted\" \\back\\ \n\r\t\b\f\x00\x1f\x7f", "___eio[3](\"4\\\"quoted\\\" \\\\back\\\\ \\n\\r\\t\\b\\f\\u0000\\u001f\x7f\");"},
		{"line and paragraph separators", "4\u2028\u2029", `___eio[3]("4\u2028\u2029");`},
		{"non-ascii and html stay literal", "4😀€<>&/", `___eio[3]("4😀€<>&/");`},
		{"v3 payload", "2:4€10:b4AQIDBA==", `___eio[3]("2:4€10:b4AQIDBA==");`},
		{"v4 separator", "4a\x1e4b", `___eio[3]("4a\u001e4b");`},
		{"empty", "", `___eio[3]("");`},
		// Not producible from a JavaScript string; written as the U+FFFD
		// characters a browser would decode, one per maximal subpart.
		{"invalid utf-8", "4\xe2\x82A\xff", "___eio[3](\"4\uFFFDA\uFFFD\");"},
	}
	for _, tt := range tests {
		if got := AppendJSONP(nil, 3, []byte(tt.payload)); string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	if got := AppendJSONP([]byte("x"), 123456789, []byte("6")); string(got) != `x___eio[123456789]("6");` {
		t.Errorf("index: %s", got)
	}
}

func TestParseJSONPIndex(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"42", 42, true},
		{"999999999", 999999999, true},
		{"1000000000", 0, false}, // 10 digits
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1a", 0, false},
		{" 1", 0, false},
		{"01", 0, false},
		{"00", 0, false},
		{"٣", 0, false}, // a non-ASCII digit
	}
	for _, tt := range tests {
		got, ok := ParseJSONPIndex(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseJSONPIndex(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeJSONPBody(t *testing.T) {
	// Expected outputs from Node 20 running engine.io's polling-jsonp onData
	// (querystring.parse, then the two regexp replacements).
	tests := []struct {
		name    string
		wire    string
		want    string
		wantErr error
	}{
		{"plain", "d=4hello", "4hello", nil},
		{"plus is space", "d=4a+b", "4a b", nil},
		{"bad escapes stay literal", "d=4%ZZ%4", "4%ZZ%4", nil},
		{"other fields ignored", "x=1&d=4hi&y", "4hi", nil},
		{"escaped name", "%64=4hi", "4hi", nil},
		{"empty pairs", "&&d=4&&", "4", nil},
		{"equals in value", "d=4=5", "4=5", nil},
		{"utf-8 escapes", "d=4%E2%82%AC", "4€", nil},
		{"d without value", "d", "", nil},
		// The client turns a newline into backslash-n and a backslash-n into
		// backslash-backslash-n; the server undoes both.
		{"escaped newline", `d=4a%5Cnb`, "4a\nb", nil},
		{"escaped backslash-n", `d=4a%5C%5Cnb`, `4a\nb`, nil},
		{"escaped backslash-backslash-n", `d=4a%5C%5C%5Cnb`, `4a\\nb`, nil},
		{"four backslashes then n", `d=%5C%5C%5C%5Cn`, `\\\n`, nil},
		{"backslash not before n", `d=4%5Cx%5C`, `4\x\`, nil},
		{"raw newline kept", "d=4a%0Ab", "4a\nb", nil},
		{"socket.io json", `d=42%5B%22m%22%2C%22a%5C%5Cnb%22%5D`, `42["m","a\nb"]`, nil},

		{"no d", "x=1", "", ErrBadJSONP},
		{"empty body", "", "", ErrBadJSONP},
		{"upper-case D", "D=4", "", ErrBadJSONP},
		{"two d fields", "d=a&d=b", "", ErrBadJSONP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeJSONPBody([]byte(tt.wire))
			if checkErr(t, err, tt.wantErr) && string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// clientEscapeJSONP is what engine.io-client's polling-jsonp doWrite does
// before it puts the payload into the form.
func clientEscapeJSONP(s []byte) []byte {
	s = bytes.ReplaceAll(s, []byte(`\n`), []byte("\\\n"))
	return bytes.ReplaceAll(s, []byte("\n"), []byte(`\n`))
}

// referenceUnescapeJSONP applies engine.io's two regexps literally (RE2's
// leftmost-first matching picks the same matches as JavaScript here).
func referenceUnescapeJSONP(s []byte) []byte {
	s = regexp.MustCompile(`(\\)?\\n`).ReplaceAllFunc(s, func(m []byte) []byte {
		if len(m) == 3 {
			return m
		}
		return []byte("\n")
	})
	return regexp.MustCompile(`\\\\n`).ReplaceAll(s, []byte(`\n`))
}

func TestDecodeJSONPBodyRoundTrip(t *testing.T) {
	for _, payload := range []string{
		"4a\nb", `4a\nb`, `4a\\nb`, `4a\\\nb`, "4\n\n\\n\\\\n", `42["m","line1\nline2\\n"]`, "4😀 +%&=",
	} {
		body := "d=" + url.QueryEscape(string(clientEscapeJSONP([]byte(payload))))
		got, err := DecodeJSONPBody([]byte(body))
		if err != nil || string(got) != payload {
			t.Errorf("payload %q: body %q decoded to %q, %v", payload, body, got, err)
		}
	}
	// Lossy, as in Node: a backslash right before a newline.
	got, _ := DecodeJSONPBody([]byte("d=" + url.QueryEscape(string(clientEscapeJSONP([]byte("4a\\\nb"))))))
	if string(got) != `4a\nb` {
		t.Errorf("backslash-newline: %q", got)
	}
}
