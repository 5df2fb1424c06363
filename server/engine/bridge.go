package engine

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// Bridges: a forwarded GET or WebSocket is two TCP connections, the client's
// and ours to the owner, spliced byte for byte until either ends.
//
// On the event loop (both connections plain TCP, the usual case) a bridge
// holds no goroutine and no buffer while idle: the loop reads whatever
// arrives on one side into its shared buffer and writes it to the other with
// nbio's non-blocking write, which keeps what the kernel does not take, up to
// MaxQueueBytes (past that the bridge is cut: the slow-consumer bound of a
// direct session). When one side ends, the other gets a FIN once what was
// written to it has left (a poll answer must not lose its tail) and is
// closed when it closes in turn, or after PollWriteTimeout. TLS on either side has no place on the loop: such a bridge
// runs on two goroutines with io.Copy instead.

// bridge is what the two ends share.
type bridge struct {
	f      *forwarder
	ready  chan struct{} // closed once both ends are on the loop
	answer *time.Timer   // ends the bridge if the owner has not answered in time
	ended  atomic.Int32  // ends closed; the bridge is gone at 2
	live   liveBridge    // in f.live while open
}

// bridgeEnd is one connection of a bridge, as nbio's session of it.
//
// The loop may call an end (data, close) as soon as it is added, before the
// other end is: every callback waits for ready first, a wait of microseconds
// that only a callback coming in the middle of spliceOnLoop makes.
type bridgeEnd struct {
	b        *bridge
	conn     *nbio.Conn
	peer     *bridgeEnd
	upgrade  bool // the owner's end of a WebSocket: the answer deadline ends with the first bytes
	answered bool // read and written only by this end's data handler

	pending  atomic.Int64 // bytes written to conn the kernel has not taken yet
	draining atomic.Bool  // the peer ended: finish once pending is 0
	closing  atomic.Bool
	gone     atomic.Bool // conn is closed and counted in the bridge's ended
}

func (e *bridgeEnd) wait() { <-e.b.ready }

// splice joins client and owner until either ends. The owner must have sent
// its first bytes by answerBy; a poll (not upgrade) must have ended by then.
// lb says what the bridge carries (liveBridge, without end).
func (f *forwarder) splice(client, owner net.Conn, answerBy time.Time, lb liveBridge) {
	f.open.Add(1)
	_, plainClient := client.(*net.TCPConn)
	_, plainOwner := owner.(*net.TCPConn)
	if plainClient && plainOwner && f.srv.ws != nil && !f.copyBridges && f.srv.ws.start() == nil {
		f.spliceOnLoop(client, owner, answerBy, lb)
		return
	}
	f.spliceCopy(client, owner, answerBy, lb)
}

func (f *forwarder) spliceOnLoop(client, owner net.Conn, answerBy time.Time, lb liveBridge) {
	upgrade := lb.upgrade
	cn, err := nbio.NBConn(client) // a dup of the descriptor; client is closed
	if err != nil {
		_ = client.Close()
		_ = owner.Close()
		f.open.Add(-1)
		return
	}
	on, err := nbio.NBConn(owner)
	if err != nil {
		_ = cn.Close()
		_ = owner.Close()
		f.open.Add(-1)
		return
	}
	b := &bridge{f: f, ready: make(chan struct{})}
	ce := &bridgeEnd{b: b, conn: cn}
	oe := &bridgeEnd{b: b, conn: on, upgrade: upgrade}
	ce.peer, oe.peer = oe, ce
	b.live = lb
	b.live.end = func() { ce.close(); oe.close() }
	f.live.track(&b.live)
	// A poll must be answered, a WebSocket accepted, by answerBy. A runtime
	// timer, set before the owner's end is on the loop.
	b.answer = time.AfterFunc(time.Until(answerBy), func() { _ = on.Close() })
	for _, e := range [2]*bridgeEnd{ce, oe} {
		// nbio takes a connection's lock before every call back (read,
		// write report, close): setting the session under it orders the
		// two ends, complete by now, before any of those calls.
		e.conn.Lock()
		e.conn.SetSession(e)
		e.conn.OnData(bridgeData)
		e.conn.Unlock()
	}
	defer close(b.ready)
	nb := f.srv.ws.nb
	if nb.AddTransferredConn(cn) != nil || nb.AddTransferredConn(on) != nil {
		// An end that did not make it onto the loop gets no close callback:
		// both are ended here (ended counts each once either way).
		_ = cn.Close()
		_ = on.Close()
		ce.ended()
		oe.ended()
	}
}

// bridgeData is the data handler of both ends: what one end reads goes to the other.
func bridgeData(c *nbio.Conn, data []byte) {
	e, ok := c.Session().(*bridgeEnd)
	if !ok {
		return
	}
	e.wait()
	if e.upgrade && !e.answered {
		e.answered = true
		e.b.answer.Stop()
	}
	p := e.peer
	p.pending.Add(int64(len(data)))
	if _, err := p.conn.Write(data); err != nil {
		// The peer is gone, or it passed MaxQueueBytes: end both.
		e.close()
		p.close()
	}
}

// written is nbio's report that the kernel took n bytes of e's connection.
// It runs with the connection's lock held, so finishing goes elsewhere.
func (e *bridgeEnd) written(n int) {
	e.wait()
	if e.pending.Add(-int64(n)) <= 0 && e.draining.Load() && e.closing.CompareAndSwap(false, true) {
		go e.finish()
	}
}

// drain ends e once what was written to it has left: the peer has ended.
func (e *bridgeEnd) drain() {
	e.draining.Store(true)
	if e.pending.Load() <= 0 {
		if e.closing.CompareAndSwap(false, true) {
			e.finish()
		}
		return
	}
	// A reader too slow to take the rest in time is cut.
	_ = e.conn.SetWriteDeadline(time.Now().Add(e.b.f.srv.cfg.PollWriteTimeout))
}

// finish ends e's side of the connection the way net/http ends a response
// with Connection: close: a FIN after the last byte, then the connection is
// closed when the other side closes too (or after PollWriteTimeout). Closing
// at once could lose bytes still in the kernel's queue if the reader sent
// anything more (an RST then replaces them) or stalls.
func (e *bridgeEnd) finish() {
	e.conn.Lock() // while it is held nbio cannot close the descriptor under us
	if closed, _ := e.conn.IsClosed(); !closed {
		if rc, err := e.conn.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_WR) })
		}
	}
	e.conn.Unlock()
	_ = e.conn.SetReadDeadline(time.Now().Add(e.b.f.srv.cfg.PollWriteTimeout))
}

func (e *bridgeEnd) close() {
	if e.closing.CompareAndSwap(false, true) {
		_ = e.conn.Close()
	}
}

// The nbhttp engine's close callback calls these on a connection's session.

// UnderlayerConn is the end's connection.
func (e *bridgeEnd) UnderlayerConn() net.Conn { return e.conn }

// Parse is not used: the end's data handler is bridgeData.
func (e *bridgeEnd) Parse([]byte) error { return nil }

// CloseAndClean runs once e's connection has closed: the peer follows.
func (e *bridgeEnd) CloseAndClean(error) {
	e.wait()
	e.peer.drain()
	e.ended()
}

// ended counts e's connection as closed, once; the second end closes the bridge.
func (e *bridgeEnd) ended() {
	if e.gone.CompareAndSwap(false, true) && e.b.ended.Add(1) == 2 {
		e.b.answer.Stop()
		e.b.f.live.untrack(&e.b.live)
		e.b.f.open.Add(-1)
	}
}

// spliceCopy is the bridge on two goroutines, for TLS on either side. A
// blocking copy has written everything it read when it returns, so ending
// the other side at once loses nothing.
func (f *forwarder) spliceCopy(client, owner net.Conn, answerBy time.Time, lb liveBridge) {
	upgrade := lb.upgrade
	var ended atomic.Int32
	live := &lb
	live.end = func() {
		_ = client.Close()
		_ = owner.Close()
	}
	f.live.track(live)
	end := func() {
		live.end()
		if ended.Add(1) == 2 {
			f.live.untrack(live)
			f.open.Add(-1)
		}
	}
	_ = owner.SetReadDeadline(answerBy)
	go func() {
		defer end()
		if upgrade {
			// The 101 ends the answer deadline; a WebSocket lives as long as it is used.
			var first [512]byte
			n, err := owner.Read(first[:])
			if err != nil {
				return
			}
			_ = owner.SetReadDeadline(time.Time{})
			if _, err := client.Write(first[:n]); err != nil {
				return
			}
		}
		_, _ = io.Copy(client, owner)
	}()
	go func() {
		defer end()
		_, _ = io.Copy(owner, client)
	}()
}
