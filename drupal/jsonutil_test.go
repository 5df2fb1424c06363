package drupal

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// decoderFields is objectFields as encoding/json's token walk would do it:
// the oracle the hand-written scanner is held to.
func decoderFields(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
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

var objectSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"authToken":"t","contentTokens":{"c":"x"}}`,
	`{"a" : [1, {"b": "}"}] , "c":"\"{" ,"d":null,"e":true,"f":-1.5e3}`,
	`{"k\u00e9y":"v","k\"q":"\\","\ud83d\ude00":{}}`, `{"a":1,"a":2}`,
	"{\"\xff\":\"\xfe\"}", `{"a":"b"} x`, `[1]`, `"s"`, `{"a"}`, `{"a":}`, `{`, ``, `  `,
	`{"a":1,}`, `{"nodejsValidAuthToken":true,"uid":"5","channels":["x","y"],"presenceUids":[1,2]}`,
}

func TestObjectFieldsMatchesDecoder(t *testing.T) {
	for _, in := range objectSeeds {
		checkObjectFields(t, []byte(in))
	}
}

func checkObjectFields(t *testing.T, in []byte) {
	t.Helper()
	orig := bytes.Clone(in)
	got, err := objectFields(in)
	want, werr := decoderFields(in)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", in, err, werr)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d fields, want %d", in, len(got), len(want))
	}
	for i := range got {
		if got[i].key != want[i].key || !bytes.Equal(got[i].value, want[i].value) {
			t.Fatalf("%q: field %d is %q=%s, want %q=%s", in, i, got[i].key, got[i].value, want[i].key, want[i].value)
		}
	}
	// The fields are a copy: the caller's buffer can be reused.
	for i := range in {
		in[i] = 'x'
	}
	for i := range got {
		if !bytes.Equal(got[i].value, want[i].value) {
			t.Fatalf("%q: field %d aliases the input", orig, i)
		}
	}
}

// checkArrayValues holds arrayValues to json.Unmarshal into []RawMessage.
func checkArrayValues(t *testing.T, in []byte) {
	t.Helper()
	got, err := arrayValues(in)
	var want []json.RawMessage
	werr := json.Unmarshal(in, &want)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", in, err, werr)
	}
	if err != nil {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d values, want %d", in, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%q: value %d is %s, want %s", in, i, got[i], want[i])
		}
	}
}

// checkJSONString holds jsonString's fast path for strings to encoding/json.
func checkJSONString(t *testing.T, in []byte) {
	t.Helper()
	v := bytes.TrimSpace(in)
	if len(v) == 0 || v[0] != '"' {
		return
	}
	got, ok := jsonString(in)
	var want string
	werr := json.Unmarshal(v, &want)
	if ok != (werr == nil) || got != want {
		t.Fatalf("%q: jsonString %q %v, encoding/json %q %v", in, got, ok, want, werr)
	}
}

var arraySeeds = []string{`[]`, ` [ ] `, `["a","b"]`, `[1,[2,{"x":"]"}],"\"",null]`, `[1,]`, `[`, `["a"] 1`, `{"a":1}`}

var stringSeeds = []string{`"abc"`, ` "a\"b" `, `"\u00e9"`, "\"\xff\"", `"a`, `"a"b"`, "\"tab\there\"", `"é"`}

func TestArrayValuesAndStringsMatchDecoder(t *testing.T) {
	for _, in := range append(arraySeeds, objectSeeds...) {
		checkArrayValues(t, []byte(in))
	}
	for _, in := range append(stringSeeds, objectSeeds...) {
		checkJSONString(t, []byte(in))
	}
}

func FuzzObjectFields(f *testing.F) {
	for _, s := range append(append(objectSeeds, arraySeeds...), stringSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkArrayValues(t, in)
		checkJSONString(t, in)
		checkObjectFields(t, in) // last: it overwrites in
	})
}

// FuzzParseAuthReply: any backend reply gives a reply or an error, never a
// panic, and an accepted reply's Raw is the JSON object it came from.
func FuzzParseAuthReply(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseAuthReply(body)
		if err != nil {
			return
		}
		if !json.Valid(r.Raw) || !bytes.Equal(r.Raw, bytes.TrimSpace(body)) {
			t.Fatalf("Raw %q from %q", r.Raw, body)
		}
	})
}

func BenchmarkObjectFields(b *testing.B) {
	in := []byte(`{"authToken":"0123456789abcdef0123456789abcdef","contentTokens":{"node_5":"abc"},"messageType":"authenticate","clientId":"AbCdEfGhIjKlMnOp"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := objectFields(in); err != nil {
			b.Fatal(err)
		}
	}
}
