package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"

	"github.com/socketd/socketd/internal/polltls"
)

// pubRec is one published message and what came back of it. Broadcasts use
// the first nBcast sequence numbers; channel publishes the rest.
type pubRec struct {
	sent     atomic.Int64 // ns since bench.base it was sent (channels: scheduled); 0 = not yet
	expected atomic.Int32 // deliveries it should produce
	got      atomic.Int32 // deliveries counted (a broadcast counts each client once)
	stage    atomic.Int32 // channels: index of the rate stage
	ch       atomic.Int32 // channels: channel number
}

// bench is one load-client run against one server or cluster. In a cluster
// run (cluster.go) the coordinator's bench holds no clients: its worker
// processes (worker.go) each run a bench for their share of them, and the
// coordinator reads their counts through remote.
type bench struct {
	cfg  config
	tls  *tls.Config // https:// servers (clientTLS)
	base time.Time
	log  io.Writer
	// wall: times are wall-clock nanoseconds since base (baseUnix), shared by
	// the coordinator and its workers on this machine; published messages
	// carry their send time ("sbts") so a worker can time what it receives.
	wall     bool
	baseUnix int64
	remote   *workerSet // cluster coordinator: the worker processes
	// A cluster worker owns the clients i with i%stride == offset.
	stride, offset int

	dial          dialer
	poll          *pollers     // -transport polling
	engine        *nbio.Engine // poll mode
	engineStarted time.Time
	clients       []atomic.Pointer[client]
	server        procGroup // the server's processes (a cluster's nodes); nil without -pid/-pids
	self          procGroup // the load client: this process and its workers
	redis         *procStat // a cluster's redis-server (-redis-pid), or nil

	pingIntervalMs atomic.Int64

	authed      atomic.Int64   // clients authenticated and still connected
	members     []atomic.Int32 // authenticated members per channel
	closing     atomic.Bool    // teardown: closes are expected
	disconnects atomic.Int64   // authenticated clients lost before teardown
	unexpected  atomic.Int64   // events that match no publish
	dups        atomic.Int64   // a broadcast seen twice by one client
	extra       atomic.Int64   // channel deliveries beyond the expected count
	misrouted   atomic.Int64   // channel deliveries to a client not in the channel

	pubs     []pubRec
	nBcast   int
	bcastLat [][]atomic.Int64 // [broadcast][client] latency ns, 0 = not received
	nextSeq  atomic.Int64
	hists    []*hist // channels: one per stage
	connHist hist    // connect+authenticate latency

	errTally
	connWG sync.WaitGroup // goroutine mode readers
}

// errTally counts errors by their text, keeping 20 distinct ones.
type errTally struct {
	errMu sync.Mutex
	errs  map[string]int
	nErrs int
}

func (b *bench) now() int64 {
	if b.wall {
		return time.Now().UnixNano() - b.baseUnix
	}
	return int64(time.Since(b.base))
}

func (b *bench) logf(format string, args ...any) {
	if b.log != nil {
		fmt.Fprintf(b.log, "socketbench: "+format+"\n", args...)
	}
}

// noteErr counts an error by its text (digits folded so ports and counts do
// not make every error distinct).
func (b *errTally) noteErr(err error) {
	msg := err.Error()
	var sb strings.Builder
	digit := false
	for _, r := range msg {
		if r >= '0' && r <= '9' {
			if !digit {
				sb.WriteByte('N')
			}
			digit = true
			continue
		}
		digit = false
		sb.WriteRune(r)
	}
	b.errMu.Lock()
	defer b.errMu.Unlock()
	b.nErrs++
	if b.errs == nil {
		b.errs = map[string]int{}
	}
	if _, ok := b.errs[sb.String()]; ok || len(b.errs) < 20 {
		b.errs[sb.String()]++
	}
}

func (b *errTally) errorList() []string {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	var out []string
	for k, v := range b.errs {
		out = append(out, fmt.Sprintf("%dx %s", v, k))
	}
	sort.Strings(out)
	return out
}

// hostAddr returns the dial address and Host header of an http:// or
// https:// base URL.
func hostAddr(raw string) (addr, host string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", fmt.Errorf("bad server URL %q (want http://host:port or https://host:port)", raw)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return addr, u.Host, nil
}

// clientTLS is the load client's TLS configuration for https:// servers:
// the -tls-ca CA, or no verification (loopback benchmarks). No session
// cache: every WebSocket client makes a full handshake, as a first visit.
func clientTLS(cfg config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA == "" {
		tc.InsecureSkipVerify = true //nolint:gosec // the benchmark's own loopback server
		return tc, nil
	}
	pem, err := os.ReadFile(cfg.TLSCA)
	if err != nil {
		return nil, err
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca %s: no certificate", cfg.TLSCA)
	}
	return tc, nil
}

func newBench(cfg config, logw io.Writer) (*bench, error) {
	b := &bench{
		cfg:      cfg,
		base:     time.Now(),
		log:      logw,
		wall:     cfg.cluster(),
		clients:  make([]atomic.Pointer[client], cfg.N),
		members:  make([]atomic.Int32, max(cfg.Channels, 1)),
		self:     newProcGroup(selfPID()),
		errTally: errTally{errs: map[string]int{}},
	}
	b.baseUnix = b.base.UnixNano()
	if pids := cfg.pids(); len(pids) > 0 {
		b.server = newProcGroup(pids...)
		if _, err := b.server.cpu(); err != nil {
			return nil, fmt.Errorf("cannot read /proc for the server's processes %v: %v", pids, err)
		}
	}
	if cfg.RedisPID > 0 {
		b.redis = newProcStat(cfg.RedisPID)
		if _, err := b.redis.cpu(); err != nil {
			return nil, fmt.Errorf("cannot read /proc for -redis-pid %d: %v", cfg.RedisPID, err)
		}
	}
	path := cfg.Path
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	b.dial = dialer{
		path:    fmt.Sprintf("%s?EIO=%d&transport=websocket", path, cfg.EIO),
		timeout: cfg.ConnectTimeout,
	}
	for _, raw := range cfg.targets() {
		addr, host, err := hostAddr(raw)
		if err != nil {
			return nil, err
		}
		t := dialTarget{addr: addr, host: host}
		if strings.HasPrefix(raw, "https://") {
			if b.tls == nil {
				if b.tls, err = clientTLS(cfg); err != nil {
					return nil, err
				}
			}
			t.tls = b.tls.Clone()
			t.tls.ServerName, _, _ = net.SplitHostPort(addr)
		}
		b.dial.targets = append(b.dial.targets, t)
	}
	for _, s := range cfg.sources() {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("bad source address %q", s)
		}
		b.dial.srcs = append(b.dial.srcs, &net.TCPAddr{IP: ip})
	}
	// Tables the receivers read are allocated before any connection exists.
	b.nBcast = 0
	if cfg.has("broadcast") {
		b.nBcast = cfg.Broadcasts + cfg.Warmup
	}
	nPubs := b.nBcast
	if cfg.has("channels") {
		nPubs += cfg.MaxPublishes
	}
	b.pubs = make([]pubRec, nPubs)
	b.bcastLat = make([][]atomic.Int64, b.nBcast)
	for i := range b.bcastLat {
		b.bcastLat[i] = make([]atomic.Int64, cfg.N)
	}
	b.nextSeq.Store(int64(b.nBcast))
	b.hists = make([]*hist, cfg.MaxStages)
	for i := range b.hists {
		b.hists[i] = new(hist)
	}
	if cfg.IO == "poll" && cfg.Transport != "polling" && !cfg.coordinator() {
		logging.SetLevel(logging.LevelNone)
		b.engine = nbio.NewEngine(nbio.Config{Name: "socketbench", NPoller: cfg.Pollers, ReadBufferSize: 64 << 10})
		b.engine.OnData(func(nc *nbio.Conn, data []byte) {
			c, ok := nc.Session().(*client)
			if !ok {
				return
			}
			c.mu.Lock()
			if c.tc != nil {
				if err := polltls.Feed(c.tc, data, c.feedTLS); err != nil {
					_ = nc.CloseWithError(err)
				}
			} else {
				c.feed(data)
			}
			c.mu.Unlock()
		})
		b.engine.OnClose(func(nc *nbio.Conn, _ error) {
			if c, ok := nc.Session().(*client); ok {
				c.onClosed()
			}
		})
		if err := b.engine.Start(); err != nil {
			return nil, err
		}
		b.engineStarted = time.Now()
	}
	return b, nil
}

// stopEngine stops the poll-mode event loop, bounded: nbio's pollers clear
// their shutdown flag when their goroutine starts, so a Stop that lands first
// is lost and Stop then waits forever while the pollers spin (seen when the
// stand-in backend's port was taken, right after Start). socketd's engine has
// the same guard.
func (b *bench) stopEngine() {
	if b.engine == nil {
		return
	}
	if wait := 200*time.Millisecond - time.Since(b.engineStarted); wait > 0 {
		time.Sleep(wait)
	}
	done := make(chan struct{})
	go func() { b.engine.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.logf("client event loop did not stop within 5s; leaving it")
	}
}

// onAuthed runs when a client has received clientAuthenticated.
func (b *bench) onAuthed(c *client) {
	b.authed.Add(1)
	b.members[int(c.idx)%len(b.members)].Add(1)
}

func (b *bench) onClientClosed(c *client, prev int32) {
	if prev != stAuthed {
		return
	}
	b.authed.Add(-1)
	b.members[int(c.idx)%len(b.members)].Add(-1)
	if !b.closing.Load() {
		b.disconnects.Add(1)
	}
}

// deliver counts one published message received by c. sentAt is when it was
// sent, read from the message in a worker (wall mode), or 0: then the
// publish table says.
func (b *bench) deliver(c *client, seq int, now, sentAt int64) {
	if seq >= len(b.pubs) {
		b.unexpected.Add(1)
		return
	}
	p := &b.pubs[seq]
	sent := p.sent.Load()
	if b.wall {
		// A worker learns of a publish from the coordinator's plan (expected)
		// and from the message itself (sent).
		if sentAt == 0 || (p.expected.Load() == 0 && seq < b.nBcast) {
			b.unexpected.Add(1)
			return
		}
		sent = sentAt
	}
	if sent == 0 {
		b.unexpected.Add(1)
		return
	}
	lat := max(now-sent, 1)
	if seq < b.nBcast {
		if !b.bcastLat[seq][c.idx].CompareAndSwap(0, lat) {
			b.dups.Add(1)
			return
		}
		p.got.Add(1)
		return
	}
	if int(c.idx)%len(b.members) != int(p.ch.Load()) {
		b.misrouted.Add(1)
	}
	if p.got.Add(1) > p.expected.Load() {
		b.extra.Add(1)
	}
	b.hists[p.stage.Load()].add(lat)
}

// connectOne opens client i and follows the Drupal flow up to
// clientAuthenticated on the calling goroutine, then hands the connection to
// the poller (or to a reader goroutine).
func (b *bench) connectOne(i int, buf []byte) error {
	start := time.Now()
	deadline := start.Add(b.cfg.ConnectTimeout)
	nc, rest, err := b.dial.handshake(i, deadline)
	if err != nil {
		return err
	}
	c := &client{b: b, idx: int32(i), nc: nc}
	b.clients[i].Store(c)
	c.mu.Lock()
	if len(rest) > 0 {
		c.feed(rest)
	}
	for c.failed == nil && c.st.Load() != stAuthed {
		c.mu.Unlock()
		n, rerr := nc.Read(buf)
		c.mu.Lock()
		if n > 0 {
			c.feed(buf[:n])
		}
		if rerr != nil && c.failed == nil && c.st.Load() != stAuthed {
			c.failed = rerr
		}
	}
	failed := c.failed
	c.mu.Unlock()
	if failed != nil {
		_ = nc.Close()
		c.onClosed()
		if st := c.st.Load(); errors.Is(failed, errServerClose) || errors.Is(failed, errNamespaceRefused) {
			return fmt.Errorf("%w (state %d)", failed, st)
		}
		return failed
	}
	_ = nc.SetDeadline(time.Time{})
	b.connHist.add(int64(time.Since(start)))
	if b.engine == nil {
		b.connWG.Add(1)
		go b.readLoop(c)
		return nil
	}
	var nb *nbio.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		// TLS: the socket moves to the poller and crypto/tls decrypts what
		// it reads (internal/polltls), so an idle wss client holds no
		// goroutine either. What crypto/tls had read already is fed first.
		nb, err = polltls.Of(tc).Detach()
		if err == nil {
			c.mu.Lock()
			c.tc = tc
			err = polltls.Feed(tc, nil, c.feedTLS)
			c.mu.Unlock()
		}
	} else {
		nb, err = nbio.NBConn(nc) // dups the descriptor and closes nc
	}
	if err != nil {
		_ = nc.Close()
		c.onClosed()
		return err
	}
	nb.SetSession(c)
	c.nb.Store(nb)
	if _, err := b.engine.AddConn(nb); err != nil {
		c.onClosed()
		return err
	}
	if c.tc != nil {
		polltls.Of(c.tc).Attached()
	}
	return nil
}

// readLoop is goroutine mode: one blocked reader per connection.
func (b *bench) readLoop(c *client) {
	defer b.connWG.Done()
	buf := make([]byte, 1024)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.mu.Lock()
			c.feed(buf[:n])
			c.mu.Unlock()
		}
		if err != nil {
			_ = c.nc.Close()
			c.onClosed()
			return
		}
	}
}

// connectRange opens clients [from, to) with cfg.Concurrency in flight: in
// a cluster worker the ones it owns, in a coordinator through its workers.
func (b *bench) connectRange(ctx context.Context, from, to int) (ok, failed int) {
	if b.remote != nil {
		return b.remote.connect(ctx, from, to)
	}
	stride := max(b.stride, 1)
	first := from + ((b.offset-from)%stride+stride)%stride // the first owned index
	if first >= to {
		return 0, 0
	}
	count := (to - first + stride - 1) / stride
	var next atomic.Int64
	var nok, nfail atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(b.cfg.Concurrency, count); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= count {
					return
				}
				i := first + k*stride
				if err := b.connectOne(i, buf); err != nil {
					nfail.Add(1)
					b.noteErr(err)
					continue
				}
				nok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(nok.Load()), int(nfail.Load())
}

// pinger sends the client's heartbeat in EIO=3 (the client pings there),
// spreading the clients over the interval.
func (b *bench) pinger(ctx context.Context) {
	const tick = 250 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		iv := time.Duration(b.pingIntervalMs.Load()) * time.Millisecond
		if iv <= 0 {
			iv = 25 * time.Second
		}
		slots := max(int(iv/tick)-1, 1) // a little early rather than late
		for i := n % slots; i < len(b.clients); i += slots {
			c := b.clients[i].Load()
			if c != nil && c.st.Load() == stAuthed && (b.engine == nil || c.nb.Load() != nil) {
				_ = c.write("2")
			}
		}
	}
}

// closeAll ends every connection; servers see ordinary transport closes.
func (b *bench) closeAll() {
	b.closing.Store(true)
	for i := range b.clients {
		if c := b.clients[i].Load(); c != nil && c.st.Load() != stClosed {
			c.closeConn()
		}
	}
	if b.engine != nil {
		b.stopEngine()
	} else {
		done := make(chan struct{})
		go func() { b.connWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}

// serverCPU returns the server's CPU time, or -1 without -pid.
func (b *bench) serverCPU() time.Duration {
	if b.server == nil {
		return -1
	}
	d, err := b.server.cpu()
	if err != nil {
		return -1
	}
	return d
}

// serverSysCPU returns the server's system CPU time, or -1 without -pid.
func (b *bench) serverSysCPU() time.Duration {
	if b.server == nil {
		return -1
	}
	d, err := b.server.sysCPU()
	if err != nil {
		return -1
	}
	return d
}

func (b *bench) serverRSS() int64 {
	if b.server == nil {
		return -1
	}
	kb, _, err := b.server.status()
	if err != nil {
		return -1
	}
	return kb
}

// publisher posts messages to the server's publish route over kept-alive
// HTTP/1.1 connections and returns the "sent" count of each reply (spec §2,
// §4.3). It is a minimal client (one write and a buffered read per request,
// no goroutines of its own) so that the load client is cheap per publish:
// the channel scenario shares the cores with the server.
type publisher struct {
	addr, host, path, key string
	tls                   *tls.Config // https servers
	timeout               time.Duration
	idle                  chan *pconn
}

type pconn struct {
	c      net.Conn
	br     *bufio.Reader
	reused bool
}

// newPublisher posts to the server at base (cfg.URL or one of cfg.URLs),
// over TLS with tc for an https:// base.
func newPublisher(cfg config, base string, conns int, tc *tls.Config) *publisher {
	u, _ := url.Parse(base)
	addr, host, _ := hostAddr(base) // validated by newBench
	if u.Scheme != "https" {
		tc = nil
	} else {
		tc = tc.Clone()
		tc.ServerName = u.Hostname()
	}
	return &publisher{
		addr: addr, host: host, key: cfg.ServiceKey, timeout: 30 * time.Second, tls: tc,
		path: strings.TrimSuffix(u.Path, "/") + cfg.BasePath + "publish",
		idle: make(chan *pconn, conns),
	}
}

// publishers returns one publisher per server of the run (a cluster's nodes,
// in cfg.URLs order), each keeping up to conns connections.
func (b *bench) publishers(conns int) []*publisher {
	var out []*publisher
	for _, u := range b.cfg.targets() {
		out = append(out, newPublisher(b.cfg, u, conns, b.tls))
	}
	return out
}

func closeAllPublishers(ps []*publisher) {
	for _, p := range ps {
		p.close()
	}
}

var errPublishRefused = errors.New("publish refused")

func (p *publisher) post(body []byte) (int, error) {
	req := make([]byte, 0, 192+len(body))
	req = append(req, "POST "...)
	req = append(req, p.path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, p.host...)
	req = append(req, "\r\nContent-Type: application/json\r\nNodejsServiceKey: "...)
	req = append(req, p.key...)
	req = append(req, "\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	req = append(req, body...)
	for attempt := 0; ; attempt++ {
		pc, err := p.get()
		if err != nil {
			return 0, err
		}
		status, rb, keep, err := pc.roundTrip(req, p.timeout)
		if err != nil {
			_ = pc.c.Close()
			// A kept-alive connection the server closed while idle fails
			// before any reply byte: send again once, on a new connection.
			if pc.reused && attempt == 0 && errors.Is(err, errStaleConn) {
				continue
			}
			return 0, err
		}
		p.put(pc, keep)
		if status != http.StatusOK || !bytes.Contains(rb, []byte(`"success"`)) {
			return 0, fmt.Errorf("%w: HTTP %d %.100s", errPublishRefused, status, rb)
		}
		sent, ok := intAfter(rb, []byte(`"sent":`))
		if !ok {
			return -1, nil
		}
		return sent, nil
	}
}

func (p *publisher) get() (*pconn, error) {
	select {
	case pc := <-p.idle:
		pc.reused = true
		return pc, nil
	default:
	}
	c, err := net.DialTimeout("tcp", p.addr, p.timeout)
	if err != nil {
		return nil, err
	}
	if p.tls != nil {
		tc := tls.Client(c, p.tls)
		_ = tc.SetDeadline(time.Now().Add(p.timeout))
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return nil, err
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	return &pconn{c: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

func (p *publisher) put(pc *pconn, keep bool) {
	if keep {
		select {
		case p.idle <- pc:
			return
		default:
		}
	}
	_ = pc.c.Close()
}

func (p *publisher) close() {
	for {
		select {
		case pc := <-p.idle:
			_ = pc.c.Close()
		default:
			return
		}
	}
}

var errStaleConn = errors.New("connection closed before the reply")

// roundTrip writes one request and reads one response (status, body and
// whether the connection may be reused), with Content-Length or chunked bodies.
func (pc *pconn) roundTrip(req []byte, timeout time.Duration) (int, []byte, bool, error) {
	_ = pc.c.SetDeadline(time.Now().Add(timeout))
	if _, err := pc.c.Write(req); err != nil {
		return 0, nil, false, errStaleConn
	}
	line, err := pc.br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return 0, nil, false, errStaleConn
		}
		return 0, nil, false, err
	}
	// "HTTP/1.1 200 OK"
	_, rest, _ := bytes.Cut(line, []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	status, err := strconv.Atoi(string(bytes.TrimSpace(code)))
	if err != nil {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	clen, chunked, keep := -1, false, true
	for {
		h, err := pc.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			clen, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	var body []byte
	switch {
	case chunked:
		for {
			l, err := pc.br.ReadSlice('\n')
			if err != nil {
				return 0, nil, false, err
			}
			sz, _, _ := bytes.Cut(bytes.TrimSpace(l), []byte(";"))
			n, err := strconv.ParseInt(string(sz), 16, 32)
			if err != nil || n < 0 || len(body)+int(n) > 1<<20 {
				return 0, nil, false, errors.New("bad chunked reply")
			}
			if n == 0 {
				for { // trailers up to the blank line
					t, err := pc.br.ReadSlice('\n')
					if err != nil {
						return 0, nil, false, err
					}
					if len(bytes.TrimSpace(t)) == 0 {
						break
					}
				}
				break
			}
			start := len(body)
			body = append(body, make([]byte, n+2)...)
			if _, err := io.ReadFull(pc.br, body[start:]); err != nil {
				return 0, nil, false, err
			}
			body = body[:len(body)-2]
		}
	case clen >= 0:
		if clen > 1<<20 {
			return 0, nil, false, errors.New("reply too large")
		}
		body = make([]byte, clen)
		if _, err := io.ReadFull(pc.br, body); err != nil {
			return 0, nil, false, err
		}
	default: // until close
		b, err := io.ReadAll(io.LimitReader(pc.br, 1<<20))
		if err != nil {
			return 0, nil, false, err
		}
		body, keep = b, false
	}
	_ = pc.c.SetDeadline(time.Time{})
	return status, body, keep, nil
}
