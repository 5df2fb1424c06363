package engineio

import (
	"strconv"
	"time"
)

// Handshake is the JSON payload of the open packet (engine.io-protocol
// README, "Handshake"), which tells the client its session id and timing.
type Handshake struct {
	// SID is the session id the client sends back as the sid query value.
	SID string
	// Upgrades lists the transports the client may upgrade to: ["websocket"]
	// on a polling handshake, none on a WebSocket one.
	Upgrades []string
	// PingInterval and PingTimeout drive the heartbeat; they are sent in
	// whole milliseconds (engine.io defaults 25 s and 20 s).
	PingInterval, PingTimeout time.Duration
	// MaxPayload is the largest POST body the server accepts, which
	// revision 4 clients use to size their batches (engine.io 6.2+,
	// maxHttpBufferSize, default 1e6). Not sent in revision 3.
	MaxPayload int64
}

// AppendHandshake appends the handshake JSON (without the leading "0"
// type digit). Keys come in engine.io's order: sid, upgrades,
// pingInterval, pingTimeout, then maxPayload for V4 only; V3 omits it, as
// socket.io 2.x did, and the upstream test suites check the exact key set.
// A nil Upgrades encodes as []. Strings are escaped exactly as
// encoding/json would escape them.
func AppendHandshake(dst []byte, rev Revision, h Handshake) []byte {
	dst = append(dst, `{"sid":`...)
	dst = appendGoJSONString(dst, h.SID)
	dst = append(dst, `,"upgrades":[`...)
	for i, u := range h.Upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendGoJSONString(dst, u)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, h.PingInterval.Milliseconds(), 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, h.PingTimeout.Milliseconds(), 10)
	if rev != V3 {
		dst = append(dst, `,"maxPayload":`...)
		dst = strconv.AppendInt(dst, h.MaxPayload, 10)
	}
	return append(dst, '}')
}
