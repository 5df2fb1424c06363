package engineio_test

import (
	"fmt"
	"time"

	"github.com/socketd/socketd/protocol/engineio"
)

func ExampleAppendPayload() {
	packets := []engineio.Packet{
		{Type: engineio.Message, Data: []byte("€")},
		{Type: engineio.Message, Data: []byte{1, 2, 3, 4}, Binary: true},
	}
	fmt.Printf("%q\n", engineio.AppendPayload(nil, engineio.PayloadV4, packets))
	fmt.Printf("%q\n", engineio.AppendPayload(nil, engineio.PayloadV3Text, packets))
	fmt.Printf("% x\n", engineio.AppendPayload(nil, engineio.PayloadV3Binary, packets))
	// Output:
	// "4€\x1ebAQIDBA=="
	// "2:4€10:b4AQIDBA=="
	// 00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04
}

func ExampleDecodePayload() {
	packets, err := engineio.DecodePayload(engineio.PayloadV3Text, []byte("6:4hello2:4€1:2"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range packets {
		fmt.Printf("%v %q\n", p.Type, p.Data)
	}
	_, err = engineio.DecodePayload(engineio.PayloadV3Text, []byte("4:4€"))
	fmt.Println(err)
	// Output:
	// message "hello"
	// message "€"
	// ping ""
	// engineio: malformed payload: 4 characters announced, body ends first (packet 0)
}

func ExampleAppendWebSocket() {
	p := engineio.Packet{Type: engineio.Message, Data: []byte{1, 2}, Binary: true}
	v4, bin4 := engineio.AppendWebSocket(nil, engineio.V4, p)
	v3, bin3 := engineio.AppendWebSocket(nil, engineio.V3, p)
	fmt.Printf("v4 % x %v\nv3 % x %v\n", v4, bin4, v3, bin3)
	// Output:
	// v4 01 02 true
	// v3 04 01 02 true
}

func ExampleAppendHandshake() {
	h := engineio.Handshake{
		SID:          "lv_VI97HAXpY6yYWAAAC",
		Upgrades:     []string{"websocket"},
		PingInterval: 25 * time.Second,
		PingTimeout:  20 * time.Second,
		MaxPayload:   1e6,
	}
	open := engineio.AppendHandshake([]byte{'0'}, engineio.V4, h)
	fmt.Println(string(open))
	// Output:
	// 0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
}

func ExampleAppendJSONP() {
	payload := engineio.AppendPayload(nil, engineio.PayloadV3Text, []engineio.Packet{
		{Type: engineio.Message, Data: []byte(`2["say","\"hi\"\n"]`)},
	})
	fmt.Println(string(engineio.AppendJSONP(nil, 0, payload)))
	// Output:
	// ___eio[0]("20:42[\"say\",\"\\\"hi\\\"\\n\"]");
}

func ExampleDecodeJSONPBody() {
	// The client escaped the payload "4a\nb" (with a real newline) as
	// "4a\\nb" and form-encoded it.
	payload, err := engineio.DecodeJSONPBody([]byte("d=4%3A4a%5Cnb"))
	fmt.Printf("%q %v\n", payload, err)
	// Output:
	// "4:4a\nb" <nil>
}
