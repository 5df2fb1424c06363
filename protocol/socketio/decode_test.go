package socketio

import (
	"errors"
	"strings"
	"testing"
)

// badCase is one malformed input. Each must fail with wantErr and leave the
// Decoder reusable. Most rows come from shared/docs/bad-inputs.md (the
// Socket.IO CVEs) and the conformance suite's "malformed packets" tests.
type badCase struct {
	name        string
	rev         Revision
	wire        string
	attachments [][]byte
	wantErr     error
}

func placeholderWith(num string) string { return `{"_placeholder":true,"num":` + num + `}` }

var badCases = []badCase{
	// Unknown type. The suite sends "4abc" (engine "4" + "abc").
	{name: "empty message", wire: ``, wantErr: ErrUnknownType},
	{name: "suite unknown type abc", wire: `abc`, wantErr: ErrUnknownType},
	{name: "type 7", wire: `7["x"]`, wantErr: ErrUnknownType},
	{name: "type 9", wire: `9`, wantErr: ErrUnknownType},
	{name: "type is not a digit", wire: `-1`, wantErr: ErrUnknownType},

	// Attachment count (CVE-2020-36049 and Node's "Illegal attachments").
	{name: "binary without count", wire: `5["x"]`, wantErr: ErrInvalidAttachments},
	{name: "binary empty count", wire: `5-["x"]`, wantErr: ErrInvalidAttachments},
	{name: "binary negative count", wire: `5-1-["x"]`, wantErr: ErrInvalidAttachments},
	{name: "binary count not integer", wire: `51.5-["x"]`, wantErr: ErrInvalidAttachments},
	{name: "binary count letters", wire: `5a-["x"]`, wantErr: ErrInvalidAttachments},
	{name: "binary count exponent", wire: `51e1-["x"]`, wantErr: ErrInvalidAttachments},
	{name: "binary count missing dash", wire: `51["x",` + ph(0) + `]`, wantErr: ErrInvalidAttachments},
	{name: "binary count at end", wire: `51`, wantErr: ErrInvalidAttachments},
	{name: "binary ack count missing dash", wire: `61`, wantErr: ErrInvalidAttachments},
	{name: "too many attachments", wire: `511-["x"]`, wantErr: ErrTooManyAttachments},
	{name: "huge attachment count", wire: `5999999999999999999999999999-["x"]`, wantErr: ErrTooManyAttachments},

	// Namespace.
	{name: "namespace without slash", wire: `2admin,["x"]`, wantErr: ErrInvalidNamespace},
	{name: "connect namespace without slash", wire: `0admin,`, wantErr: ErrInvalidNamespace},
	{name: "namespace without slash v4", rev: V4, wire: `0admin?token=1,`, wantErr: ErrInvalidNamespace},

	// Ack id. The suite sends "42abc[...]".
	{name: "suite ack id letters", wire: `2abc["message-with-ack",1]`, wantErr: ErrInvalidAckID},
	{name: "ack id float", wire: `212.5["x"]`, wantErr: ErrInvalidAckID},
	{name: "ack id negative", wire: `2-1["x"]`, wantErr: ErrInvalidAckID},
	{name: "ack id exponent", wire: `21e3["x"]`, wantErr: ErrInvalidAckID},
	{name: "ack id overflow", wire: `218446744073709551616["x"]`, wantErr: ErrInvalidAckID},
	{name: "ack id after namespace letters", wire: `2/admin,x1["x"]`, wantErr: ErrInvalidAckID},
	{name: "ack id with space", wire: `2 1["x"]`, wantErr: ErrInvalidAckID},
	{name: "ack without id", wire: `3["x"]`, wantErr: ErrInvalidAckID},
	{name: "binary ack without id", wire: `61-[` + ph(0) + `]`, wantErr: ErrInvalidAckID},

	// Payload shapes (isPayloadValid; CVE-2023-32695). The suite sends "42{}".
	{name: "suite event data object", wire: `2{}`, wantErr: ErrInvalidPayload},
	{name: "event data string", wire: `2"foo"`, wantErr: ErrInvalidPayload},
	{name: "event data true", wire: `2true`, wantErr: ErrInvalidPayload},
	{name: "event data null", wire: `2null`, wantErr: ErrInvalidPayload},
	{name: "event without payload", wire: `2`, wantErr: ErrInvalidPayload},
	{name: "event with id without payload", wire: `21`, wantErr: ErrInvalidPayload},
	{name: "event namespace swallows payload", wire: `2/admin["x"]`, wantErr: ErrInvalidPayload},
	{name: "event empty array", wire: `2[]`, wantErr: ErrInvalidPayload},
	{name: "event name object (CVE-2023-32695)", wire: `2[{"toString":"x"}]`, wantErr: ErrInvalidPayload},
	{name: "event name array", wire: `2[["x"]]`, wantErr: ErrInvalidPayload},
	{name: "event name null", wire: `2[null,1]`, wantErr: ErrInvalidPayload},
	{name: "event name boolean", wire: `2[true]`, wantErr: ErrInvalidPayload},
	{name: "binary event data object", wire: `51-{"x":` + ph(0) + `}`, wantErr: ErrInvalidPayload},
	{name: "ack data object", wire: `31{}`, wantErr: ErrInvalidPayload},
	{name: "ack data string", wire: `31"x"`, wantErr: ErrInvalidPayload},
	{name: "ack without payload", wire: `31`, wantErr: ErrInvalidPayload},
	{name: "connect data array", wire: `0[]`, wantErr: ErrInvalidPayload},
	{name: "connect data string", wire: `0"token"`, wantErr: ErrInvalidPayload},
	{name: "connect data null", wire: `0null`, wantErr: ErrInvalidPayload},
	{name: "disconnect with payload", wire: `1{}`, wantErr: ErrInvalidPayload},
	{name: "disconnect custom with payload", wire: `1/admin,["x"]`, wantErr: ErrInvalidPayload},
	{name: "connect error array", wire: `4["x"]`, wantErr: ErrInvalidPayload},

	// Reserved event names.
	{name: "reserved connect", wire: `2["connect"]`, wantErr: ErrReservedEvent},
	{name: "reserved connect_error", wire: `2["connect_error",{}]`, wantErr: ErrReservedEvent},
	{name: "reserved disconnect", wire: `2["disconnect","transport close"]`, wantErr: ErrReservedEvent},
	{name: "reserved disconnecting", wire: `2/admin,["disconnecting"]`, wantErr: ErrReservedEvent},
	{name: "reserved newListener", wire: `21["newListener","x"]`, wantErr: ErrReservedEvent},
	{name: "reserved removeListener", wire: `2["removeListener"]`, wantErr: ErrReservedEvent},
	{name: "reserved name escaped", wire: `2["con\u006eect"]`, wantErr: ErrReservedEvent},
	{name: "reserved name in binary event", wire: `51-["connect",` + ph(0) + `]`, wantErr: ErrReservedEvent},
	{name: "reserved name v4", rev: V4, wire: `2["disconnect"]`, wantErr: ErrReservedEvent},

	// Malformed JSON.
	{name: "unterminated array", wire: `2["x"`, wantErr: ErrInvalidJSON},
	{name: "trailing comma", wire: `2["x",]`, wantErr: ErrInvalidJSON},
	{name: "trailing junk", wire: `2["x"]junk`, wantErr: ErrInvalidJSON},
	{name: "two values", wire: `2["x"]["y"]`, wantErr: ErrInvalidJSON},
	{name: "control character in string", wire: "2[\"x\x01\"]", wantErr: ErrInvalidJSON},
	{name: "leading zero", wire: `2["x",01]`, wantErr: ErrInvalidJSON},
	{name: "NaN", wire: `2["x",NaN]`, wantErr: ErrInvalidJSON},
	{name: "single quotes", wire: `2['x']`, wantErr: ErrInvalidJSON},
	{name: "bad escape", wire: `2["\x"]`, wantErr: ErrInvalidJSON},
	{name: "bad unicode escape", wire: `2["\u12"]`, wantErr: ErrInvalidJSON},
	{name: "unterminated object", wire: `0{"token":"x"`, wantErr: ErrInvalidJSON},
	{name: "object key not string", wire: `0{token:"x"}`, wantErr: ErrInvalidJSON},
	{name: "truncated literal", wire: `2["x",tru]`, wantErr: ErrInvalidJSON},

	// Nesting depth.
	{name: "too deep", wire: `2["x",` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `]`, wantErr: ErrTooDeep},
	{name: "too deep objects", wire: `0` + strings.Repeat(`{"a":`, 65) + `1` + strings.Repeat("}", 65), wantErr: ErrTooDeep},

	// Placeholders (CVE-2022-2421). One attachment announced unless noted.
	{name: "placeholder num splice", wire: `51-["hello",` + placeholderWith(`"splice"`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num string digit", wire: `51-["hello",` + placeholderWith(`"0"`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num float", wire: `51-["hello",` + placeholderWith(`0.5`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num integral float", wire: `51-["hello",` + placeholderWith(`0.0`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num exponent", wire: `51-["hello",` + placeholderWith(`0e0`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num negative", wire: `51-["hello",` + placeholderWith(`-1`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num negative zero", wire: `51-["hello",` + placeholderWith(`-0`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num out of range", wire: `51-["hello",` + placeholderWith(`1`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num huge", wire: `51-["hello",` + placeholderWith(`99999999999999999999`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num null", wire: `51-["hello",` + placeholderWith(`null`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num object", wire: `51-["hello",` + placeholderWith(`{}`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder num missing", wire: `51-["hello",{"_placeholder":true}]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder nested deep", wire: `51-["hello",{"a":[1,{"b":` + placeholderWith(`"splice"`) + `}]}]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder key escaped", wire: `51-["hello",{"\u005fplaceholder":true,"num":"splice"}]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder duplicate key last true", wire: `51-["hello",{"_placeholder":false,"_placeholder":true,"num":"x"}]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder duplicate num last bad", wire: `51-["hello",{"_placeholder":true,"num":0,"num":"x"}]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder with zero attachments", wire: `50-["hello",` + ph(0) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder in binary ack", wire: `61-1[` + placeholderWith(`"splice"`) + `]`, wantErr: ErrInvalidPlaceholder},
	{name: "placeholder second of two out of range", wire: `52-["x",` + ph(0) + `,` + ph(2) + `]`, wantErr: ErrInvalidPlaceholder},
}

func TestDecodeBadInputs(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(DecoderConfig{Revision: tc.rev})
			_, err := decodeMessages(d, tc.wire, tc.attachments)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("decode %q: err = %v, want %v", tc.wire, err, tc.wantErr)
			}
			if d.Pending() {
				t.Fatal("decoder still pending after an error")
			}
			// The decoder stays usable.
			if _, ok, err := d.Add([]byte(`2["ok"]`)); err != nil || !ok {
				t.Fatalf("decoder unusable after error: ok=%v err=%v", ok, err)
			}
		})
	}
}

func TestReservedIsInvalidPayload(t *testing.T) {
	var d Decoder
	_, _, err := d.Add([]byte(`2["connect"]`))
	if !errors.Is(err, ErrInvalidPayload) || !errors.Is(err, ErrReservedEvent) {
		t.Fatalf("err = %v, want both ErrInvalidPayload and ErrReservedEvent", err)
	}
}

// goodOddities are inputs that look suspicious but Node accepts, and so do we.
func TestDecodeAcceptsNodeQuirks(t *testing.T) {
	tests := []struct{ name, wire string }{
		{"event named error", `2["error"]`},
		{"placeholder-like object in plain event", `2["x",` + placeholderWith(`"splice"`) + `]`},
		{"placeholder flag not true", `51-["x",{"_placeholder":"true","num":"splice"},` + ph(0) + `]`},
		{"placeholder duplicate key last false", `51-["x",{"_placeholder":true,"_placeholder":false,"num":"x"},` + ph(0) + `]`},
		{"placeholder keys reordered", `51-["x",{"num":0,"_placeholder":true}]`},
		{"placeholder with extra members", `51-["x",{"_placeholder":true,"num":0,"extra":[1]}]`},
		{"attachment never referenced", `51-["x"]`},
		{"attachment referenced twice", `51-["x",` + ph(0) + `,` + ph(0) + `]`},
		{"numeric event name", `2[-1.5e3]`},
		{"connect error with id", `41"x"`},
		{"depth exactly 64", `2["x",` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `]`},
		{"invalid utf-8 in string like json.Valid", "2[\"\xff\"]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var atts [][]byte
			if tc.wire[0] == '5' {
				atts = [][]byte{{1}}
			}
			if _, err := decodeMessages(&d, tc.wire, atts); err != nil {
				t.Fatalf("decode %q: %v", tc.wire, err)
			}
		})
	}
}

func TestDecoderStateMachine(t *testing.T) {
	t.Run("binary when nothing pending", func(t *testing.T) {
		var d Decoder
		if _, _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("text while attachments pending", func(t *testing.T) {
		var d Decoder
		if _, ok, err := d.Add([]byte(`52-["x",` + ph(0) + `,` + ph(1) + `]`)); ok || err != nil || !d.Pending() {
			t.Fatalf("ok=%v err=%v pending=%v", ok, err, d.Pending())
		}
		if _, ok, err := d.AddBinary([]byte{1}); ok || err != nil {
			t.Fatalf("first attachment: ok=%v err=%v", ok, err)
		}
		if _, _, err := d.Add([]byte(`2["x"]`)); !errors.Is(err, ErrUnexpectedText) {
			t.Fatalf("err = %v", err)
		}
		if d.Pending() {
			t.Fatal("still pending after error")
		}
		if _, _, err := d.AddBinary([]byte{2}); !errors.Is(err, ErrUnexpectedBinary) {
			t.Fatalf("stale attachment accepted: %v", err)
		}
	})
	t.Run("packets in a row", func(t *testing.T) {
		var d Decoder
		for i := 0; i < 3; i++ {
			p, err := decodeMessages(&d, `51-["x",`+ph(0)+`]`, [][]byte{{byte(i)}})
			if err != nil || p.Attachments[0][0] != byte(i) {
				t.Fatalf("round %d: %+v %v", i, p, err)
			}
			if p, err = decodeMessages(&d, `2["y"]`, nil); err != nil || p.Type != Event {
				t.Fatalf("round %d: %+v %v", i, p, err)
			}
		}
	})
	t.Run("reset drops pending packet", func(t *testing.T) {
		var d Decoder
		d.Add([]byte(`51-["x",` + ph(0) + `]`))
		d.Reset()
		if d.Pending() {
			t.Fatal("pending after Reset")
		}
	})
	t.Run("max buffered bytes", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{MaxBufferedBytes: 10})
		if _, ok, err := d.Add([]byte(`52-["x",` + ph(0) + `,` + ph(1) + `]`)); ok || err != nil {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
		if _, _, err := d.AddBinary(make([]byte, 6)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.AddBinary(make([]byte, 5)); !errors.Is(err, ErrBufferLimit) {
			t.Fatalf("err = %v", err)
		}
		if d.Pending() {
			t.Fatal("still pending after limit")
		}
		if _, err := decodeMessages(d, `52-["x",`+ph(0)+`,`+ph(1)+`]`, [][]byte{make([]byte, 5), make([]byte, 5)}); err != nil {
			t.Fatalf("exactly at the limit: %v", err)
		}
	})
	t.Run("max attachments configurable", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{MaxAttachments: 2})
		if _, _, err := d.Add([]byte(`53-["x"]`)); !errors.Is(err, ErrTooManyAttachments) {
			t.Fatalf("err = %v", err)
		}
		d = NewDecoder(DecoderConfig{MaxAttachments: 11})
		atts := make([][]byte, 11)
		if _, err := decodeMessages(d, `511-["x"]`, atts); err != nil {
			t.Fatal(err)
		}
		var def Decoder
		if _, err := decodeMessages(&def, `510-["x"]`, make([][]byte, 10)); err != nil {
			t.Fatalf("default allows 10: %v", err)
		}
	})
	t.Run("max depth configurable", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{MaxDepth: 2})
		if _, _, err := d.Add([]byte(`2["x",[1]]`)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.Add([]byte(`2["x",[[1]]]`)); !errors.Is(err, ErrTooDeep) {
			t.Fatalf("err = %v", err)
		}
		d = NewDecoder(DecoderConfig{MaxDepth: 1000})
		deep := `2["x",` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `]`
		if _, _, err := d.Add([]byte(deep)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecoderConfigValidate(t *testing.T) {
	bad := []DecoderConfig{
		{Revision: 3},
		{MaxAttachments: -1},
		{MaxBufferedBytes: -1},
		{MaxDepth: -1},
		{MaxDepth: hardMaxDepth + 1},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v: Validate accepted it", c)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: NewDecoder did not panic", c)
				}
			}()
			NewDecoder(c)
		}()
	}
	if err := (DecoderConfig{Revision: V4, MaxAttachments: 1, MaxBufferedBytes: 1, MaxDepth: 1}).Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestValidateOutgoing(t *testing.T) {
	tests := []struct {
		name    string
		p       Packet
		wantErr error
	}{
		{"unknown type", Packet{Type: 7}, ErrUnknownType},
		{"namespace without slash", Packet{Type: Connect, Namespace: "admin"}, ErrInvalidNamespace},
		{"namespace with comma", Packet{Type: Connect, Namespace: "/a,b"}, ErrInvalidNamespace},
		{"query with comma", Packet{Type: Connect, Namespace: "/a", Query: "x=1,2"}, ErrInvalidNamespace},
		{"query and ? in namespace", Packet{Type: Connect, Namespace: "/a?b", Query: "x"}, ErrInvalidNamespace},
		{"ack without id", Packet{Type: Ack, Data: []byte(`[]`)}, ErrInvalidAckID},
		{"attachments on plain event", Packet{Type: Event, Data: []byte(`["x"]`), Attachments: [][]byte{{1}}}, ErrInvalidAttachments},
		{"placeholder without attachment", Packet{Type: BinaryEvent, Data: []byte(`["x",` + ph(1) + `]`), Attachments: [][]byte{{1}}}, ErrInvalidPlaceholder},
		{"invalid JSON", Packet{Type: Event, Data: []byte(`["x",]`)}, ErrInvalidJSON},
		{"reserved name", Packet{Type: Event, Data: []byte(`["disconnect"]`)}, ErrReservedEvent},
		{"disconnect with data", Packet{Type: Disconnect, Data: []byte(`{}`)}, ErrInvalidPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Encode(&tc.p); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	// The encoder treats an empty namespace as "/".
	p := Packet{Type: Event, Data: []byte(`["x"]`)}
	if h, _, err := Encode(&p); err != nil || string(h) != `2["x"]` {
		t.Fatalf("got %q %v", h, err)
	}
}
