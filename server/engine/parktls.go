package engine

import (
	"bufio"
	"crypto/tls"
	"net"
	"time"

	"github.com/lesismal/nbio"

	"github.com/socketd/socketd/internal/polltls"
)

// Held polls over TLS, parked on the event loop.
//
// A held GET that came over TLS through an internal/polltls listener is not
// given a goroutine: its socket moves to the WebSocket event loop, as an
// upgraded wss connection does, and waits there. What the client sends
// meanwhile (it should send nothing) is decrypted and ignored; the client
// leaving ends the session at once, as with a goroutine; a wake-up answers on
// a short-lived goroutine through the *tls.Conn (sealed, then nbio's
// non-blocking write). The answer says Connection: close; the client closes
// once it has read it (nbio would drop unsent bytes if the server closed
// first), and the connection is closed for it if it has not within
// Config.PollWriteTimeout. An idle polling client over TLS then costs its
// TLS state and no goroutine, which pays for that state (docs/DESIGN.md).

// polledPoll is a held GET parked on the event loop; it is the nbio
// connection's session.
type polledPoll struct {
	srv *Server
	s   *Session
	ch  chan struct{}
	p   *parkedPoll
	pw  *parkedWriter
	tc  *tls.Conn
	nbc *nbio.Conn
}

// parkOnPoller parks the hijacked GET p on the event loop when its connection
// came from a polltls listener; false leaves it to the parked goroutine.
func (srv *Server) parkOnPoller(s *Session, ch chan struct{}, p *parkedPoll, pw *parkedWriter, brw *bufio.ReadWriter) bool {
	tc, ok := p.conn.(*tls.Conn)
	if !ok || srv.ws == nil || brw.Reader.Buffered() > 0 {
		return false
	}
	t := polltls.Of(tc)
	if t == nil || srv.ws.start() != nil {
		return false
	}
	nbc, err := t.Detach()
	if err != nil {
		return false // the socket was not duplicated: the goroutine can park it
	}
	pp := &polledPoll{srv: srv, s: s, ch: ch, p: p, pw: pw, tc: tc, nbc: nbc}
	p.answer = pp.answer
	// Records crypto/tls read along with the GET are handled before the
	// poller can call in.
	if err := polltls.Feed(tc, nil, pp.Parse); err != nil {
		_ = nbc.Close()
		pp.CloseAndClean(err)
		return true
	}
	nbc.SetSession(pp)
	nbc.OnData(func(c *nbio.Conn, data []byte) {
		if err := polltls.Feed(tc, data, pp.Parse); err != nil {
			_ = c.CloseWithError(err)
		}
	})
	if err := srv.ws.nb.AddTransferredConn(nbc); err != nil {
		pp.CloseAndClean(err) // nbio closed the connection
		return true
	}
	t.Attached()
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
	return true
}

// answer answers the GET (wake, on a goroutine of its own).
func (pp *polledPoll) answer() {
	s := pp.s
	s.mu.Lock()
	if s.poll == pp.ch {
		s.poll = nil
	}
	if s.parked == pp.p {
		s.parked = nil
	}
	pp.srv.answerPollLocked(s, pp.pw)
	_ = pp.nbc.SetDeadline(time.Now().Add(pp.srv.cfg.PollWriteTimeout))
}

// Parse takes what the client sent on a parked GET's connection: nothing is
// expected, and anything is ignored (the connection ends after the answer).
func (pp *polledPoll) Parse([]byte) error { return nil }

// CloseAndClean runs when the connection closes (nbio's close callback). Before
// a wake-up it means the client dropped its GET.
func (pp *polledPoll) CloseAndClean(error) {
	if !pp.p.woken.CompareAndSwap(false, true) {
		return
	}
	s := pp.s
	s.mu.Lock()
	if s.poll == pp.ch {
		s.poll = nil
	}
	if s.parked == pp.p {
		s.parked = nil
	}
	s.mu.Unlock()
	s.pollDropped()
}

// UnderlayerConn is the TLS connection (nbhttp.ParserCloser).
func (pp *polledPoll) UnderlayerConn() net.Conn { return pp.tc }
