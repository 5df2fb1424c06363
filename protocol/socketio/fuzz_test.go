package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// The FuzzDecode input is a small program for the Decoder:
//
//	byte 0     configuration: bit 0 selects V4; bits 1-2 pick MaxAttachments
//	           (default, 1, 2, 3); bit 3 sets MaxBufferedBytes to 16;
//	           bit 4 sets MaxDepth to 4
//	byte 1     the delimiter that splits the rest into messages
//	messages   each starts with a flag byte: odd means binary, even text
//
// so the fuzzer chooses both the bytes and how they are cut into Engine.IO
// messages, including attachments that arrive early, late or never.

func fuzzConfig(c byte) DecoderConfig {
	cfg := DecoderConfig{Revision: V5}
	if c&1 != 0 {
		cfg.Revision = V4
	}
	cfg.MaxAttachments = int(c>>1) & 3 // 0 means the default
	if c&8 != 0 {
		cfg.MaxBufferedBytes = 16
	}
	if c&16 != 0 {
		cfg.MaxDepth = 4
	}
	return cfg
}

// fuzzInput encodes a header and its attachments as a FuzzDecode input.
func fuzzInput(config byte, header string, attachments [][]byte) []byte {
	const delim = 0xfe
	in := []byte{config, delim, 0}
	in = append(in, header...)
	for _, a := range attachments {
		in = append(in, delim, 1)
		in = append(in, a...)
	}
	return in
}

var sentinels = []error{
	ErrUnknownType, ErrInvalidAttachments, ErrTooManyAttachments, ErrBufferLimit,
	ErrUnexpectedBinary, ErrUnexpectedText, ErrInvalidNamespace, ErrInvalidAckID,
	ErrInvalidJSON, ErrTooDeep, ErrInvalidPayload, ErrReservedEvent, ErrInvalidPlaceholder,
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzDecode(f *testing.F) {
	for _, tc := range v5Cases {
		f.Add(fuzzInput(0, tc.wire, tc.attachments))
	}
	for _, tc := range v4Cases {
		f.Add(fuzzInput(1, tc.wire, tc.attachments))
	}
	for _, tc := range badCases {
		f.Add(fuzzInput(0, tc.wire, tc.attachments))
	}
	// Splits the tables do not have: early, missing and extra attachments.
	f.Add(fuzzInput(0, `52-["x",`+ph(0)+`,`+ph(1)+`]`, [][]byte{{1}}))
	f.Add(fuzzInput(0, `51-["x",`+ph(0)+`]`, [][]byte{{1}, {2}}))
	f.Add(fuzzInput(2, `52-["x",`+ph(0)+`,`+ph(1)+`]`, [][]byte{{1}, {2}}))
	f.Add(fuzzInput(8, `52-["x",`+ph(0)+`,`+ph(1)+`]`, [][]byte{make([]byte, 10), make([]byte, 10)}))
	f.Add(fuzzInput(16, `2["x",[[[[1]]]]]`, nil))
	f.Add([]byte{0, ',', 1, 1, 2, 3, ',', 0, '2', '[', '"', 'x', '"', ']'})

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		cfg := fuzzConfig(in[0])
		d := NewDecoder(cfg)
		maxAttachments := cfg.MaxAttachments
		if maxAttachments == 0 {
			maxAttachments = DefaultMaxAttachments
		}
		for _, msg := range bytes.Split(in[2:], in[1:2]) {
			binary := len(msg) > 0 && msg[0]&1 != 0
			if len(msg) > 0 {
				msg = msg[1:]
			}
			var p Packet
			var ok bool
			var err error
			if binary {
				p, ok, err = d.AddBinary(msg)
			} else {
				p, ok, err = d.Add(msg)
			}
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("error wraps no sentinel: %v", err)
				}
				if d.Pending() {
					t.Fatalf("pending after error %v", err)
				}
				continue
			}
			if !ok {
				if !d.Pending() {
					t.Fatal("no packet and nothing pending")
				}
				continue
			}
			checkDecoded(t, cfg, maxAttachments, p)
		}
	})
}

// checkDecoded asserts what every accepted packet must satisfy, and that it
// survives encode then decode unchanged.
func checkDecoded(t *testing.T, cfg DecoderConfig, maxAttachments int, p Packet) {
	t.Helper()
	if len(p.Attachments) > maxAttachments {
		t.Fatalf("%d attachments, MaxAttachments %d", len(p.Attachments), maxAttachments)
	}
	if cfg.MaxBufferedBytes > 0 {
		total := 0
		for _, a := range p.Attachments {
			total += len(a)
		}
		if total > cfg.MaxBufferedBytes {
			t.Fatalf("%d attachment bytes, MaxBufferedBytes %d", total, cfg.MaxBufferedBytes)
		}
	}
	if !p.Type.IsBinary() && len(p.Attachments) > 0 {
		t.Fatalf("%s with attachments", p.Type)
	}
	if p.Namespace == "" || p.Namespace[0] != '/' {
		t.Fatalf("namespace %q", p.Namespace)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("decoded packet does not validate: %v\n%+v", err, p)
	}
	header, atts, err := Encode(&p)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	again, err := decodeMessages(NewDecoder(cfg), string(header), atts)
	if err != nil {
		t.Fatalf("re-decode %q: %v", header, err)
	}
	if !again.Equal(&p) {
		t.Fatalf("round trip changed the packet:\n was %+v\n now %+v\nwire %q", p, again, header)
	}
	switch p.Type {
	case Event, BinaryEvent:
		_, args, err := p.Event()
		if err != nil {
			t.Fatalf("Event() on an accepted packet: %v", err)
		}
		checkArgs(t, args)
	case Ack, BinaryAck:
		args, err := p.AckArgs()
		if err != nil {
			t.Fatalf("AckArgs() on an accepted packet: %v", err)
		}
		checkArgs(t, args)
	}
}

func checkArgs(t *testing.T, args Args) {
	t.Helper()
	for i := range args.Values {
		var raw json.RawMessage
		err := args.Arg(i, &raw)
		if errors.Is(err, ErrInvalidPlaceholder) {
			continue // the amplification guard: one attachment referenced repeatedly
		}
		if err != nil {
			t.Fatalf("Arg(%d): %v", i, err)
		}
		if !json.Valid(raw) {
			t.Fatalf("Arg(%d) produced invalid JSON %q", i, raw)
		}
		if b, ok := args.Binary(i); ok && b == nil && len(args.Attachments) == 0 {
			t.Fatalf("Binary(%d) without attachments", i)
		}
	}
}

// FuzzScanner checks the hand-written JSON scanner against json.Valid, and
// SplitArray against encoding/json's own idea of the elements.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`[]`, `{}`, `""`, `0`, `-0.5e+10`, `[1,"2",{"3":[true]}]`, `{"a":{"b":[null,false]}}`,
		`"\u00e9\n"`, `[1,]`, `{"a"}`, `01`, `1.`, `-`, `"\x"`, "\"\x01\"", ` [ 1 , 2 ] `, `tru`, `nul`,
		`[` + ph(0) + `]`, "\"\xff\"", `{"a":1,}`, `[1 2]`, `1e`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newScanner(data, 0, -1)
		err := s.whole()
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("scanner says %v, json.Valid says %v for %q", err, valid, data)
		}
		elems, err := SplitArray(data)
		if err != nil {
			return
		}
		var want []json.RawMessage
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("SplitArray accepted what encoding/json refuses: %v", err)
		}
		if len(elems) != len(want) {
			t.Fatalf("SplitArray found %d elements, encoding/json %d", len(elems), len(want))
		}
		for i := range elems {
			if !bytes.Equal(elems[i], bytes.TrimSpace(want[i])) {
				t.Fatalf("element %d: %q, encoding/json %q", i, elems[i], want[i])
			}
		}
	})
}
