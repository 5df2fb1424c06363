package engine

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Transport names an Engine.IO transport as it appears in the `transport` query.
type Transport uint8

// Transports. JSONP is not a transport of its own: it is polling with the `j`
// query, served with the JSONP codec.
const (
	Polling Transport = iota + 1
	WebSocket
)

func (t Transport) String() string {
	switch t {
	case Polling:
		return "polling"
	case WebSocket:
		return "websocket"
	}
	return fmt.Sprintf("Transport(%d)", uint8(t))
}

func parseTransport(s string) (Transport, bool) {
	switch s {
	case "polling":
		return Polling, true
	case "websocket":
		return WebSocket, true
	}
	return 0, false
}

// Config configures a Server. The zero value works: every zero field takes the
// default written beside it, which is engine.io 6's default unless said otherwise.
type Config struct {
	// PingInterval is the heartbeat period. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long a heartbeat answer may take. Zero means 20s. An EIO=4
	// session that does not answer a ping within it, or an EIO=3 session that sends
	// no ping for PingInterval+PingTimeout, is closed with ReasonPingTimeout.
	PingTimeout time.Duration
	// UpgradeTimeout bounds the polling-to-WebSocket upgrade: a probe WebSocket that
	// has not sent the upgrade packet by then is closed. Zero means 10s.
	UpgradeTimeout time.Duration
	// MaxHTTPBufferSize bounds a POST body (HTTP 413 and the session closes) and a
	// WebSocket message (close code 1009). It is announced to EIO=4 clients as
	// maxPayload. Zero means 1e6 bytes.
	MaxHTTPBufferSize int64
	// MaxQueueBytes bounds the bytes queued for one session that the client has
	// not taken yet (polling queue, or WebSocket bytes the kernel has not accepted).
	// Passing it closes the session with ReasonSlowConsumer. Zero means 4 MiB.
	MaxQueueBytes int
	// Transports lists the transports clients may use. Nil means polling and websocket.
	Transports []Transport
	// DisallowEIO3 refuses EIO=3 clients (socket.io-client 1.x/2.x) with error code 5.
	// The zero value accepts them, unlike Node's default (allowEIO3: false), because
	// unchanged Drupal pages run a 2.x client.
	DisallowEIO3 bool
	// CORS sets which cross-origin pages may use the endpoint. The zero value sends
	// no CORS headers, so browsers allow only same-origin pages.
	CORS CORSConfig
	// Cookie, when not nil, makes the handshake set a cookie holding the sid, for
	// load balancers with cookie-based sticky sessions.
	Cookie *CookieConfig
	// AllowRequest, when not nil, is asked about every handshake; a non-nil error
	// refuses it with HTTP 403 {"code":4,"message":"Forbidden"}.
	AllowRequest func(r *http.Request) error
	// PollWriteTimeout bounds writing one polling response. Zero means 10s.
	PollWriteTimeout time.Duration
	// HoldPollsInHandler keeps a held polling GET inside its net/http handler
	// (a goroutine, net/http's buffers, and the connection kept alive for the
	// next request) instead of parking it: by default a held GET over
	// HTTP/1.x (plain or TLS) is hijacked and waits on one small goroutine,
	// about 20 KB less per polling client, and is answered with Connection:
	// close (park.go). HTTP/2 GETs are always held in the handler.
	HoldPollsInHandler bool
	// CloseTimeout is how long a polling session closed by the server waits for the
	// client's next GET to deliver the close packet. Zero means 30s (engine.io's
	// closeTimeout).
	CloseTimeout time.Duration
	// Nodes, when not nil, makes this server one node of a cluster behind a
	// balancer that need not be sticky: the sids it makes start with
	// Nodes.Tag(), and a polling request or WebSocket upgrade for another live
	// node's session is forwarded to that node (forward.go). Nil: a single
	// server, sids fully random, nothing forwarded.
	Nodes Nodes
	// ForwardTimeout bounds finding the owner of a forwarded request and
	// connecting to it; an owner that takes longer is answered for with
	// "Session ID unknown". Zero means 2s.
	ForwardTimeout time.Duration
	// ForwardTLS configures connections to nodes whose URL is https. Nil means
	// the system's roots, and the node's host name as the server name.
	ForwardTLS *tls.Config
	// Limits bound the sessions clients may open (limits.go). The zero
	// value sets none.
	Limits Limits
	// TrustedProxies lists the proxies (balancers, CDNs) whose
	// X-Forwarded-For is believed: a request from one of them is from the
	// right-most address of X-Forwarded-For that is not itself a trusted
	// proxy (internal/clientip). That address is the client's in the
	// per-address limits, Session.ClientIP and the logs. Nil: the client is
	// the peer, and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix

	// DrainSpread is the window over which Shutdown closes the sessions open
	// when it starts (and has closed those of other nodes whose polls or
	// WebSockets it forwards), one
	// after another at an even pace, so that their clients reconnect through
	// the balancer to the other nodes gradually rather than all at once.
	// Shutdown closes at least drainMinRate (100) a second, so a few
	// sessions are not held back, and fits the window in half of the time
	// its context leaves it: the other half is for polling clients to fetch
	// their close packet. Zero closes them all at once, which suits a single
	// server: its clients have no other node to go to.
	DrainSpread time.Duration
	// Logger receives session-level events (open, upgrade, close with reason).
	// Nil means nothing is logged.
	Logger *slog.Logger
}

// CORSConfig is the cross-origin policy for polling requests. WebSocket requests
// are not subject to CORS in browsers; use AllowRequest to check their Origin.
type CORSConfig struct {
	// AllowedOrigins lists origins (scheme://host[:port]) whose requests get CORS
	// headers. "*" allows every origin. An allowed Origin is reflected with
	// Access-Control-Allow-Credentials: true, as drupal-node.js (socket.io 2.x) did,
	// so cookies and credentials work cross-origin.
	AllowedOrigins []string
	// MaxAge is the preflight cache lifetime sent as Access-Control-Max-Age.
	// Zero sends none.
	MaxAge time.Duration
}

// CookieConfig is the sticky-session cookie.
type CookieConfig struct {
	// Name of the cookie. Empty means "io".
	Name string
	// Path of the cookie. Empty means "/".
	Path string
	// HTTPOnly sets the HttpOnly attribute.
	HTTPOnly bool
	// SameSite attribute. Zero means http.SameSiteLaxMode.
	SameSite http.SameSite
}

func (c Config) withDefaults() (Config, error) {
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.UpgradeTimeout == 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.MaxHTTPBufferSize == 0 {
		c.MaxHTTPBufferSize = 1e6
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 4 << 20
	}
	if c.Transports == nil {
		c.Transports = []Transport{Polling, WebSocket}
	}
	if c.PollWriteTimeout == 0 {
		c.PollWriteTimeout = 10 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.ForwardTimeout == 0 {
		c.ForwardTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case c.PingInterval < 0, c.PingTimeout < 0, c.UpgradeTimeout < 0, c.PollWriteTimeout < 0, c.CloseTimeout < 0, c.ForwardTimeout < 0, c.DrainSpread < 0:
		return c, fmt.Errorf("engine: durations must not be negative")
	case c.MaxHTTPBufferSize < 0, c.MaxQueueBytes < 0:
		return c, fmt.Errorf("engine: sizes must not be negative")
	case len(c.Transports) == 0:
		return c, fmt.Errorf("engine: Transports is empty")
	}
	var ok bool
	if c.Limits, ok = c.Limits.withDefaults(); !ok {
		return c, fmt.Errorf("engine: limits must not be negative")
	}
	if c.Nodes != nil && !validTag(c.Nodes.Tag()) {
		return c, fmt.Errorf("engine: node tag %q is not %d characters of [A-Za-z0-9_-]", c.Nodes.Tag(), NodeTagLen)
	}
	for _, t := range c.Transports {
		if t != Polling && t != WebSocket {
			return c, fmt.Errorf("engine: unknown transport %v", t)
		}
	}
	if c.Cookie != nil {
		ck := *c.Cookie
		if ck.Name == "" {
			ck.Name = "io"
		}
		if ck.Path == "" {
			ck.Path = "/"
		}
		if ck.SameSite == 0 {
			ck.SameSite = http.SameSiteLaxMode
		}
		c.Cookie = &ck
	}
	return c, nil
}

func (c *Config) allows(t Transport) bool {
	for _, x := range c.Transports {
		if x == t {
			return true
		}
	}
	return false
}
