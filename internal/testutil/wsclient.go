// Package testutil holds helpers for the module's tests (server/... and drupal);
// it sits in the module root's internal/ so that every package can import it.
package testutil

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/wsframe"
)

// WSClient is a minimal RFC 6455 client with raw frame access, so tests can also
// send what a well-behaved library never would.
type WSClient struct {
	conn net.Conn
	br   *bufio.Reader
	// Resp is the handshake response (its body unread when the upgrade was refused).
	Resp *http.Response
}

var ErrHandshake = errors.New("websocket handshake refused")

func DialWS(rawURL string) (*WSClient, error) { return dialWS(rawURL, nil, nil) }

// DialWSFrom is DialWSHeader from the local address localIP (a loopback
// address other than 127.0.0.1, say, to be another client address to a
// server on 127.0.0.1: Linux routes all of 127.0.0.0/8 to loopback).
func DialWSFrom(rawURL, localIP string, header http.Header) (*WSClient, error) {
	return dialWSFrom(rawURL, header, nil, localIP)
}

// DialWSHeader is DialWS with more request headers; a "Host" entry replaces
// the Host header (the connection still goes to the URL's address).
func DialWSHeader(rawURL string, header http.Header) (*WSClient, error) {
	return dialWS(rawURL, header, nil)
}

// DialWSTLS dials an https:// URL over TLS with cfg (an http:// URL in clear
// when cfg is nil).
func DialWSTLS(rawURL string, cfg *tls.Config) (*WSClient, error) { return dialWS(rawURL, nil, cfg) }

func dialWS(rawURL string, header http.Header, cfg *tls.Config) (*WSClient, error) {
	return dialWSFrom(rawURL, header, cfg, "")
}

func dialWSFrom(rawURL string, header http.Header, cfg *tls.Config, localIP string) (*WSClient, error) {
	u := strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
	hostEnd := strings.IndexByte(u, '/')
	host, path := u[:hostEnd], u[hostEnd:]
	hostHeader, extra := host, ""
	for k, vs := range header {
		if k == "Host" {
			hostHeader = vs[0]
			continue
		}
		for _, v := range vs {
			extra += k + ": " + v + "\r\n"
		}
	}
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	if cfg != nil {
		conn, err = tls.DialWithDialer(d, "tcp", host, cfg)
	} else {
		conn, err = d.Dial("tcp", host)
	}
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n", path, hostHeader, k, extra)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &WSClient{conn: conn, br: br, Resp: resp}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return c, ErrHandshake
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, errors.New("bad Sec-WebSocket-Accept")
	}
	return c, nil
}

// WriteFrame sends one masked frame with the given first byte (FIN/RSV/opcode).
func (c *WSClient) WriteFrame(b0 byte, payload []byte) error {
	var key [4]byte
	_, _ = rand.Read(key[:])
	_, err := c.conn.Write(wsframe.AppendClient(nil, b0, payload, key))
	return err
}

// ClientTextFrame is a masked text frame as a client sends it, to be written
// with others in one WriteRaw.
func ClientTextFrame(s string) []byte {
	var key [4]byte
	_, _ = rand.Read(key[:])
	return wsframe.AppendClient(nil, 0x81, []byte(s), key)
}

// WriteRaw writes bytes to the connection as they are.
func (c *WSClient) WriteRaw(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

func (c *WSClient) SendText(s string) error     { return c.WriteFrame(0x81, []byte(s)) }
func (c *WSClient) SendBinary(b []byte) error   { return c.WriteFrame(0x82, b) }
func (c *WSClient) Close()                      { c.conn.Close() }
func (c *WSClient) SetDeadline(d time.Duration) { _ = c.conn.SetDeadline(time.Now().Add(d)) }

// HTTPClientFrom is an HTTP client whose connections leave from localIP (see
// DialWSFrom).
func HTTPClientFrom(localIP string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// NetConn returns the underlying connection, for what the helpers above leave
// out: a client that lives as long as its test clears DialWS's deadline, and
// tests drop the connection as a net.Conn.
func (c *WSClient) NetConn() net.Conn { return c.conn }

// readFrame returns the next frame's opcode and payload (server frames are unmasked).
func (c *WSClient) ReadFrame() (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0F, p, nil
}

// readData returns the next text or binary message, skipping nothing else.
func (c *WSClient) ReadData(t *testing.T) (string, bool) {
	t.Helper()
	op, p, err := c.ReadFrame()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	switch op {
	case 1:
		return string(p), false
	case 2:
		return string(p), true
	}
	t.Fatalf("unexpected opcode %d (payload %q)", op, p)
	return "", false
}

// readClose reads until a close frame or EOF and returns the close code (0 on EOF).
func (c *WSClient) ReadClose(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		op, p, err := c.ReadFrame()
		if err != nil {
			return 0
		}
		if op == 8 {
			if len(p) >= 2 {
				return int(binary.BigEndian.Uint16(p))
			}
			return 1005
		}
	}
	t.Fatal("no close after 100 frames")
	return 0
}
