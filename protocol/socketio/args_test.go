package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func rawStrings(args []json.RawMessage) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func TestSplitEvent(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		wantName string
		wantArgs []string
		wantErr  error
	}{
		{name: "typical", data: `["chat",{"user":"a","text":"hello"}]`, wantName: "chat", wantArgs: []string{`{"user":"a","text":"hello"}`}},
		{name: "no args", data: `["ping"]`, wantName: "ping", wantArgs: []string{}},
		{name: "args byte exact", data: `["m",1.50,1e3,{"b":1,"a":2},"\u00e9",null]`, wantName: "m",
			wantArgs: []string{`1.50`, `1e3`, `{"b":1,"a":2}`, `"\u00e9"`, `null`}},
		{name: "whitespace trimmed", data: " [ \"m\" , 1 ,\n[ 2 ] ] ", wantName: "m", wantArgs: []string{`1`, `[ 2 ]`}},
		{name: "escaped name", data: `["a\"b\u00e9"]`, wantName: "a\"bé", wantArgs: []string{}},
		{name: "numeric name", data: `[42,"x"]`, wantName: "42", wantArgs: []string{`"x"`}},
		{name: "empty array", data: `[]`, wantErr: ErrInvalidPayload},
		{name: "object", data: `{}`, wantErr: ErrInvalidPayload},
		{name: "object name", data: `[{}]`, wantErr: ErrInvalidPayload},
		{name: "invalid JSON", data: `["x",}`, wantErr: ErrInvalidJSON},
		{name: "trailing data", data: `["x"]]`, wantErr: ErrInvalidJSON},
		{name: "empty", data: ``, wantErr: ErrInvalidJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, args, err := SplitEvent(json.RawMessage(tc.data))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.wantName || strings.Join(rawStrings(args), "|") != strings.Join(tc.wantArgs, "|") || len(args) != len(tc.wantArgs) {
				t.Fatalf("got %q %q, want %q %q", name, rawStrings(args), tc.wantName, tc.wantArgs)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	args, err := SplitArray(json.RawMessage(`[]`))
	if err != nil || args == nil || len(args) != 0 {
		t.Fatalf("empty array: %v %v", args, err)
	}
	if _, err := SplitArray(json.RawMessage(`"x"`)); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("err = %v", err)
	}
	args, err = SplitArray(json.RawMessage(`[1,"2",{"3":[true]}]`))
	if err != nil || strings.Join(rawStrings(args), "|") != `1|"2"|{"3":[true]}` {
		t.Fatalf("got %q %v", rawStrings(args), err)
	}
}

func TestAppendEventData(t *testing.T) {
	got := AppendEventData(nil, "chat", json.RawMessage(`{"user":"a","text":"hello"}`), nil, json.RawMessage(`1.50`))
	if want := `["chat",{"user":"a","text":"hello"},null,1.50]`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := AppendEventData([]byte("x"), "a\"b"); string(got) != `x["a\"b"]` {
		t.Fatalf("got %s", got)
	}
	if got := AppendArrayData(nil); string(got) != `[]` {
		t.Fatalf("got %s", got)
	}
	if got := AppendArrayData(nil, json.RawMessage(`1`), json.RawMessage(`"2"`)); string(got) != `[1,"2"]` {
		t.Fatalf("got %s", got)
	}
}

func TestPlaceholderForm(t *testing.T) {
	// The conformance suite compares these textually.
	if got := string(Placeholder(0)); got != `{"_placeholder":true,"num":0}` {
		t.Fatalf("got %s", got)
	}
	if got := string(AppendPlaceholder([]byte("["), 12)); got != `[{"_placeholder":true,"num":12}` {
		t.Fatalf("got %s", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	// Expected values are what JavaScript's JSON.stringify produces.
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"", `""`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"<a&b>", `"<a&b>"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"é😀", `"é😀"`},
		{"a\xffb", `"a\ufffdb"`},
		{"/", `"/"`},
	}
	for _, tc := range tests {
		if got := string(AppendJSONString(nil, tc.in)); got != tc.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// Every valid UTF-8 string round-trips through encoding/json.
	for _, s := range []string{"x\u0000y", "tab\there", "\"\\\"", "日本語", "\u007f\u0080"} {
		var back string
		if err := json.Unmarshal(AppendJSONString(nil, s), &back); err != nil || back != s || !utf8.ValidString(s) {
			t.Errorf("%q: got %q, %v", s, back, err)
		}
	}
}

type upload struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

func TestArgs(t *testing.T) {
	var d Decoder
	p, err := decodeMessages(&d, `52-["upload",{"name":"a.bin","data":`+ph(1)+`},`+ph(0)+`,"text",`+ph(0)+`]`,
		[][]byte{{1, 2, 3}, {4, 5}})
	if err != nil {
		t.Fatal(err)
	}
	name, args, err := p.Event()
	if err != nil || name != "upload" || args.Len() != 4 {
		t.Fatalf("Event() = %q, %d args, %v", name, args.Len(), err)
	}

	var u upload
	if err := args.Arg(0, &u); err != nil || u.Name != "a.bin" || !bytes.Equal(u.Data, []byte{4, 5}) {
		t.Fatalf("Arg(0) = %+v, %v", u, err)
	}
	var b []byte
	if err := args.Arg(1, &b); err != nil || !bytes.Equal(b, []byte{1, 2, 3}) || &b[0] != &p.Attachments[0][0] {
		t.Fatalf("Arg(1) = %v, %v (want the attachment itself, not a copy)", b, err)
	}
	var s string
	if err := args.Arg(2, &s); err != nil || s != "text" {
		t.Fatalf("Arg(2) = %q, %v", s, err)
	}
	var anyv any
	if err := args.Arg(3, &anyv); err != nil || anyv != "AQID" {
		t.Fatalf("Arg(3) into any = %#v, %v (want base64)", anyv, err)
	}
	if err := args.Arg(4, &s); !errors.Is(err, ErrArgIndex) {
		t.Fatalf("Arg(4): %v", err)
	}
	if err := args.Arg(-1, &s); !errors.Is(err, ErrArgIndex) {
		t.Fatalf("Arg(-1): %v", err)
	}
	if got, ok := args.Binary(1); !ok || !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("Binary(1) = %v, %v", got, ok)
	}
	for _, i := range []int{0, 2, 9} {
		if _, ok := args.Binary(i); ok {
			t.Fatalf("Binary(%d) reported an attachment", i)
		}
	}
	// The raw arguments are still byte-exact, with placeholders in place.
	if got := string(args.Values[0]); got != `{"name":"a.bin","data":`+ph(1)+`}` {
		t.Fatalf("Values[0] = %s", got)
	}
}

func TestArgsPlainEventKeepsPlaceholderObjects(t *testing.T) {
	// Node reconstructs only binary packets; in a plain EVENT a
	// placeholder-shaped object is user data.
	var d Decoder
	p, err := decodeMessages(&d, `2["x",{"_placeholder":true,"num":0}]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, args, err := p.Event()
	if err != nil || args.Attachments != nil {
		t.Fatalf("args %+v, %v", args, err)
	}
	var m map[string]any
	if err := args.Arg(0, &m); err != nil || m["_placeholder"] != true {
		t.Fatalf("Arg(0) = %v, %v", m, err)
	}
	if _, ok := args.Binary(0); ok {
		t.Fatal("Binary reported an attachment in a plain event")
	}
}

func TestArgsNestedPlaceholderInsidePlaceholder(t *testing.T) {
	// Node replaces the outer object whole and never looks inside it.
	args := Args{
		Values:      []json.RawMessage{json.RawMessage(`{"_placeholder":true,"num":0,"x":` + ph(1) + `}`)},
		Attachments: [][]byte{{7}, {8}},
	}
	var b []byte
	if err := args.Arg(0, &b); err != nil || !bytes.Equal(b, []byte{7}) {
		t.Fatalf("got %v, %v", b, err)
	}
	var v struct{ A, B []byte }
	args.Values[0] = json.RawMessage(`{"A":` + ph(1) + `,"B":` + ph(0) + `}`)
	if err := args.Arg(0, &v); err != nil || !bytes.Equal(v.A, []byte{8}) || !bytes.Equal(v.B, []byte{7}) {
		t.Fatalf("got %+v, %v", v, err)
	}
}

func TestArgsBadPlaceholderInBuiltArgs(t *testing.T) {
	args := Args{Values: []json.RawMessage{json.RawMessage(`[` + ph(3) + `]`)}, Attachments: [][]byte{{1}}}
	var v any
	if err := args.Arg(0, &v); !errors.Is(err, ErrInvalidPlaceholder) {
		t.Fatalf("err = %v", err)
	}
	// One big attachment referenced many times must not be copied many times.
	many := "[" + strings.Repeat(ph(0)+",", 999) + ph(0) + "]"
	args = Args{Values: []json.RawMessage{json.RawMessage(many)}, Attachments: [][]byte{make([]byte, 1<<20)}}
	if err := args.Arg(0, &v); !errors.Is(err, ErrInvalidPlaceholder) {
		t.Fatalf("amplification: err = %v", err)
	}
	// Small ones referenced twice within the total are fine.
	args = Args{Values: []json.RawMessage{json.RawMessage(`[` + ph(0) + `,` + ph(0) + `]`)}, Attachments: [][]byte{{}, {1, 2}}}
	if err := args.Arg(0, &v); err != nil {
		t.Fatalf("within total: %v", err)
	}
	args = Args{Values: []json.RawMessage{nil}}
	if err := args.Arg(0, &v); err != nil || v != nil {
		t.Fatalf("nil arg: %v %v", v, err)
	}
}

// TestConformanceEcho plays the conformance server's handlers: "message" is
// answered with "message-back" and the same arguments, "message-with-ack"
// with an ack of the same arguments, binary included.
func TestConformanceEcho(t *testing.T) {
	tests := []struct {
		name, in, out string
	}{
		{"message", `2["message",1,"2",{"3":[true]}]`, `2["message-back",1,"2",{"3":[true]}]`},
		{"message with ack", `2456["message-with-ack",1,"2",{"3":[true]}]`, `3456[1,"2",{"3":[true]}]`},
		{"binary message", `52-["message",` + ph(0) + `,` + ph(1) + `]`, `52-["message-back",` + ph(0) + `,` + ph(1) + `]`},
		{"binary message with ack", `52-789["message-with-ack",` + ph(0) + `,` + ph(1) + `]`, `62-789[` + ph(0) + `,` + ph(1) + `]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var atts [][]byte
			if tc.in[0] == '5' {
				atts = [][]byte{{1, 2, 3}, {4, 5, 6}}
			}
			var d Decoder
			p, err := decodeMessages(&d, tc.in, atts)
			if err != nil {
				t.Fatal(err)
			}
			name, args, err := p.Event()
			if err != nil {
				t.Fatal(err)
			}
			var reply Packet
			if name == "message-with-ack" {
				reply = NewAck(p.Namespace, p.ID, args)
			} else {
				reply = NewEvent(p.Namespace, name+"-back", args)
			}
			h, out, err := Encode(&reply)
			if err != nil || string(h) != tc.out {
				t.Fatalf("got %q, %v; want %q", h, err, tc.out)
			}
			if len(out) != len(atts) {
				t.Fatalf("%d attachments, want %d", len(out), len(atts))
			}
		})
	}
}

func TestBuildBinaryArgs(t *testing.T) {
	var args Args
	args.AddJSON(json.RawMessage(`"report"`))
	args.AddBinary([]byte{1, 2})
	obj := append([]byte(`{"thumb":`), args.Attach([]byte{3})...)
	args.AddJSON(append(obj, '}'))
	p := NewEvent("/admin", "file", args)
	p.ID, p.HasID = 7, true
	h, atts, err := Encode(&p)
	want := `52-/admin,7["file","report",` + ph(0) + `,{"thumb":` + ph(1) + `}]`
	if err != nil || string(h) != want || len(atts) != 2 {
		t.Fatalf("got %q %d, %v; want %q", h, len(atts), err, want)
	}
	ack := NewAck("/", 3, Args{})
	if h, _, err := Encode(&ack); err != nil || string(h) != `33[]` {
		t.Fatalf("empty ack: %q %v", h, err)
	}
	if _, _, err := (&Packet{Type: Disconnect}).Event(); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("Event on DISCONNECT: %v", err)
	}
	if _, err := (&Packet{Type: Event}).AckArgs(); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("AckArgs on EVENT: %v", err)
	}
	bin := Packet{Type: BinaryAck, ID: 1, HasID: true, Data: []byte(`[` + ph(0) + `]`), Attachments: [][]byte{{9}}}
	if a, err := bin.AckArgs(); err != nil || len(a.Attachments) != 1 {
		t.Fatalf("AckArgs: %+v %v", a, err)
	}
}

func TestIsReservedEvent(t *testing.T) {
	for _, n := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if !IsReservedEvent(n) {
			t.Errorf("%s not reserved", n)
		}
	}
	for _, n := range []string{"error", "message", "Connect", ""} {
		if IsReservedEvent(n) {
			t.Errorf("%q reserved", n)
		}
	}
}
