package engine

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Parked polls.
//
// A long-polling client always has one GET held. Held inside its net/http
// handler it costs the connection's goroutine (its stack grown by the request
// it served), net/http's background-read goroutine, a 4 KB read buffer and 6 KB
// of write buffers: about 30 KB per idle polling client, more than Node. A held
// GET over plain HTTP/1.x is instead taken off net/http (hijacked) and parked:
// one small goroutine blocks reading the connection, so a client that goes away
// is noticed at once, as before; a wake-up interrupts that read with a past
// deadline, and the goroutine answers and closes the connection
// (Connection: close; the client's next GET opens a new one). Config.
// HoldPollsInHandler turns this off. Over TLS from an internal/polltls
// listener the GET waits on the event loop instead, with no goroutine
// (parktls.go); other TLS connections park here, through the *tls.Conn.
// HTTP/2 requests are always held in their handler (a stream cannot be
// hijacked).

// parkedPoll is a held GET's connection, off net/http.
type parkedPoll struct {
	conn  net.Conn
	woken atomic.Bool
	// answer, when set, answers a GET parked on the poller (parktls.go);
	// otherwise the parked goroutine answers once its read is interrupted.
	answer func()
}

// wake makes the parked GET answer now. It may be called more than once and
// from any goroutine; it does no I/O (on the poller the answer runs on a
// goroutine of its own).
func (p *parkedPoll) wake() {
	if p.woken.CompareAndSwap(false, true) {
		if p.answer != nil {
			go p.answer()
			return
		}
		_ = p.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// park hijacks the request's connection to hold the GET without net/http. ch
// is the session's poll slot for this GET. It reports false when the request
// cannot be hijacked; the caller then holds it in the handler.
func (srv *Server) park(w http.ResponseWriter, r *http.Request, s *Session, ch chan struct{}, jsonp int) bool {
	hdr := make(http.Header)
	srv.corsHeaders(hdr, r)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	// A GET has no body; anything the client sends after it on this connection
	// (it should not: polling clients wait for the answer) is ignored, as the
	// connection is closed after the answer.
	_ = conn.SetDeadline(time.Time{})
	p := &parkedPoll{conn: conn}
	pw := &parkedWriter{srv: srv, conn: conn, hdr: hdr, jsonp: jsonp}
	if srv.parkOnPoller(s, ch, p, pw, brw) { // parktls.go: TLS from a polltls listener
		return true
	}
	s.mu.Lock()
	if s.poll == ch {
		s.parked = p
		if len(ch) > 0 {
			p.wake() // woken between the slot's creation and now
		}
	} else {
		p.wake() // the slot is gone already (the session closed): answer now
	}
	s.mu.Unlock()
	go srv.waitParked(s, ch, p, pw)
	return true
}

// waitParked is the parked GET's goroutine: it reads until woken or until the
// client goes away, then answers.
func (srv *Server) waitParked(s *Session, ch chan struct{}, p *parkedPoll, pw *parkedWriter) {
	defer p.conn.Close()
	var b [64]byte
	for {
		_, err := p.conn.Read(b[:])
		if err == nil {
			continue
		}
		if p.woken.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		// The client dropped the poll.
		s.mu.Lock()
		if s.poll == ch {
			s.poll = nil
		}
		if s.parked == p {
			s.parked = nil
		}
		s.mu.Unlock()
		s.pollDropped()
		return
	}
	s.mu.Lock()
	if s.poll == ch {
		s.poll = nil
	}
	if s.parked == p {
		s.parked = nil
	}
	srv.answerPollLocked(s, pw)
}

// parkedWriter writes a polling response on a parked connection.
type parkedWriter struct {
	srv   *Server
	conn  net.Conn
	hdr   http.Header // CORS headers, computed before the hijack
	jsonp int
}

func (pw *parkedWriter) payload(s *Session, frames []*Frame) error {
	out, ctype, done := encodePayload(s, frames, pw.jsonp)
	defer done()
	return pw.write(http.StatusOK, ctype, out, "Cache-Control: no-store\r\n")
}

func (pw *parkedWriter) fail(e *HandshakeError, status int) {
	_ = pw.write(status, "application/json", errorBody(e), "")
}

// write sends a whole HTTP/1.1 response in one write and ends the connection.
func (pw *parkedWriter) write(status int, ctype string, body []byte, extra string) error {
	buf := make([]byte, 0, 256+len(body))
	buf = append(buf, "HTTP/1.1 "...)
	buf = strconv.AppendInt(buf, int64(status), 10)
	buf = append(buf, ' ')
	buf = append(buf, http.StatusText(status)...)
	buf = append(buf, "\r\n"...)
	for k, vs := range pw.hdr {
		for _, v := range vs {
			buf = append(buf, k...)
			buf = append(buf, ": "...)
			buf = append(buf, v...)
			buf = append(buf, "\r\n"...)
		}
	}
	buf = append(buf, "Content-Type: "...)
	buf = append(buf, ctype...)
	buf = append(buf, "\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\nDate: "...)
	buf = time.Now().UTC().AppendFormat(buf, http.TimeFormat)
	buf = append(buf, "\r\n"...)
	buf = append(buf, extra...)
	buf = append(buf, "Connection: close\r\n\r\n"...)
	buf = append(buf, body...)
	_ = pw.conn.SetWriteDeadline(time.Now().Add(pw.srv.cfg.PollWriteTimeout))
	_, err := pw.conn.Write(buf)
	return err
}
