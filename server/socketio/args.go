package socketio

import (
	"encoding/json"
	"fmt"

	psio "github.com/socketd/socketd/protocol/socketio"
)

// ToArgs converts emit arguments: a []byte becomes a binary attachment (a Buffer
// for the client), a json.RawMessage is sent as is (it must be valid JSON), nil
// is null, and anything else goes through encoding/json. For binary nested
// inside a value, build the Args (protocol/socketio) with Attach and use EmitArgs.
func ToArgs(args ...any) (psio.Args, error) {
	out := psio.Args{Values: make([]json.RawMessage, 0, len(args))}
	for i, a := range args {
		switch v := a.(type) {
		case nil:
			out.AddJSON(json.RawMessage("null"))
		case []byte:
			out.AddBinary(v)
		case json.RawMessage:
			if !json.Valid(v) {
				return psio.Args{}, fmt.Errorf("socketio: argument %d is not valid JSON", i)
			}
			out.AddJSON(v)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return psio.Args{}, fmt.Errorf("socketio: argument %d: %w", i, err)
			}
			out.AddJSON(b)
		}
	}
	return out, nil
}

func eventPacket(nsp, event string, args psio.Args) (psio.Packet, error) {
	if psio.IsReservedEvent(event) {
		return psio.Packet{}, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return psio.NewEvent(nsp, event, args), nil
}
