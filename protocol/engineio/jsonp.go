package engineio

import (
	"bytes"
	"fmt"
	"strconv"
)

// JSONP polling (the j query parameter) is polling with a different
// envelope, in both revisions: the GET response is a script calling the
// client's callback, the POST body is an HTML form field. engine.io
// implements it in transports/polling-jsonp; engine.io-client 1.x-3.x send
// it (forceJSONP, or no XHR), and always with b64=1, so the payload inside
// is the text form (PayloadV4 or PayloadV3Text), never PayloadV3Binary.

// AppendJSONP appends the JSONP response for the text payload:
// ___eio[<index>]("<payload>"); with the payload written as JSON.stringify
// writes a string, plus U+2028 and U+2029 escaped as \u2028 and \u2029 (a
// script must be valid JavaScript, not just JSON). index must come from
// ParseJSONPIndex.
func AppendJSONP(dst []byte, index int, payload []byte) []byte {
	dst = append(dst, "___eio["...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, "]("...)
	dst = appendJSString(dst, payload)
	return append(dst, ");"...)
}

// ParseJSONPIndex validates the j query value: 1-9 ASCII digits, no sign,
// and no leading zero unless the value is "0". engine.io-client numbers its
// callbacks 0, 1, 2, ...; engine.io strips non-digits from j instead of
// rejecting it, but a script indexing ___eio[010] would call callback 8
// (legacy octal), so socketd refuses what it cannot echo faithfully.
func ParseJSONPIndex(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// DecodeJSONPBody takes a form-encoded POST body (d=<payload>,
// application/x-www-form-urlencoded) and returns the payload with the
// client's escaping undone exactly as engine.io's polling-jsonp onData
// does. The client (engine.io-client polling-jsonp doWrite) writes the
// payload into a textarea, first turning each backslash-n into backslash +
// newline and then each newline into backslash-n, because some browsers
// rewrite a bare newline in a form as CRLF. The server undoes it in two
// passes, reproduced here:
//
//  1. /(\\)?\\n/g: a backslash-n becomes a newline, unless it is preceded
//     by another backslash (then the match is kept unchanged);
//  2. /\\\\n/g: each remaining backslash-backslash-n becomes backslash-n.
//
// The round trip is lossy for a backslash directly before a newline (it
// comes back as backslash-n); Node has the same flaw, and Socket.IO's JSON
// never contains a raw newline.
//
// The form is parsed like Node's querystring.parse: pairs split on '&',
// name and value on the first '=', '+' is a space, %XX is a byte, and a
// '%' that does not start a valid escape stays literal. A missing d, or
// more than one (querystring then yields an array and engine.io ignores
// the body), is ErrBadJSONP. Unlike querystring, pairs past the 1000th are
// not ignored.
func DecodeJSONPBody(body []byte) ([]byte, error) {
	var value []byte
	found := false
	for len(body) > 0 {
		pair := body
		if i := bytes.IndexByte(body, '&'); i >= 0 {
			pair, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		name, val := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			name, val = pair[:i], pair[i+1:]
		}
		if !isFormName(name, 'd') {
			continue
		}
		if found {
			return nil, fmt.Errorf("%w: more than one d field", ErrBadJSONP)
		}
		found = true
		value = val
	}
	if !found {
		return nil, fmt.Errorf("%w: no d field", ErrBadJSONP)
	}
	return unescapeJSONP(formUnescape(make([]byte, 0, len(value)), value)), nil
}

// isFormName reports whether the form-encoded name decodes to the single
// ASCII character c ("d", or its escape "%64"), without allocating.
func isFormName(name []byte, c byte) bool {
	switch len(name) {
	case 1:
		return name[0] == c
	case 3:
		hi, ok1 := unhex(name[1])
		lo, ok2 := unhex(name[2])
		return name[0] == '%' && ok1 && ok2 && hi<<4|lo == c
	}
	return false
}

// formUnescape appends the form-decoded s to dst: '+' is a space, %XX a
// byte, and an invalid escape is kept literally (Node's
// querystring.unescapeBuffer).
func formUnescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 < len(s) {
				hi, ok1 := unhex(s[i+1])
				lo, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					dst = append(dst, hi<<4|lo)
					i += 2
					continue
				}
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescapeJSONP runs the two replacement passes of engine.io's
// polling-jsonp onData over b, in place.
func unescapeJSONP(b []byte) []byte {
	// Pass 1, /(\\)?\\n/g: the regexp only matches at a backslash, trying
	// backslash-backslash-n first (kept) and then backslash-n (newline).
	w := 0
	for r := 0; r < len(b); {
		switch {
		case b[r] == '\\' && r+2 < len(b) && b[r+1] == '\\' && b[r+2] == 'n':
			b[w], b[w+1], b[w+2] = '\\', '\\', 'n'
			w, r = w+3, r+3
		case b[r] == '\\' && r+1 < len(b) && b[r+1] == 'n':
			b[w] = '\n'
			w, r = w+1, r+2
		default:
			b[w] = b[r]
			w, r = w+1, r+1
		}
	}
	b = b[:w]
	// Pass 2, /\\\\n/g: backslash-backslash-n becomes backslash-n.
	w = 0
	for r := 0; r < len(b); {
		if b[r] == '\\' && r+2 < len(b) && b[r+1] == '\\' && b[r+2] == 'n' {
			b[w], b[w+1] = '\\', 'n'
			w, r = w+2, r+3
			continue
		}
		b[w] = b[r]
		w, r = w+1, r+1
	}
	return b[:w]
}
