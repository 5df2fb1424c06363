package drupal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
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
// fails when raw is not an object.
func objectFields(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return out, nil
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
