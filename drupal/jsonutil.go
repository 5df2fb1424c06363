package drupal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The helpers here read JSON the way drupal-node.js (JavaScript) reads the
// objects Drupal (PHP) writes: loosely typed, and tested for truthiness.

// truthy reports whether a JSON value is truthy in JavaScript. A missing value
// (empty raw) is undefined, so falsy.
func truthy(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case 'n', 'f': // null, false
		return false
	case 't', '{', '[':
		return true
	case '"':
		return len(v) > 2
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return err == nil && f != 0
}

// jsonString returns raw as a string when it is a JSON string, or the text of a
// JSON number (JavaScript would coerce it the same way in a property lookup).
func jsonString(raw json.RawMessage) (string, bool) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return "", false
	}
	switch {
	case v[0] == '"':
		if s, ok := plainString(v); ok {
			return s, true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// jsonUID reads a Drupal uid: a non-negative integer, as a number or a string of
// digits (PHP's output for user objects varies). ok is false for anything else.
func jsonUID(raw json.RawMessage) (uid int64, ok bool) {
	s, isStr := jsonString(raw)
	if !isStr {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, true
	}
	// 5.0 or 5e0 from a loose encoder.
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f == float64(int64(f)) && f < 1<<53 {
		return int64(f), true
	}
	return 0, false
}

// objectFields splits a JSON object into its top-level members, in order. It
// fails when raw is not an object. Keys are unescaped as encoding/json does;
// values are raw JSON without their surrounding whitespace, sliced from one
// copy of raw (so they never alias the caller's buffer).
//
// Every authenticate event and every auth reply goes through here, so it
// validates once with json.Valid and then walks the members by hand: a
// json.Decoder token walk was 6 % of the server's CPU in a connect storm.
func objectFields(raw []byte) ([]field, error) {
	if !json.Valid(raw) {
		return nil, errBadJSON
	}
	i := skipSpace(raw, 0)
	if raw[i] != '{' {
		return nil, errNotObject
	}
	raw = bytes.Clone(raw)
	var out []field
	for i = skipSpace(raw, i+1); raw[i] != '}'; i = skipSpace(raw, i+1) {
		end := skipString(raw, i)
		key, err := unquote(raw[i:end])
		if err != nil {
			return nil, err
		}
		i = skipSpace(raw, skipSpace(raw, end)+1) // past the colon
		end = skipValue(raw, i)
		out = append(out, field{key, json.RawMessage(raw[i:end:end])})
		if i = skipSpace(raw, end); raw[i] == '}' {
			break
		}
		// raw[i] is the comma.
	}
	return out, nil
}

var errBadJSON = errors.New("invalid JSON")

// arrayValues returns the elements of the JSON array raw, without their
// surrounding whitespace; they alias raw. It fails when raw is not an array.
func arrayValues(raw []byte) ([]json.RawMessage, error) {
	if !json.Valid(raw) {
		return nil, errBadJSON
	}
	i := skipSpace(raw, 0)
	if raw[i] != '[' {
		return nil, errNotArray
	}
	var out []json.RawMessage
	for i = skipSpace(raw, i+1); raw[i] != ']'; i = skipSpace(raw, i+1) {
		end := skipValue(raw, i)
		out = append(out, json.RawMessage(raw[i:end:end]))
		if i = skipSpace(raw, end); raw[i] == ']' {
			break
		}
	}
	return out, nil
}

var errNotArray = errors.New("not a JSON array")

// plainString returns the JSON string literal q as a Go string when it needs
// no decoding (no escapes, control or non-ASCII bytes): the usual uid,
// channel name or token, taken without encoding/json.
func plainString(q []byte) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' || c == '"' || c < 0x20 || c >= utf8.RuneSelf {
			return "", false
		}
	}
	return string(q[1 : len(q)-1]), true
}

// The scanners below walk text json.Valid accepted, so they need not check
// its grammar; they stay within bounds regardless.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return min(i, len(b)-1)
}

// skipString returns the index just past the string that starts at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i // a number, true, false or null
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	return j
}

// unquote decodes a JSON string literal.
func unquote(q []byte) (string, error) {
	if s, ok := plainString(q); ok {
		return s, nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

var errNotObject = errors.New("not a JSON object")

type field struct {
	key   string
	value json.RawMessage
}

// fieldMap indexes fields by key; a repeated key keeps its last value, as
// JSON.parse and json_decode do.
func fieldMap(fs []field) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(fs))
	for _, f := range fs {
		m[f.key] = f.value
	}
	return m
}

// encodeFields writes fields back as a JSON object, in order.
func encodeFields(fs []field) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// setField returns the object raw with key set to value: in place when the key
// exists (every occurrence), appended otherwise. raw must be an object.
func setField(raw json.RawMessage, key string, value json.RawMessage) (json.RawMessage, error) {
	fs, err := objectFields(raw)
	if err != nil {
		return nil, err
	}
	found := false
	for i := range fs {
		if fs[i].key == key {
			fs[i].value = value
			found = true
		}
	}
	if !found {
		fs = append(fs, field{key, value})
	}
	return encodeFields(fs), nil
}

// trimJSON drops the whitespace around a JSON text.
func trimJSON(raw []byte) json.RawMessage {
	return json.RawMessage(bytes.TrimSpace(raw))
}

// isJSONContainer reports whether raw is a JSON object or array, what
// body-parser's strict mode accepts.
func isJSONContainer(raw []byte) bool {
	v := bytes.TrimSpace(raw)
	return len(v) > 0 && (v[0] == '{' || v[0] == '[') && json.Valid(v)
}

// jsonQuote encodes s as a JSON string.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// joinJSON builds a JSON object from literal members already encoded; used for
// the replies whose key order Drupal's tests compare byte for byte.
func joinJSON(members ...string) []byte {
	return []byte("{" + strings.Join(members, ",") + "}")
}
