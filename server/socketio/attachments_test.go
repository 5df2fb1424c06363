package socketio_test

import (
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// binaryHeader announces n attachments in an event whose arguments are their
// placeholders.
func binaryHeader(n int) string {
	var b strings.Builder
	b.WriteString("45" + strconv.Itoa(n) + `-["upload"`)
	for i := range n {
		b.WriteString(`,{"_placeholder":true,"num":` + strconv.Itoa(i) + `}`)
	}
	b.WriteString("]")
	return b.String()
}

// waitFor polls cond (bounded) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedLog is a log destination written from many goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A client may hold at most MaxBufferedBytes (default maxHttpBufferSize) of
// attachments for an incomplete packet: the one that passes it closes the
// connection with a logged reason, and the bytes are released.
func TestAttachmentBytesBounded(t *testing.T) {
	logs := &lockedLog{}
	e := newEnv(t, socketio.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}, echoSetup)
	c := e.dial("4")
	connectV5(t, c, "/", "")
	next(t, c) // auth echo
	_ = c.SendText(binaryHeader(10))
	chunk := make([]byte, 300_000)
	for range 3 {
		_ = c.SendBinary(chunk)
	}
	waitFor(t, "900 KB held", func() bool { return socketio.PendingAttachmentBytes(e.io) == 900_000 })
	_ = c.SendBinary(chunk) // 1.2 MB > 1e6
	if got := next(t, c); got != "1" {
		t.Fatalf("got %q, want the close packet", got)
	}
	c.ReadClose(t)
	waitFor(t, "the bytes released", func() bool { return socketio.PendingAttachmentBytes(e.io) == 0 })
	// The close packet is written before the session is counted closed, so
	// the client can see it first: wait for the count, then check it is one.
	closed := func() uint64 { return e.io.Engine().Stats().Closed[engine.ReasonPayloadTooLarge] }
	waitFor(t, "the close counted as payload too large", func() bool { return closed() > 0 })
	if n := closed(); n != 1 {
		t.Fatalf("%d sessions closed as payload too large", n)
	}
	if !strings.Contains(logs.String(), "attachments of an incomplete packet over the limit") || !strings.Contains(logs.String(), "limit=1000000") {
		t.Fatalf("no reason logged:\n%s", logs)
	}
}

// A client that leaves with a packet incomplete takes its attachments with
// it: the decoder's state is dropped at the close, whatever still refers to
// the closed connection.
func TestAttachmentsReleasedOnAbruptClose(t *testing.T) {
	e := newEnv(t, socketio.Config{}, echoSetup)
	const clients, per, size = 8, 9, 100_000
	var cs []*testutil.WSClient
	for range clients {
		c := e.dial("4")
		connectV5(t, c, "/", "")
		next(t, c)
		cs = append(cs, c)
	}
	before := heapAlloc()
	chunk := make([]byte, size)
	for _, c := range cs {
		_ = c.SendText(binaryHeader(per + 1))
		for range per {
			_ = c.SendBinary(chunk)
		}
	}
	const held = clients * per * size
	waitFor(t, "every attachment held", func() bool { return socketio.PendingAttachmentBytes(e.io) == held })
	if h := heapAlloc(); h < before+held/2 {
		t.Fatalf("heap %d MB with %d MB of attachments held, before %d MB: the measure does not see them", h>>20, held>>20, before>>20)
	}
	for _, c := range cs {
		c.Close() // no close packet, no close frame
	}
	waitFor(t, "sessions closed", func() bool { return e.io.Engine().Stats().Sessions == 0 })
	if n := socketio.PendingAttachmentBytes(e.io); n != 0 {
		t.Fatalf("%d attachment bytes still accounted for", n)
	}
	if h := heapAlloc(); h > before+held/4 {
		t.Fatalf("heap %d MB after the clients left, %d MB before their attachments: still pinned", h>>20, before>>20)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// With DisallowBinary a binary packet closes the connection before anything
// is buffered; text packets work as ever.
func TestDisallowBinary(t *testing.T) {
	logs := &lockedLog{}
	e := newEnv(t, socketio.Config{DisallowBinary: true, Logger: slog.New(slog.NewTextHandler(logs, nil))}, echoSetup)
	for _, header := range []string{binaryHeader(1), `450-["upload"]`, `461-1[{"_placeholder":true,"num":0}]`} {
		c := e.dial("4")
		connectV5(t, c, "/", "")
		next(t, c)
		_ = c.SendText(header)
		if got := next(t, c); got != "1" {
			t.Fatalf("%s: got %q, want the close packet", header, got)
		}
		if n := socketio.PendingAttachmentBytes(e.io); n != 0 {
			t.Fatalf("%s: %d bytes buffered", header, n)
		}
	}
	if !strings.Contains(logs.String(), "binary packet refused") {
		t.Fatalf("no reason logged:\n%s", logs)
	}
	c := e.dial("4")
	connectV5(t, c, "/", "")
	next(t, c)
	_ = c.SendText(`42["message","text"]`)
	if got := next(t, c); got != `42["message-back","text"]` {
		t.Fatalf("text event: %q", got)
	}
}
