package engine

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/socketd/socketd/protocol/engineio"
)

var errPayloadTooLarge = &HandshakeError{3, "Payload too large"}

// upgradePollRelease is how long a GET that arrives during an upgrade is held
// before it is ended with a noop.
const upgradePollRelease = 100 * time.Millisecond

// bufPool holds polling response buffers; a response is assembled whole so it goes
// out with a Content-Length in one write.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuf keeps one huge response from pinning its buffer in the pool.
const maxPooledBuf = 64 << 10

func (srv *Server) pollingHandshake(w http.ResponseWriter, r *http.Request, s *Session, jsonp int) {
	srv.openSession(s)
	s.mu.Lock()
	frames := append([]*Frame{srv.handshakeFrame(s)}, s.takeQueueLocked()...)
	closing := s.state == stateClosing
	if s.state == stateOpen {
		s.startHeartbeatLocked()
	}
	s.mu.Unlock()
	srv.setCookie(w.Header(), s)
	if err := srv.writePayload(w, r, s, frames, jsonp); err != nil {
		s.closeWith(ReasonTransportError, false)
		return
	}
	if closing {
		s.finish()
	}
}

// pollGET holds the request until something is queued for the client, then answers
// with everything queued as one payload.
func (srv *Server) pollGET(w http.ResponseWriter, r *http.Request, s *Session, jsonp int) {
	if s.expire() {
		srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	switch {
	case s.state == stateClosed && s.lingering:
		// The client closed while this GET was on its way: end it cleanly, once.
		s.lingering = false
		s.mu.Unlock()
		srv.sessions.remove(s)
		_ = srv.writePayload(w, r, s, []*Frame{noopFrame}, jsonp)
		return
	case s.state == stateClosed:
		s.mu.Unlock()
		srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	case s.transport != Polling:
		s.mu.Unlock()
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	case s.poll != nil:
		// engine.io closes the session on overlapping GETs: the held one gets a close
		// packet, this one an error.
		s.mu.Unlock()
		s.closeWith(ReasonDuplicatePoll, false)
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	}
	if len(s.queue) == 0 && s.state == stateOpen {
		ch := make(chan struct{}, 1)
		s.poll = ch
		var release <-chan time.Time
		if s.upgrading {
			// The client pauses polling before it completes an upgrade, so a GET
			// arriving now was sent before it saw the probe answer: end it with
			// a noop soon (engine.io checks every 100 ms), or with an error if
			// the upgrade completes first.
			t := time.NewTimer(upgradePollRelease)
			defer t.Stop()
			release = t.C
		}
		park := release == nil && !srv.cfg.HoldPollsInHandler && r.ProtoMajor == 1
		s.mu.Unlock()
		if park && srv.park(w, r, s, ch, jsonp) {
			return
		}
		select {
		case <-ch:
		case <-release:
		case <-r.Context().Done():
		}
		s.mu.Lock()
		if s.poll == ch {
			s.poll = nil
		}
		if r.Context().Err() != nil {
			s.mu.Unlock()
			s.pollDropped()
			return
		}
	}
	srv.answerPollLocked(s, httpPollWriter{srv, w, r, jsonp})
}

// pollDropped ends a session whose held GET the client dropped (engine.io:
// "poll connection closed prematurely"): what was taken for it is lost.
func (s *Session) pollDropped() {
	if !s.closed() {
		s.closeWith(ReasonTransportClose, false)
	}
}

// pollWriter answers one polling GET: through net/http, or on a parked
// connection (park.go).
type pollWriter interface {
	payload(s *Session, frames []*Frame) error
	fail(e *HandshakeError, status int)
}

type httpPollWriter struct {
	srv   *Server
	w     http.ResponseWriter
	r     *http.Request
	jsonp int
}

func (p httpPollWriter) payload(s *Session, frames []*Frame) error {
	return p.srv.writePayload(p.w, p.r, s, frames, p.jsonp)
}

func (p httpPollWriter) fail(e *HandshakeError, status int) { p.srv.writeError(p.w, p.r, e, status) }

// answerPollLocked answers a GET that waited (or did not need to): everything
// queued, or a noop. Called with s.mu held; releases it.
func (srv *Server) answerPollLocked(s *Session, pw pollWriter) {
	if s.transport != Polling {
		s.mu.Unlock()
		pw.fail(errBadRequest, http.StatusBadRequest)
		return
	}
	frames := s.takeQueueLocked()
	closing := s.state == stateClosing
	s.mu.Unlock()
	if len(frames) == 0 {
		// Released by an upgrade probe or by the client's own close: a noop
		// ends the poll cleanly.
		frames = []*Frame{noopFrame}
	}
	if err := pw.payload(s, frames); err != nil {
		s.closeWith(ReasonTransportError, false)
		return
	}
	if closing {
		s.finish()
	}
}

// encodePayload encodes frames as a polling response body for s: the body, its
// Content-Type, and a func that recycles the body's buffer once written.
func encodePayload(s *Session, frames []*Frame, jsonp int) ([]byte, string, func()) {
	format := engineio.PayloadV4
	ctype := "text/plain; charset=UTF-8"
	if s.rev == engineio.V3 {
		format = engineio.PayloadV3Text
		if !s.base64 && jsonp < 0 && hasBinary(frames) {
			format = engineio.PayloadV3Binary
			ctype = "application/octet-stream"
		}
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	for i, f := range frames {
		buf = engineio.AppendPayloadPacket(buf, format, f.pkt, i == 0)
	}
	out := buf
	if jsonp >= 0 {
		out = engineio.AppendJSONP(nil, jsonp, buf)
		ctype = "text/javascript; charset=UTF-8"
	}
	return out, ctype, func() {
		if cap(buf) <= maxPooledBuf {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
	}
}

// writePayload encodes frames in the session's polling format and writes them.
func (srv *Server) writePayload(w http.ResponseWriter, r *http.Request, s *Session, frames []*Frame, jsonp int) error {
	out, ctype, done := encodePayload(s, frames, jsonp)
	defer done()
	h := w.Header()
	srv.corsHeaders(h, r)
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	h.Set("Cache-Control", "no-store")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(srv.cfg.PollWriteTimeout))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(out)
	return err
}

func hasBinary(frames []*Frame) bool {
	for _, f := range frames {
		if f.pkt.Binary {
			return true
		}
	}
	return false
}

// pollPOST takes a payload from the client.
func (srv *Server) pollPOST(w http.ResponseWriter, r *http.Request, s *Session, jsonp bool) {
	if s.expire() {
		srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	switch {
	case s.state == stateClosed:
		s.mu.Unlock()
		srv.writeError(w, r, errUnknownSID, http.StatusBadRequest)
		return
	case s.transport != Polling:
		s.mu.Unlock()
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	case s.posting:
		s.mu.Unlock()
		s.fail(ReasonProtocolError, "overlapping POST")
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	body, err := readBody(w, r, srv.cfg.MaxHTTPBufferSize)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(ReasonPayloadTooLarge, "POST body over maxHttpBufferSize")
			srv.writeError(w, r, errPayloadTooLarge, http.StatusRequestEntityTooLarge)
			return
		}
		s.fail(ReasonTransportError, "reading POST body: "+err.Error())
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	}
	format := engineio.PayloadV4
	if jsonp {
		if body, err = engineio.DecodeJSONPBody(body); err != nil {
			s.fail(ReasonParseError, err.Error())
			srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
			return
		}
	}
	if s.rev == engineio.V3 {
		format = engineio.PayloadV3Text
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/octet-stream" && !jsonp {
			format = engineio.PayloadV3Binary
		}
	}
	packets, err := engineio.DecodePayload(format, body)
	if err != nil {
		s.fail(ReasonParseError, err.Error())
		srv.writeError(w, r, errBadRequest, http.StatusBadRequest)
		return
	}
	for _, p := range packets {
		s.receive(p)
	}
	h := w.Header()
	srv.corsHeaders(h, r)
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// readBody reads the whole body, refusing more than max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, &http.MaxBytesError{Limit: max}
	}
	rd := http.MaxBytesReader(w, r.Body, max)
	if r.ContentLength >= 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		// A body longer than its Content-Length is a framing error net/http
		// reports itself; nothing more to read here.
		return buf, nil
	}
	return io.ReadAll(rd)
}
