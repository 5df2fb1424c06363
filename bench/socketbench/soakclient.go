package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The soak's sockets (soak.go): one goroutine each, blocking reads with
// deadlines for heartbeats and the end of their lifetime.

// soakWS is one WebSocket socket of the soak.
type soakWS struct {
	s    *soak
	nc   net.Conn
	st   *sockState
	idx  int
	pend []byte // read, not yet parsed
	msg  []byte // a fragmented message being reassembled
	buf  []byte
	wbuf []byte
	ping time.Duration // EIO=3: the client pings every pingInterval
	next time.Time
}

// wsConnect dials, and reads until the socket is authenticated, with at
// most cfg.Concurrency sockets connecting at once.
func (s *soak) wsConnect(ctx context.Context, d *dialer, idx int, st *sockState) (*soakWS, error) {
	select {
	case s.connSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.connSem }()
	deadline := time.Now().Add(s.cfg.ConnectTimeout)
	nc, rest, err := d.handshake(idx, deadline)
	if err != nil {
		s.connectFailed(ctx)
		return nil, err
	}
	c := &soakWS{s: s, nc: nc, st: st, idx: idx, buf: make([]byte, 4096), pend: rest}
	if err := c.frames(); err != nil {
		nc.Close()
		s.connectFailed(ctx)
		return nil, err
	}
	for !st.authed && err == nil && !st.closed {
		err = c.readSome()
	}
	if err == nil && st.closed {
		err = errServerClose
	}
	if err != nil {
		nc.Close()
		s.connectFailed(ctx)
		return nil, fmt.Errorf("websocket EIO=%d connect: %w", st.eio, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c.ping = time.Duration(max(st.pingMs, 1000)) * time.Millisecond
	c.next = time.Now().Add(c.ping)
	s.connects.Add(1)
	s.authed.Add(1)
	return c, nil
}

// connectFailed counts a failed connect, unless the run is ending.
func (s *soak) connectFailed(ctx context.Context) {
	if ctx.Err() == nil {
		s.connectFails.Add(1)
	}
}

// wsSocket holds one WebSocket socket for its lifetime, then leaves.
func (s *soak) wsSocket(ctx context.Context, idx, eio int, life time.Duration, leave int) error {
	st := &sockState{s: s, eio: eio}
	c, err := s.wsConnect(ctx, &s.ws[eio-3], idx, st)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	defer s.authed.Add(-1)
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetReadDeadline(time.Now()) })
	defer stop()
	end := time.Now().Add(life)
	for {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		dl := end
		if eio == 3 {
			if !now.Before(c.next) {
				if err := c.write("2"); err != nil {
					s.dropped.Add(1)
					return fmt.Errorf("websocket ping: %w", err)
				}
				c.next = now.Add(c.ping)
			}
			dl = minTime(dl, c.next)
		}
		_ = c.nc.SetReadDeadline(dl)
		if ctx.Err() != nil { // after the deadline is set: AfterFunc's comes later
			return nil
		}
		err := c.readSome()
		if err == nil && st.closed {
			err = errServerClose
		}
		if err != nil && !isTimeout(err) {
			if ctx.Err() != nil {
				return nil
			}
			s.dropped.Add(1)
			return fmt.Errorf("websocket EIO=%d: %w", eio, err)
		}
	}
	// Leave, the way browsers do.
	if leave == leaveSIODisconnect {
		_ = c.write("41")
	}
	if leave != leaveTCP {
		c.writeFrame(0x88, []byte{0x03, 0xe8}) // close, 1000
	}
	s.closes[leave].Add(1)
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *soakWS) write(pkt string) error { return c.writeFrame(0x81, []byte(pkt)) }

func (c *soakWS) writeFrame(b0 byte, payload []byte) error {
	c.wbuf = appendClientFrame(c.wbuf[:0], b0, payload)
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(c.wbuf)
	return err
}

// readSome reads once and handles every complete frame.
func (c *soakWS) readSome() error {
	n, err := c.nc.Read(c.buf)
	if n > 0 {
		c.pend = append(c.pend, c.buf[:n]...)
		if ferr := c.frames(); ferr != nil {
			return ferr
		}
	}
	return err
}

// frames handles the complete frames in pend and keeps the rest.
func (c *soakWS) frames() error {
	d := c.pend
	for len(d) >= 2 {
		b0, b1 := d[0], d[1]
		n, h := int(b1&0x7f), 2
		switch n {
		case 126:
			if len(d) < 4 {
				return c.keep(d)
			}
			n, h = int(binary.BigEndian.Uint16(d[2:])), 4
		case 127:
			if len(d) < 10 {
				return c.keep(d)
			}
			l := binary.BigEndian.Uint64(d[2:])
			if l > maxFrame {
				return errFrame
			}
			n, h = int(l), 10
		}
		if b1&0x80 != 0 { // servers do not mask
			return errFrame
		}
		if len(d) < h+n {
			break
		}
		p := d[h : h+n]
		d = d[h+n:]
		fin, op := b0&0x80 != 0, b0&0x0f
		switch op {
		case 0x0:
			if c.msg == nil {
				return errFrame
			}
			c.msg = append(c.msg, p...)
			if len(c.msg) > maxFrame {
				return errFrame
			}
			if fin {
				m := c.msg
				c.msg = nil
				if err := c.message(m); err != nil {
					return err
				}
			}
		case 0x1, 0x2:
			if !fin {
				c.msg = append([]byte(nil), p...)
				continue
			}
			if err := c.message(p); err != nil {
				return err
			}
		case 0x8:
			c.st.closed = true
			_ = c.writeFrame(0x88, nil)
			return errServerClose
		case 0x9:
			if err := c.writeFrame(0x8A, p); err != nil {
				return err
			}
		case 0xA:
		default:
			return errFrame
		}
	}
	return c.keep(d)
}

// keep moves the unparsed tail d of pend to its front.
func (c *soakWS) keep(d []byte) error {
	c.pend = c.pend[:copy(c.pend, d)]
	if cap(c.pend) > 64<<10 && len(c.pend) < 4<<10 {
		c.pend = append([]byte(nil), c.pend...) // after a large message
	}
	return nil
}

func (c *soakWS) message(p []byte) error {
	for _, r := range c.st.packet(p, c.idx) {
		if err := c.write(r); err != nil {
			return err
		}
	}
	return nil
}

// drain reads until the server ends the connection (true) or nothing ends it
// within d (false).
func (c *soakWS) drain(d time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		err := c.readSome()
		if err == nil && c.st.closed {
			return true
		}
		if err != nil {
			return !isTimeout(err)
		}
	}
}

// Long-polling ------------------------------------------------------------------

// pollConnect opens a polling session and authenticates it.
func (s *soak) pollConnect(ctx context.Context, idx int, st *sockState) (*pollSession, error) {
	select {
	case s.connSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.connSem }()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	ps := &pollSession{hc: s.hc, eio: st.eio,
		base: strings.TrimSuffix(s.cfg.URL, "/") + s.cfg.Path + "?EIO=" + strconv.Itoa(st.eio) + "&transport=polling"}
	pkts, err := ps.get(cctx, ps.base+"&t="+strconv.Itoa(idx))
	if err == nil {
		err = ps.open(pkts)
	}
	for err == nil {
		if err = s.pollHandle(cctx, ps, st, pkts, idx); err != nil || st.authed {
			break
		}
		pkts, err = ps.get(cctx, ps.base+"&sid="+ps.sid)
	}
	if err != nil {
		s.connectFailed(ctx)
		return nil, fmt.Errorf("polling EIO=%d connect: %w", st.eio, err)
	}
	s.connects.Add(1)
	s.authed.Add(1)
	return ps, nil
}

// pollHandle handles one GET's packets and posts the replies.
func (s *soak) pollHandle(ctx context.Context, ps *pollSession, st *sockState, pkts []string, idx int) error {
	for _, p := range pkts {
		for _, r := range st.packet([]byte(p), idx) {
			if err := ps.post(ctx, r); err != nil {
				return err
			}
		}
		if st.closed {
			return errServerClose
		}
	}
	return nil
}

// pinger posts EIO=3's client pings every interval until ctx ends.
func (s *soak) pollPinger(ctx context.Context, ps *pollSession, every time.Duration, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := ps.post(ctx, "2"); err != nil && ctx.Err() == nil {
				s.noteErr(fmt.Errorf("polling ping: %w", err))
			}
		}
	}()
}

// pollSocket holds one polling socket for its lifetime, then leaves.
func (s *soak) pollSocket(ctx context.Context, idx, eio int, life time.Duration, leave int) error {
	st := &sockState{s: s, eio: eio}
	ps, err := s.pollConnect(ctx, idx, st)
	if err != nil {
		return err
	}
	defer s.authed.Add(-1)
	lctx, endLife := context.WithTimeout(ctx, life)
	defer endLife()
	var wg sync.WaitGroup
	if eio == 3 {
		s.pollPinger(lctx, ps, ps.every, &wg)
	}
	for err == nil {
		var pkts []string
		pkts, err = ps.get(lctx, ps.base+"&sid="+ps.sid)
		if err == nil {
			err = s.pollHandle(lctx, ps, st, pkts, idx)
		}
	}
	endLife()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if lctx.Err() == nil || errors.Is(err, errServerClose) {
		s.dropped.Add(1)
		return fmt.Errorf("polling EIO=%d: %w", eio, err)
	}
	if leave == leavePollClose {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = ps.post(cctx, "1")
		cancel()
	}
	s.closes[leave].Add(1)
	return nil
}

// Slow consumers --------------------------------------------------------------

// slowConsumer cycles slow consumer j until ctx ends: connect, stall, check.
func (s *soak) slowConsumer(ctx context.Context, j int) {
	idx := s.cfg.N + j // the backend puts it in soakSlowChannel
	for ctx.Err() == nil {
		var err error
		switch j % 3 {
		case 0:
			err = s.slowWSCycle(ctx, idx, 4)
		case 1:
			err = s.slowWSCycle(ctx, idx, 3)
		default:
			err = s.slowPoll(ctx, idx)
		}
		if err != nil && ctx.Err() == nil {
			s.noteErr(fmt.Errorf("slow consumer: %w", err))
			sleepCtx(ctx, time.Second)
		}
	}
}

// slowHeartbeat is how often a stalled consumer still sends its heartbeat,
// so that only the byte bound can end it.
const slowHeartbeat = 5 * time.Second

// stall waits SlowStall while beat succeeds; it reports whether ctx ended first.
func (s *soak) stall(ctx context.Context, beat func() error) (aborted bool) {
	end := time.Now().Add(s.sc.SlowStall)
	for time.Now().Before(end) {
		sleepCtx(ctx, min(slowHeartbeat, time.Until(end)))
		if ctx.Err() != nil {
			return true
		}
		if beat() != nil {
			return false // the server is gone: look now
		}
	}
	return false
}

func (s *soak) slowOutcome(cut, aborted bool) {
	switch {
	case cut:
		s.slowCut.Add(1)
	case aborted:
		s.slowAbort.Add(1)
	default:
		s.slowNotCut.Add(1)
	}
}

// slowWSCycle: a WebSocket consumer that stops reading (its receive buffer is
// small) but keeps sending its heartbeat ("2" in EIO=3; an unasked "3" in
// EIO=4, where the server's pings go unread).
func (s *soak) slowWSCycle(ctx context.Context, idx, eio int) error {
	st := &sockState{s: s, eio: eio}
	c, err := s.wsConnect(ctx, &s.slowWS[eio-3], idx, st)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	defer s.authed.Add(-1)
	s.slowCycles.Add(1)
	hb := "2"
	if eio == 4 {
		hb = "3"
	}
	aborted := s.stall(ctx, func() error { return c.write(hb) })
	d := 30 * time.Second
	if aborted {
		d = 2 * time.Second
	}
	cut := c.drain(d)
	s.slowMsgs.Add(st.slowMsg)
	s.slowOutcome(cut, aborted)
	return nil
}

// slowPoll: an EIO=3 polling consumer that posts its pings but never GETs;
// once the server has cut it off, its session is unknown (HTTP 400).
func (s *soak) slowPoll(ctx context.Context, idx int) error {
	st := &sockState{s: s, eio: 3}
	ps, err := s.pollConnect(ctx, idx, st)
	if err != nil {
		return err
	}
	defer s.authed.Add(-1)
	s.slowCycles.Add(1)
	unknown := func(err error) bool {
		var se *statusError
		return errors.As(err, &se) && se.code == http.StatusBadRequest
	}
	var beatErr error
	aborted := s.stall(ctx, func() error {
		beatErr = ps.post(ctx, "2")
		return beatErr
	})
	cut := unknown(beatErr)
	if !cut {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pkts, err := ps.get(cctx, ps.base+"&sid="+ps.sid)
		cancel()
		cut = unknown(err)
		for _, p := range pkts {
			cut = cut || p == "1"
		}
	}
	s.slowOutcome(cut, aborted)
	return nil
}
