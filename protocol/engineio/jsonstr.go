package engineio

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// appendJSString appends s as a JavaScript string literal in double quotes,
// escaped as JSON.stringify escapes a string (", \, the short escapes \b
// \t \n \f \r, other control characters as \u00XX, everything else
// literal) and then with U+2028 and U+2029 escaped, because those two are
// valid in JSON but end a line in a pre-ES2019 script (engine.io
// polling-jsonp doWrite). Ill-formed UTF-8 is written as one literal U+FFFD
// per maximal subpart, the string a JavaScript runtime would have decoded,
// so the output is valid UTF-8 and UTF16Len of s still matches the
// literal's length in JavaScript.
func appendJSString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending literal output
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendShortEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i += maximalSubpart(s[i:])
			start = i
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xF])
			i += size
			start = i
		default:
			i += size
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendGoJSONString appends s as a JSON string escaped exactly as
// encoding/json's Marshal escapes it (HTML-safe: <, > and & as \u003c...;
// U+2028/U+2029 escaped; each invalid UTF-8 byte as \ufffd), so the
// handshake is byte-identical to what a json.Marshal based server sends.
func appendGoJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			if c == '<' || c == '>' || c == '&' {
				dst = append(dst, `\u00`...)
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
			} else {
				dst = appendShortEscape(dst, c)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			if size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendShortEscape escapes the ASCII character c, which is a control
// character, '"' or '\\', the way both JSON.stringify and encoding/json do.
func appendShortEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
