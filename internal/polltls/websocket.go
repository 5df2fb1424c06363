package polltls

import (
	"bufio"
	"crypto/sha1" //nolint:gosec // RFC 6455 fixes SHA-1 for Sec-WebSocket-Accept
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// errEarlyData refuses a client that sent WebSocket data before the
// handshake's answer (RFC 6455 §4.1: it must wait for it).
var errEarlyData = errors.New("websocket data before the handshake completed")

// UpgradeWebSocket completes the WebSocket handshake of a request that came
// over TLS, with up's handlers and limits and up.Engine's poller. When the
// connection was accepted by this package's listener it moves to the poller
// (Detach), is read through Feed and written through the returned *tls.Conn
// (non-blocking); otherwise it is handed to nbio's Upgrader, which keeps it in
// blocking mode, and the *tls.Conn returned is nil. hdr is added to the 101
// answer.
func UpgradeWebSocket(w http.ResponseWriter, r *http.Request, up *websocket.Upgrader, hdr http.Header) (*websocket.Conn, *tls.Conn, error) {
	key, err := checkUpgrade(r)
	if err != nil {
		w.Header().Set("Sec-Websocket-Version", "13")
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return nil, nil, err
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, nil, err
	}
	tc, _ := conn.(*tls.Conn)
	var t *Transport
	if tc != nil {
		t = Of(tc)
	}
	if t == nil {
		// Not ours to move: nbio's blocking mode, on the connection already
		// hijacked (the checks above are nbio's, so its Upgrade agrees).
		c, err := up.UpgradeAndTransferConnToPoller(hijacked{w, conn, brw}, r, hdr)
		return c, nil, err
	}
	if brw.Reader.Buffered() > 0 {
		_ = conn.Close()
		return nil, nil, errEarlyData
	}
	nbc, err := t.Detach()
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	// Records crypto/tls read along with the request are decrypted now, before
	// the poller can call in: anything but handshake messages is early data.
	early := false
	if err := Feed(tc, nil, func([]byte) error { early = true; return errEarlyData }); err != nil || early {
		_ = nbc.Close()
		if err == nil {
			err = errEarlyData
		}
		return nil, nil, err
	}
	wsc := websocket.NewServerConn(up, tc, "", false, false)
	wsc.Engine = up.Engine
	wsc.Execute = nbc.Execute
	nbc.SetSession(wsc)
	nbc.OnData(func(c *nbio.Conn, data []byte) {
		if err := Feed(tc, data, wsc.Parse); err != nil {
			_ = c.CloseWithError(err)
		}
	})
	if err := up.Engine.AddTransferredConn(nbc); err != nil {
		return nil, nil, err
	}
	t.Attached()
	if _, err := tc.Write(upgradeResponse(key, hdr)); err != nil {
		_ = nbc.Close()
		return nil, nil, err
	}
	return wsc, tc, nil
}

// checkUpgrade applies the checks nbio's Upgrader makes and returns the
// client's key.
func checkUpgrade(r *http.Request) (string, error) {
	switch {
	case r.Method != http.MethodGet:
		return "", errors.New("websocket: method is not GET")
	case !headerHasToken(r.Header, "Connection", "upgrade"), !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "", errors.New("websocket: no upgrade token")
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		return "", errors.New("websocket: version is not 13")
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if key == "" {
		return "", errors.New("websocket: no Sec-WebSocket-Key")
	}
	return key, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// upgradeResponse is the 101 answer with hdr's fields (control characters
// blanked, as nbio does, so no header can split the response).
func upgradeResponse(key string, hdr http.Header) []byte {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) //nolint:gosec // RFC 6455 §4.2.2
	b := make([]byte, 0, 160)
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = base64.StdEncoding.AppendEncode(b, sum[:])
	b = append(b, "\r\n"...)
	for k, vs := range hdr {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c < ' ' {
					c = ' '
				}
				b = append(b, c)
			}
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// hijacked hands an already hijacked connection to nbio's Upgrader.
type hijacked struct {
	http.ResponseWriter
	conn net.Conn
	brw  *bufio.ReadWriter
}

func (h hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) { return h.conn, h.brw, nil }
