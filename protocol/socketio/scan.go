package socketio

import (
	"encoding/json"
	"fmt"
	"slices"
)

// This file holds the JSON scanner. The package never unmarshals user
// arguments into maps: it only needs to know that a payload is well-formed
// JSON (RFC 8259, same acceptance as json.Valid), how deep it nests, where
// the elements of the top-level array start and end, and where the
// attachment placeholders are. One pass of this scanner answers all four
// without allocating, so arguments stay byte-exact json.RawMessage values.

// hardMaxDepth bounds recursion when the caller asks for no depth limit. It
// matches the limit encoding/json applies to itself.
const hardMaxDepth = 10000

// placeholderSpan is the position of one {"_placeholder":true,"num":N}
// object inside the scanned bytes, and the attachment it refers to.
type placeholderSpan struct {
	start, end int
	num        int
}

// scanner walks one JSON text. Build it with newScanner; attachments < 0
// turns placeholder checks off.
type scanner struct {
	data     []byte
	maxDepth int

	// attachments, when >= 0, turns on placeholder checks: every object
	// whose "_placeholder" member is true must have "num" be an integer
	// literal in [0, attachments). This is the CVE-2022-2421 fix from
	// socket.io-parser binary.ts, made stricter (no floats, no "-0").
	attachments int
	// record makes the scanner append each placeholder to spans.
	record bool
	spans  []placeholderSpan

	// firstStart and firstEnd locate the first element of the top-level
	// array (depth 1) once scanned (firstEnd > 0), so EVENT names are
	// checked without collecting all arguments.
	firstStart, firstEnd int
}

func newScanner(data []byte, maxDepth, attachments int) scanner {
	if maxDepth <= 0 || maxDepth > hardMaxDepth {
		maxDepth = hardMaxDepth
	}
	return scanner{data: data, maxDepth: maxDepth, attachments: attachments}
}

func (s *scanner) syntaxError(i int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, what, i)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) skipSpace(i int) int {
	for i < len(s.data) && isSpace(s.data[i]) {
		i++
	}
	return i
}

// whole validates that data is exactly one JSON value with optional
// surrounding whitespace, as json.Valid does.
func (s *scanner) whole() error {
	i := s.skipSpace(0)
	end, err := s.value(i, 0)
	if err != nil {
		return err
	}
	if end = s.skipSpace(end); end != len(s.data) {
		return s.syntaxError(end, "trailing data after top-level value")
	}
	return nil
}

// value scans the value starting at i (no leading whitespace) and returns the
// index just past it. depth is the number of containers already open.
func (s *scanner) value(i, depth int) (int, error) {
	if i >= len(s.data) {
		return i, s.syntaxError(i, "unexpected end of input")
	}
	switch c := s.data[i]; {
	case c == '{':
		return s.object(i, depth+1)
	case c == '[':
		return s.array(i, depth+1, nil)
	case c == '"':
		end, _, err := s.str(i)
		return end, err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	default:
		return i, s.syntaxError(i, fmt.Sprintf("invalid character %q looking for a value", c))
	}
}

func (s *scanner) literal(i int, lit string) (int, error) {
	if len(s.data)-i < len(lit) || string(s.data[i:i+len(lit)]) != lit {
		return i, s.syntaxError(i, "invalid literal")
	}
	return i + len(lit), nil
}

// str scans a string starting at the opening quote. escaped reports whether
// it contains a backslash, so callers know if the raw bytes equal the text.
// Like json.Valid it does not check UTF-8; it rejects raw control characters
// and malformed escapes.
func (s *scanner) str(i int) (end int, escaped bool, err error) {
	d := s.data
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c < 0x20:
			return j, false, s.syntaxError(j, "control character in string")
		case c == '\\':
			escaped = true
			j++
			if j >= len(d) {
				return j, false, s.syntaxError(j, "unexpected end of input in string")
			}
			switch d[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d)-j < 5 || !isHex(d[j+1]) || !isHex(d[j+2]) || !isHex(d[j+3]) || !isHex(d[j+4]) {
					return j, false, s.syntaxError(j, "invalid \\u escape")
				}
				j += 4
			default:
				return j, false, s.syntaxError(j, "invalid escape")
			}
		}
	}
	return len(d), false, s.syntaxError(len(d), "unterminated string")
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number(i int) (int, error) {
	d, j := s.data, i
	if j < len(d) && d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && '1' <= d[j] && d[j] <= '9':
		for j < len(d) && isDigit(d[j]) {
			j++
		}
	default:
		return j, s.syntaxError(j, "invalid number")
	}
	if j < len(d) && d[j] == '.' {
		j++
		if j >= len(d) || !isDigit(d[j]) {
			return j, s.syntaxError(j, "invalid number fraction")
		}
		for j < len(d) && isDigit(d[j]) {
			j++
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		if j >= len(d) || !isDigit(d[j]) {
			return j, s.syntaxError(j, "invalid number exponent")
		}
		for j < len(d) && isDigit(d[j]) {
			j++
		}
	}
	return j, nil
}

// array scans an array starting at '['. When elems is not nil, the span of
// every element (whitespace trimmed) is appended to *elems.
func (s *scanner) array(i, depth int, elems *[]json.RawMessage) (int, error) {
	if depth > s.maxDepth {
		return i, fmt.Errorf("%w: more than %d levels", ErrTooDeep, s.maxDepth)
	}
	j := s.skipSpace(i + 1)
	if j < len(s.data) && s.data[j] == ']' {
		return j + 1, nil
	}
	for {
		start := j
		end, err := s.value(j, depth)
		if err != nil {
			return end, err
		}
		if elems != nil {
			*elems = append(*elems, json.RawMessage(s.data[start:end:end]))
		}
		if depth == 1 && s.firstEnd == 0 {
			s.firstStart, s.firstEnd = start, end
		}
		j = s.skipSpace(end)
		if j >= len(s.data) {
			return j, s.syntaxError(j, "unexpected end of input in array")
		}
		switch s.data[j] {
		case ',':
			j = s.skipSpace(j + 1)
		case ']':
			return j + 1, nil
		default:
			return j, s.syntaxError(j, "expected ',' or ']' after array element")
		}
	}
}

// object scans an object starting at '{' and applies the placeholder rule of
// socket.io-parser binary.ts: an object whose "_placeholder" member is true
// (the last duplicate wins, as with JSON.parse) is a placeholder, whatever
// its other members.
func (s *scanner) object(i, depth int) (int, error) {
	if depth > s.maxDepth {
		return i, fmt.Errorf("%w: more than %d levels", ErrTooDeep, s.maxDepth)
	}
	isPlaceholder := false
	numStart, numEnd := -1, -1
	j := s.skipSpace(i + 1)
	if j < len(s.data) && s.data[j] == '}' {
		return j + 1, nil
	}
	for {
		if j >= len(s.data) || s.data[j] != '"' {
			return j, s.syntaxError(j, "expected string object key")
		}
		keyEnd, keyEscaped, err := s.str(j)
		if err != nil {
			return keyEnd, err
		}
		key := s.data[j:keyEnd]
		j = s.skipSpace(keyEnd)
		if j >= len(s.data) || s.data[j] != ':' {
			return j, s.syntaxError(j, "expected ':' after object key")
		}
		j = s.skipSpace(j + 1)
		valStart := j
		end, err := s.value(j, depth)
		if err != nil {
			return end, err
		}
		if s.attachments >= 0 {
			if isKey(key, keyEscaped, "_placeholder") {
				isPlaceholder = string(s.data[valStart:end]) == "true"
			} else if isKey(key, keyEscaped, "num") {
				numStart, numEnd = valStart, end
			}
		}
		j = s.skipSpace(end)
		if j >= len(s.data) {
			return j, s.syntaxError(j, "unexpected end of input in object")
		}
		switch s.data[j] {
		case ',':
			j = s.skipSpace(j + 1)
		case '}':
			if isPlaceholder {
				if err := s.placeholder(i, j+1, numStart, numEnd); err != nil {
					return j, err
				}
			}
			return j + 1, nil
		default:
			return j, s.syntaxError(j, "expected ',' or '}' after object member")
		}
	}
}

// isKey reports whether the quoted key is name. Escaped keys are decoded
// first ("\u005fplaceholder" is "_placeholder" to JSON.parse); they are
// rare, so that allocation does not matter.
func isKey(quoted []byte, escaped bool, name string) bool {
	if !escaped {
		return string(quoted[1:len(quoted)-1]) == name
	}
	var k string
	return json.Unmarshal(quoted, &k) == nil && k == name
}

// placeholder checks the "num" of a placeholder object at data[start:end].
func (s *scanner) placeholder(start, end, numStart, numEnd int) error {
	if numStart < 0 {
		return fmt.Errorf("%w: placeholder without num at offset %d", ErrInvalidPlaceholder, start)
	}
	lit := s.data[numStart:numEnd]
	n, ok := parseIndex(lit)
	if !ok || n >= s.attachments {
		return fmt.Errorf("%w: placeholder num %s with %d attachments", ErrInvalidPlaceholder, clip(lit), s.attachments)
	}
	if s.record {
		s.spans = append(s.spans, placeholderSpan{start: start, end: end, num: n})
	}
	return nil
}

// parseIndex accepts a canonical non-negative integer literal ("0", "17")
// small enough to be an attachment index. It rejects "1.0", "1e0", "-0" and
// strings, which Node accepts or (before 4.2.1) turned into functions.
func parseIndex(lit []byte) (int, bool) {
	if len(lit) == 0 || len(lit) > 9 || (lit[0] == '0' && len(lit) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range lit {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// outermostSpans sorts recorded spans by position and drops placeholders
// nested inside another placeholder: Node replaces the outer object whole
// and never looks inside it. Inner spans are recorded first (they close
// first), so sorting is needed.
func outermostSpans(spans []placeholderSpan) []placeholderSpan {
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(a, b placeholderSpan) int { return a.start - b.start })
	out := spans[:1]
	for _, sp := range spans[1:] {
		if sp.start >= out[len(out)-1].end {
			out = append(out, sp)
		}
	}
	return out
}
