package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"
)

// Forwarding: several servers behind a balancer that is not sticky.
//
// A sid starts with the tag of the node that made it (Config.Nodes). A polling
// request or a WebSocket upgrade whose session is not here, and whose tag is
// another live node's, is forwarded to that node, marked with forwardedHeader
// so the owner never forwards it again: an owner that does not have the session
// answers "Session ID unknown" itself.
//
//   - A GET over HTTP/1.x (a poll, held or not, JSONP included) and a WebSocket
//     upgrade: the client's connection is taken off net/http (hijacked), a new
//     connection to the owner carries the request head with Connection: close
//     (a poll) or Upgrade (a WebSocket), and from then on both connections are
//     spliced byte for byte on the event loop (bridge.go): a held poll costs
//     no goroutine here and is released the moment the owner answers it (a
//     message, an upgrade's noop), and either side closing closes the other,
//     so the owner sees a client leave at once. On the owner the forwarded GET
//     is an ordinary plain HTTP/1.1 request and is parked as usual (park.go).
//   - A POST (short, and the client's keep-alive connection is worth keeping),
//     and a GET that cannot be hijacked (HTTP/2): through a pooled HTTP client,
//     the body streamed both ways.
//
// Finding the owner and connecting to it are bounded by ForwardTimeout; an
// owner that is unknown or cannot be reached gets the client the error it
// would get from a single server for a sid it does not know.

// forwardedHeader marks a request one node forwarded to another; its value is
// the forwarding node's tag. Clients may send it too: that only stops
// forwarding for their own request.
const forwardedHeader = "Socketd-Forwarded"

// NodeTagLen is the length of a node tag: the sids of a node in a cluster
// start with its tag, the other 17 characters carry 102 random bits.
const NodeTagLen = 3

// Nodes is the engine's view of a cluster: this node's tag and where the other
// live nodes are. cluster.Node implements it.
type Nodes interface {
	// Tag is this node's tag now: NodeTagLen characters of the sid alphabet
	// [A-Za-z0-9_-], unique among the live nodes.
	Tag() string
	// NodeURL returns the base URL (http://host:port or https://host:port)
	// of the live node whose tag is tag, or false if there is none.
	NodeURL(ctx context.Context, tag string) (string, bool)
}

// forwarder sends requests for other nodes' sessions to their owner.
type forwarder struct {
	srv     *Server
	nodes   Nodes
	timeout time.Duration
	dialer  net.Dialer
	tls     *tls.Config
	client  *http.Client // POSTs and GETs that cannot be hijacked

	// pollBound bounds a forwarded GET's whole life: a poll is answered
	// within a heartbeat (a ping, a pong, or the close of a silent session).
	pollBound time.Duration

	forwarded atomic.Uint64
	failed    atomic.Uint64
	open      atomic.Int64 // bridges open now
	live      liveBridges  // the open bridges, for Shutdown (drain.go)
	warnedAt  atomic.Int64 // UnixNano of the last unreachable-owner warning

	// copyBridges runs every bridge on goroutines (io.Copy, which splices
	// between plain TCP connections), and proxyGETs sends GETs through the
	// pooled client like POSTs: the alternatives the benchmarks measure.
	copyBridges, proxyGETs bool
}

// forwardIdleTimeout is how long a pooled connection to another node may stay
// idle. It must be shorter than the other nodes' keep-alive idle timeout: a
// POST is not retried on a connection the server closed as it was sent.
const forwardIdleTimeout = time.Second

func newForwarder(srv *Server) *forwarder {
	cfg := &srv.cfg
	f := &forwarder{
		srv:       srv,
		nodes:     cfg.Nodes,
		timeout:   cfg.ForwardTimeout,
		dialer:    net.Dialer{Timeout: cfg.ForwardTimeout, KeepAlive: 15 * time.Second},
		tls:       cfg.ForwardTLS,
		pollBound: cfg.PingInterval + cfg.PingTimeout + cfg.ForwardTimeout,
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			DialContext:           f.dialer.DialContext,
			TLSClientConfig:       cfg.ForwardTLS,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       forwardIdleTimeout,
			ResponseHeaderTimeout: f.pollBound,
			DisableCompression:    true,
		},
		// The owner's answer goes back as it is, redirects included.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// forward handles a request for sid, not a session of this server. It reports
// false, having written nothing, when the request is not to be forwarded (the
// tag is ours, or it was forwarded already) or the owner is unknown or out of
// reach: the caller then answers "Session ID unknown".
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, sid string, transport Transport) bool {
	if len(sid) <= NodeTagLen || r.Header.Get(forwardedHeader) != "" || f.srv.shutdown.Load() {
		return false
	}
	tag := sid[:NodeTagLen]
	if tag == f.nodes.Tag() {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	base, ok := f.nodes.NodeURL(ctx, tag)
	if !ok {
		f.srv.log.Debug("engine.io forward: no live node has the tag", slog.String("sid", sid))
		return false
	}
	hijackable := r.ProtoMajor == 1 && r.ContentLength == 0 && len(r.TransferEncoding) == 0
	if r.Method != http.MethodGet || (transport == Polling && (!hijackable || f.proxyGETs)) {
		return f.proxy(w, r, base, sid)
	}
	if !hijackable {
		return false // a WebSocket upgrade over HTTP/2 is not served here either
	}
	conn, err := f.dial(ctx, base)
	if err != nil {
		f.unreachable(base, sid, err)
		return false
	}
	f.bridge(w, r, conn, liveBridge{upgrade: transport == WebSocket, owner: base, path: r.URL.Path, sid: sid})
	return true
}

// dial connects to the node at base (http://host:port or https://host:port).
func (f *forwarder) dial(ctx context.Context, base string) (net.Conn, error) {
	scheme, hostport, ok := strings.Cut(base, "://")
	if !ok {
		return nil, errors.New("bad node URL " + base)
	}
	hostport = strings.TrimSuffix(hostport, "/")
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		if scheme == "https" {
			hostport = net.JoinHostPort(hostport, "443")
		} else {
			hostport = net.JoinHostPort(hostport, "80")
		}
	}
	if scheme == "https" {
		cfg := f.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(hostport)
		}
		d := tls.Dialer{NetDialer: &f.dialer, Config: cfg}
		return d.DialContext(ctx, "tcp", hostport)
	}
	return f.dialer.DialContext(ctx, "tcp", hostport)
}

// unreachable counts and logs a node that did not take a forwarded request;
// the warning is rate-limited, a dead node would otherwise log per request.
func (f *forwarder) unreachable(base, sid string, err error) {
	f.failed.Add(1)
	now := time.Now().UnixNano()
	last := f.warnedAt.Load()
	if now-last > int64(10*time.Second) && f.warnedAt.CompareAndSwap(last, now) {
		f.srv.log.Warn("engine.io forward: node unreachable", slog.String("node", base), slog.String("error", err.Error()))
		return
	}
	f.srv.log.Debug("engine.io forward: node unreachable", slog.String("node", base), slog.String("sid", sid), slog.String("error", err.Error()))
}

// requestURI is the request's path and query as the client sent them.
func requestURI(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// hopHeaders are not passed on: they describe one connection, not the request.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	forwardedHeader:       true,
}

// passHeader reports whether header k goes on to the other node.
func passHeader(h http.Header, k string) bool {
	if hopHeaders[k] {
		return false
	}
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(tok)) == k {
				return false
			}
		}
	}
	return true
}

// forwardedFor is the X-Forwarded-For value with the client's address added.
func forwardedFor(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		return strings.Join(prior, ", ") + ", " + ip
	}
	return ip
}

// appendRequestHead writes the request head that goes to the owner.
func (f *forwarder) appendRequestHead(b []byte, r *http.Request, upgrade bool) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, requestURI(r)...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	for k, vs := range r.Header {
		if k == "X-Forwarded-For" || k == "Host" || !passHeader(r.Header, k) {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "X-Forwarded-For: "...)
	b = append(b, forwardedFor(r)...)
	b = append(b, "\r\n"+forwardedHeader+": "...)
	b = append(b, f.nodes.Tag()...)
	if upgrade {
		b = append(b, "\r\nConnection: Upgrade\r\nUpgrade: "...)
		b = append(b, r.Header.Get("Upgrade")...)
	} else {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\n\r\n"...)
}

// bridge hijacks the client's connection, sends the request head on conn (to
// the owner) and splices the two connections until either ends.
func (f *forwarder) bridge(w http.ResponseWriter, r *http.Request, conn net.Conn, lb liveBridge) {
	upgrade, sid := lb.upgrade, lb.sid
	head := f.appendRequestHead(make([]byte, 0, 1024), r, upgrade)
	hdr := make(http.Header)
	f.srv.corsHeaders(hdr, r)
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = conn.Close()
		f.srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	}
	_ = client.SetDeadline(time.Time{})
	// Bytes the client sent after the head (WebSocket frames sent before the
	// 101, a pipelined request) are the owner's to read.
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		head = append(head, early...)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(f.timeout))
	if _, err := conn.Write(head); err != nil {
		_ = conn.Close()
		f.unreachable(conn.RemoteAddr().String(), sid, err)
		pw := &parkedWriter{srv: f.srv, conn: client, hdr: hdr}
		pw.fail(errUnknownSID, http.StatusBadRequest)
		_ = client.Close()
		return
	}
	_ = conn.SetWriteDeadline(time.Time{})
	f.forwarded.Add(1)
	// Until the owner answers: a WebSocket gets its 101 at once, a poll its
	// answer within a heartbeat.
	answerBy := time.Now().Add(f.pollBound)
	if upgrade {
		answerBy = time.Now().Add(f.timeout)
	}
	f.splice(client, conn, answerBy, lb)
}

// proxy forwards a POST, or a GET that cannot be hijacked, through the pooled
// client; the body streams both ways (a held GET is flushed as it comes).
func (f *forwarder) proxy(w http.ResponseWriter, r *http.Request, base, sid string) bool {
	bound := f.pollBound
	if r.Method != http.MethodGet {
		bound = f.timeout + f.srv.cfg.PollWriteTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), bound)
	defer cancel()
	body := r.Body
	if r.ContentLength == 0 {
		body = nil
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(base, "/")+requestURI(r), body)
	if err != nil {
		return false
	}
	out.ContentLength = r.ContentLength
	out.Host = r.Host
	for k, vs := range r.Header {
		if k != "X-Forwarded-For" && passHeader(r.Header, k) {
			out.Header[k] = vs
		}
	}
	out.Header.Set("X-Forwarded-For", forwardedFor(r))
	out.Header.Set(forwardedHeader, f.nodes.Tag())
	// A held GET must outlive a server-wide write timeout; the owner bounds it.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(bound))
	resp, err := f.client.Do(out)
	if err != nil {
		// Nothing has been written to the client: it gets the error of a
		// sid nobody knows, and reconnects.
		f.unreachable(base, sid, err)
		return false
	}
	defer resp.Body.Close()
	f.forwarded.Add(1)
	h := w.Header()
	for k, vs := range resp.Header {
		if passHeader(resp.Header, k) {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	var buf [4096]byte
	for {
		n, err := resp.Body.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return true
			}
			_ = rc.Flush()
		}
		if err != nil {
			return true
		}
	}
}
