package engineio

import (
	"bytes"
	"net/url"
	"testing"
)

// FuzzDecodePayload feeds arbitrary bodies to all three payload formats.
// Whatever decodes must survive encode -> decode unchanged, and encoding
// must then be stable byte for byte.
func FuzzDecodePayload(f *testing.F) {
	for _, tt := range payloadRoundTrips {
		f.Add(byte(tt.format), []byte(tt.wire))
	}
	for _, s := range []string{
		"4a\x1e\x1e4b", "b!!", "0:", "1:b", "05:4hell", "2:4😀", "4:4\xe2\x82A\xc0", "99999999999999999999:4",
		"\x00\x00\x01\xff2", "\x01\x05\xff\x04\x01", "\x00\x03\xff4\xed\xa0",
	} {
		for format := byte(0); format < 3; format++ {
			f.Add(format, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, format byte, body []byte) {
		pf := PayloadFormat(format % 3)
		orig := bytes.Clone(body)
		packets, err := DecodePayload(pf, body)
		if !bytes.Equal(body, orig) {
			t.Fatal("DecodePayload modified its input")
		}
		if err != nil {
			if packets != nil {
				t.Fatalf("packets with error %v", err)
			}
			return
		}
		if len(packets) == 0 {
			t.Fatal("no packets and no error")
		}
		enc := AppendPayload(nil, pf, packets)
		again, err := DecodePayload(pf, enc)
		if err != nil {
			t.Fatalf("re-decoding %q (from %q): %v", enc, body, err)
		}
		if !samePackets(packets, again) {
			t.Fatalf("round trip changed the packets:\n%s\n%s", fmtPackets(packets), fmtPackets(again))
		}
		if enc2 := AppendPayload(nil, pf, again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %q vs %q", enc, enc2)
		}
		if pf == PayloadV3Text {
			if n, ok := utf16Prefix(body, UTF16Len(body)); !ok || n != len(body) {
				t.Fatalf("utf16Prefix(body, UTF16Len(body)) = %d, %v; len %d", n, ok, len(body))
			}
		}
	})
}

// FuzzDecodeWebSocket checks that any frame either fails or round-trips
// through AppendWebSocket.
func FuzzDecodeWebSocket(f *testing.F) {
	for _, s := range []string{"4hello", "2probe", "3probe", "5", "6", "", "7", "bAQIDBA==", "b4AQIDBA==", "b", "b4", "\x04\x01\x02"} {
		f.Add(byte(3), []byte(s), false)
		f.Add(byte(4), []byte(s), false)
		f.Add(byte(3), []byte(s), true)
		f.Add(byte(4), []byte(s), true)
	}
	f.Fuzz(func(t *testing.T, rev byte, frame []byte, binaryFrame bool) {
		r := V4
		if rev%2 == 1 {
			r = V3
		}
		p, err := DecodeWebSocket(r, frame, binaryFrame)
		if err != nil {
			return
		}
		if !p.Type.Valid() || p.Binary && p.Type != Message {
			t.Fatalf("decoded an impossible packet %#v", p)
		}
		out, isBin := AppendWebSocket(nil, r, p)
		if isBin != p.Binary {
			t.Fatalf("binary packet %#v sent in a text frame", p)
		}
		again, err := DecodeWebSocket(r, out, isBin)
		if err != nil || !samePacket(p, again) {
			t.Fatalf("round trip: %#v -> %q -> %#v, %v", p, out, again, err)
		}
		if !p.Binary && !bytes.Equal(out, frame) {
			t.Fatalf("text frame %q re-encoded as %q", frame, out)
		}
	})
}

// FuzzDecodeJSONPBody checks that arbitrary bodies do not panic, compares
// the unescaping with engine.io's regexps run by Go's regexp package, and
// round-trips payloads through the client's escaping.
func FuzzDecodeJSONPBody(f *testing.F) {
	for _, s := range []string{
		"d=4hello", "d=4a+b", "d=4%ZZ%4", "x=1&d=4hi&y", "%64=4hi", "d", "d=a&d=b", "",
		`d=4a%5Cnb`, `d=4a%5C%5C%5Cnb`, "4a\nb", `4a\\\nb`, `\\\\n`, "d=%",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		_, _ = DecodeJSONPBody(data)
		if !bytes.Equal(data, orig) {
			t.Fatal("DecodeJSONPBody modified its input")
		}

		// data as the already form-decoded d value.
		got, err := DecodeJSONPBody([]byte("d=" + url.QueryEscape(string(data))))
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceUnescapeJSONP(bytes.Clone(data)); !bytes.Equal(got, want) {
			t.Fatalf("unescape(%q) = %q, reference %q", data, got, want)
		}

		// data as a payload the client escapes; only a backslash right
		// before a newline is lost (in Node too).
		if bytes.Contains(data, []byte("\\\n")) {
			return
		}
		got, err = DecodeJSONPBody([]byte("d=" + url.QueryEscape(string(clientEscapeJSONP(data)))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %q: %q, %v", data, got, err)
		}
	})
}
