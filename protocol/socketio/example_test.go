package socketio_test

import (
	"encoding/json"
	"fmt"

	"github.com/socketd/socketd/protocol/socketio"
)

// A server reads each Engine.IO message into the Decoder; a binary event
// completes when its last attachment arrives.
func ExampleDecoder() {
	var d socketio.Decoder // zero value: V5, Node's defaults
	messages := []struct {
		data   string
		binary bool
	}{
		{`2["chat",{"user":"a","text":"hello"}]`, false},
		{`51-/files,7["upload",{"_placeholder":true,"num":0}]`, false},
		{"\x01\x02\x03", true},
	}
	for _, m := range messages {
		var p socketio.Packet
		var ok bool
		var err error
		if m.binary {
			p, ok, err = d.AddBinary([]byte(m.data))
		} else {
			p, ok, err = d.Add([]byte(m.data))
		}
		if err != nil {
			fmt.Println("close the connection:", err)
			return
		}
		if !ok {
			fmt.Println("waiting for attachments")
			continue
		}
		name, args, _ := p.Event()
		fmt.Println(p.Type, p.Namespace, name, args.Len(), "args, ack id", p.ID)
		if b, ok := args.Binary(0); ok {
			fmt.Println("binary argument", b)
		}
	}
	// Output:
	// EVENT / chat 1 args, ack id 0
	// waiting for attachments
	// BINARY_EVENT /files upload 1 args, ack id 7
	// binary argument [1 2 3]
}

// Emitting an event with a binary argument gives a header and the
// attachments to send after it, each as one binary Engine.IO message.
func ExampleNewEvent() {
	var args socketio.Args
	args.AddJSON(json.RawMessage(`{"name":"a.png"}`))
	args.AddBinary([]byte{0x89, 0x50})
	p := socketio.NewEvent("/", "file", args)
	header, attachments, err := socketio.Encode(&p)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s + %d attachment(s)\n", header, len(attachments))
	// Output:
	// 51-["file",{"name":"a.png"},{"_placeholder":true,"num":0}] + 1 attachment(s)
}

// The namespace handshake differs between revisions.
func ExampleNewConnectReply() {
	for _, rev := range []socketio.Revision{socketio.V4, socketio.V5} {
		ok := socketio.NewConnectReply(rev, "/admin", "oSO0OpakMV_3jnilAAAA", "")
		refused := socketio.NewConnectError(rev, "/admin", "Not authorized", nil)
		fmt.Printf("%s: %s %s\n", rev, socketio.AppendEncode(nil, &ok), socketio.AppendEncode(nil, &refused))
	}
	// Output:
	// v4: 0/admin, 4/admin,"Not authorized"
	// v5: 0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"} 4/admin,{"message":"Not authorized"}
}

// v4 clients authenticate through a query on the namespace.
func ExampleDecoderConfig_v4Query() {
	d := socketio.NewDecoder(socketio.DecoderConfig{Revision: socketio.V4})
	p, _, _ := d.Add([]byte(`0/admin?token=abc,`))
	fmt.Println(p.Namespace, p.Query)
	// Output:
	// /admin token=abc
}

// Arg decodes an argument into a Go value; attachments reach []byte fields
// wherever their placeholders sit.
func ExampleArgs_Arg() {
	args := socketio.Args{
		Values:      []json.RawMessage{json.RawMessage(`{"name":"a.bin","data":{"_placeholder":true,"num":0}}`)},
		Attachments: [][]byte{{1, 2, 3}},
	}
	var file struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	if err := args.Arg(0, &file); err != nil {
		panic(err)
	}
	fmt.Println(file.Name, file.Data)
	// Output:
	// a.bin [1 2 3]
}
