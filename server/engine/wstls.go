package engine

import (
	"crypto/tls"
	"net/http"
	"sync"

	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/socketd/socketd/internal/polltls"
	"github.com/socketd/socketd/protocol/engineio"
)

// WebSockets over TLS.
//
// net/http terminates TLS, so a WebSocket over TLS reaches the upgrade as a
// *tls.Conn, which nbio cannot move to its poller: it would stay in nbio's
// blocking mode with a reader goroutine and crypto/tls's buffers per
// connection. When the connection was accepted by an internal/polltls
// listener (socketd's https listener), the socket moves to the poller and the
// same *tls.Conn decrypts what the poller reads (polltls.Feed) and encrypts
// what the session writes, so an idle wss connection holds no goroutine, as a
// plain one. TLS terminated by anything else keeps nbio's blocking mode.

// upgradeTLS completes the WebSocket handshake of a request that came over
// TLS (polltls.UpgradeWebSocket). tc is set when the connection moved to the
// poller.
func (e *wsEngine) upgradeTLS(w http.ResponseWriter, r *http.Request, hdr http.Header) (*websocket.Conn, *tls.Conn, error) {
	return polltls.UpgradeWebSocket(w, r, e.up, hdr)
}

// tlsWriteBufs join the frames of one write, so they go out in one TLS record
// (and one write) as they would in one writev on a plain connection.
var tlsWriteBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeTLS encrypts frames in order through tc and hands the records to the
// poller's non-blocking write.
func writeTLS(tc *tls.Conn, rev engineio.Revision, frames []*Frame) error {
	if len(frames) == 1 {
		_, err := tc.Write(frames[0].wsFrame(rev))
		return err
	}
	bp := tlsWriteBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, f := range frames {
		buf = append(buf, f.wsFrame(rev)...)
	}
	_, err := tc.Write(buf)
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		tlsWriteBufs.Put(bp)
	}
	return err
}
