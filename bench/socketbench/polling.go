package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Long-polling clients, for issue 5's "2,000 EIO=3 polling clients held" target:
// what a Drupal page's socket.io-client 2.x is before it upgrades (or for good,
// behind a proxy without WebSockets). Each client is a goroutine that keeps one
// GET held at all times and POSTs its packets, as the browser does; it never
// upgrades. Only the idle scenario runs over polling.

// pollers is the state of the polling clients of one run.
type pollers struct {
	hc     *http.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// runPollingConnect connects cfg.N polling clients through the Drupal flow and
// leaves them holding GETs until closePolling.
func (b *bench) runPollingConnect(ctx context.Context) *connectResult {
	cfg := b.cfg
	r := &connectResult{Target: cfg.N, Steps: 1}
	tr := &http.Transport{
		// A held GET and a POST per client at times: keep them all alive.
		MaxIdleConns:        2*cfg.N + 64,
		MaxIdleConnsPerHost: 2*cfg.N + 64,
		// Below Node's 65 s keep-alive: a ping POST must not land on a
		// connection the server is closing (EIO=3 would then miss a ping).
		IdleConnTimeout:    30 * time.Second,
		DisableCompression: true,
	}
	if b.tls != nil {
		// As a browser: sessions resumed (a parked poll's answer closes its
		// connection, so every poll cycle makes a handshake), HTTP/2 only
		// with -http2 (one connection per client then).
		tc := b.tls.Clone()
		tc.ClientSessionCache = tls.NewLRUClientSessionCache(cfg.N)
		tr.TLSClientConfig = tc
		tr.ForceAttemptHTTP2 = cfg.HTTP2
	}
	pctx, cancel := context.WithCancel(context.Background())
	b.poll = &pollers{hc: &http.Client{Transport: tr}, cancel: cancel}
	cpu0, self0 := b.serverCPU(), b.selfCPU()
	t0 := time.Now()
	done := make(chan error, cfg.N)
	sem := make(chan struct{}, cfg.Concurrency)
	for i := 0; i < cfg.N && ctx.Err() == nil; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		b.poll.wg.Add(1)
		go func() {
			defer b.poll.wg.Done()
			b.pollClient(pctx, i, func(err error) { <-sem; done <- err })
		}()
	}
	deadline := time.NewTimer(cfg.ConnectTimeout + 5*time.Second)
	defer deadline.Stop()
	for n := 0; n < cfg.N; n++ {
		select {
		case err := <-done:
			if err != nil {
				r.Failed++
				b.noteErr(err)
			} else {
				r.OK++
			}
		case <-deadline.C:
			r.Failed += cfg.N - n
			n = cfg.N
		case <-ctx.Done():
			r.Failed += cfg.N - n
			n = cfg.N
		}
	}
	active := time.Since(t0)
	b.logf("polling: %d authenticated (%d failed) in %.2fs", r.OK, r.Failed, active.Seconds())
	b.connectTotals(r, active, cpu0, self0)
	return r
}

// closePolling ends every polling client and waits (bounded) for them.
func (b *bench) closePolling() {
	if b.poll == nil {
		return
	}
	b.closing.Store(true)
	b.poll.cancel()
	done := make(chan struct{})
	go func() { b.poll.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.logf("polling clients did not stop within 5s")
	}
	b.poll.hc.CloseIdleConnections()
}

// pollSession is one polling client's Engine.IO session.
type pollSession struct {
	hc    *http.Client
	base  string // .../socket.io/?EIO=N&transport=polling
	sid   string
	eio   int
	every time.Duration // pingInterval
}

// pollClient runs one client: handshake, authenticate, then held GETs until ctx
// ends. ready is called once: nil when clientAuthenticated arrived.
func (b *bench) pollClient(ctx context.Context, idx int, ready func(error)) {
	cfg := b.cfg
	start := time.Now()
	authed := false
	var readyOnce sync.Once
	signal := func(err error) { readyOnce.Do(func() { ready(err) }) }
	fail := func(err error) {
		signal(err)
		if authed && !b.closing.Load() && ctx.Err() == nil {
			b.disconnects.Add(1)
			b.noteErr(err)
		}
		if authed {
			b.authed.Add(-1)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	s := &pollSession{hc: b.poll.hc, eio: cfg.EIO,
		base: strings.TrimSuffix(cfg.URL, "/") + cfg.Path + "?EIO=" + strconv.Itoa(cfg.EIO) + "&transport=polling"}
	pkts, err := s.get(cctx, s.base+"&t="+strconv.Itoa(idx))
	if err == nil {
		err = s.open(pkts)
	}
	if err == nil && s.eio == 4 {
		// Socket.IO v5 clients ask to join "/"; v4 ones (EIO=3) are in it already.
		err = s.post(cctx, "40")
	}
	if err == nil {
		err = s.post(cctx, `42["authenticate",{"authToken":"tok-`+strconv.Itoa(idx)+`"}]`)
	}
	cancel()
	if err != nil {
		fail(fmt.Errorf("polling handshake: %w", err))
		return
	}
	pctx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	if s.eio == 3 {
		// EIO=3 clients ping; the server answers on the held GET.
		go func() {
			t := time.NewTicker(s.every)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
					if err := s.post(pctx, "2"); err != nil && pctx.Err() == nil {
						b.noteErr(fmt.Errorf("polling ping: %w", err))
					}
				}
			}
		}()
	}
	authDeadline := start.Add(cfg.ConnectTimeout)
	for ctx.Err() == nil {
		if !authed && time.Now().After(authDeadline) {
			fail(errors.New("polling: no clientAuthenticated within -connect-timeout"))
			return
		}
		pkts, err := s.get(ctx, s.base+"&sid="+s.sid)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fail(fmt.Errorf("polling GET: %w", err))
			return
		}
		for _, p := range pkts {
			switch {
			case p == "1":
				fail(errors.New("polling: server closed the session"))
				return
			case p == "2": // EIO=4: the server pings
				if err := s.post(ctx, "3"); err != nil && ctx.Err() == nil {
					fail(fmt.Errorf("polling pong: %w", err))
					return
				}
			case !authed && strings.HasPrefix(p, "42") && strings.Contains(p, `"clientAuthenticated"`):
				authed = true
				b.authed.Add(1)
				b.connHist.add(int64(time.Since(start)))
				signal(nil)
			case strings.HasPrefix(p, "44"):
				fail(fmt.Errorf("polling: connect error %s", p))
				return
			}
		}
	}
	signal(errors.New("polling: stopped before authenticating"))
	if authed {
		b.authed.Add(-1)
	}
}

// open reads the handshake: the open packet (and, for socket.io v4 over EIO=3,
// perhaps the implicit CONNECT after it).
func (s *pollSession) open(pkts []string) error {
	if len(pkts) == 0 || !strings.HasPrefix(pkts[0], "0{") {
		return fmt.Errorf("no open packet in %q", pkts)
	}
	var hs struct {
		SID          string `json:"sid"`
		PingInterval int    `json:"pingInterval"`
	}
	if err := json.Unmarshal([]byte(pkts[0][1:]), &hs); err != nil || hs.SID == "" {
		return fmt.Errorf("open packet %q: %v", pkts[0], err)
	}
	s.sid = hs.SID
	s.every = time.Duration(max(hs.PingInterval, 1000)) * time.Millisecond
	return nil
}

func (s *pollSession) get(ctx context.Context, u string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{"GET", resp.StatusCode, body}
	}
	return decodePayload(s.eio, body)
}

func (s *pollSession) post(ctx context.Context, pkt string) error {
	body := pkt
	if s.eio == 3 {
		body = strconv.Itoa(utf16Len(pkt)) + ":" + pkt
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"&sid="+s.sid, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ok, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return &statusError{"POST", resp.StatusCode, ok}
	}
	return nil
}

// statusError is a polling request the server answered with an error status
// (400 for a session it does not know).
type statusError struct {
	method string
	code   int
	body   []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s status %d: %.100s", e.method, e.code, e.body)
}

// decodePayload splits a text polling payload: EIO=4 separates packets with
// 0x1e; EIO=3 prefixes each with its length in UTF-16 code units and a colon.
func decodePayload(eio int, body []byte) ([]string, error) {
	if eio != 3 {
		return strings.Split(string(body), "\x1e"), nil
	}
	var out []string
	for len(body) > 0 {
		colon := bytes.IndexByte(body, ':')
		if colon <= 0 {
			return out, fmt.Errorf("EIO=3 payload without a length: %.60q", body)
		}
		n, err := strconv.Atoi(string(body[:colon]))
		if err != nil || n < 0 {
			return out, fmt.Errorf("EIO=3 payload length %q", body[:colon])
		}
		body = body[colon+1:]
		// Take n UTF-16 code units' worth of runes.
		i, units := 0, 0
		for units < n && i < len(body) {
			r, size := utf8.DecodeRune(body[i:])
			i += size
			units++
			if r > 0xFFFF {
				units++
			}
		}
		if units != n {
			return out, fmt.Errorf("EIO=3 payload shorter than its length %d", n)
		}
		out = append(out, string(body[:i]))
		body = body[i:]
	}
	return out, nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}
