package drupal

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// heapConns is how many sockets the held-heap benchmark connects; each is two
// descriptors in this process (client and server side), so mind ulimit -n.
func heapConns(tb testing.TB) int {
	n := 2000
	if v := os.Getenv("DRUPAL_HEAP_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			tb.Fatalf("DRUPAL_HEAP_CONNS=%q", v)
		}
	}
	return n
}

// heapFigures are the per-socket results of measureHeld.
type heapFigures struct {
	bridge    float64 // heap the bridge's own code (its store included) allocated and still holds, per authenticated socket
	adapter   float64 // heap the adapter allocated and still holds (room membership), per authenticated socket
	connected float64 // process heap per connected, unauthenticated socket (both ends)
	authed    float64 // process heap added by authenticating, per socket
}

// measureHeld connects n sockets, each its own Drupal user in one channel of
// ten whose members are its presence list (the shape of a real site's idle
// load) and, with ownChannel, in a channel of its own, authenticates them one
// by one and measures what stays on the heap.
//
// The bridge's share is read from a complete heap profile (MemProfileRate 1):
// an allocation counts when the innermost socketd frame of its stack is the
// bridge's non-test code (package drupal or its store), so io.ReadAll in
// Backend.Post or a map growing in the store count, the test clients do not.
// That is the figure the bridge's data structures decide. The adapter's share
// (innermost frame in server/adapter) is the room membership the bridge's
// joins cost; the room names the bridge builds count as the bridge's.
func measureHeld(tb testing.TB, n int, ownChannel bool) heapFigures {
	// Every allocation recorded from here (a -memprofile of the same run is
	// skewed by it).
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	// The recorder's inbox takes a disconnect per socket when the env is
	// torn down: drain it meanwhile (cleanups run last registered first).
	torndown := make(chan struct{})
	tb.Cleanup(func() { close(torndown) })
	e := newEnv(tb, nil)
	tb.Cleanup(func() {
		go func() {
			for {
				select {
				case <-e.rec.events:
				case <-torndown:
					return
				}
			}
		}()
	})
	// Drupal is told every user that comes online; its inbox must not fill
	// up (the fake's handler would block, and with it the backend client).
	stop := make(chan struct{})
	defer close(stop)
	var online atomic.Int64
	go func() {
		for {
			select {
			case m := <-e.drupal.msgs:
				if string(m["messageType"]) == `"userOnline"` {
					online.Add(1)
				}
			case <-stop:
				return
			}
		}
	}()
	for i := range n {
		group := i / 10 * 10
		var presence []int64
		for j := group; j < group+10 && j < n; j++ {
			if j != i {
				presence = append(presence, int64(j+1))
			}
		}
		channels := []string{fmt.Sprintf("group_%d", i/10)}
		if ownChannel {
			channels = append(channels, fmt.Sprintf("nodejs_user_%d", i+1))
		}
		e.drupal.setUser(fmt.Sprintf("token-%06d", i), user{uid: int64(i + 1), channels: channels, presence: presence})
	}

	base := snapshot()
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.dial()
	}
	connected := snapshot()
	for i, c := range clients {
		c.authenticate(e, fmt.Sprintf("token-%06d", i))
	}
	// Take the presence notifications out of the clients' inboxes, and let
	// the userOnline posts end (their goroutines and buffers are not held).
	for _, c := range clients {
		c.drainSync()
	}
	deadline := time.Now().Add(waitTime)
	for online.Load() != int64(n) {
		if time.Now().After(deadline) {
			tb.Fatalf("Drupal told of %d users online, want %d", online.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// No call to Drupal is started any more: wait for the last ones to end
	// (their contexts and timers are not held), and drop the idle
	// connections to Drupal (their buffers are not per socket).
	e.b.wg.Wait()
	e.b.backend.CloseIdleConnections()
	if st := e.stats(); st.AuthenticatedClients != n || st.Sockets != n || st.OnlineUsers != n {
		tb.Fatalf("%d cached, %d authenticated, %d online; want %d", st.AuthenticatedClients, st.Sockets, st.OnlineUsers, n)
	}
	// The fake clock keeps stopped timers (the handshake deadline of each
	// socket, stopped by its authenticate) until it next moves; the real
	// one lets them go at once.
	e.clk.Advance(0)
	authed := snapshot()
	runtime.KeepAlive(clients)
	if os.Getenv("DRUPAL_HEAP_SITES") != "" {
		logSites(tb, base, authed, n)
	}
	return heapFigures{
		bridge:    float64(authed.bridge-base.bridge) / float64(n),
		adapter:   float64(authed.adapter-connected.adapter) / float64(n),
		connected: float64(connected.heap-base.heap) / float64(n),
		authed:    float64(authed.heap-connected.heap) / float64(n),
	}
}

type heapSnapshot struct {
	heap    int64            // HeapAlloc
	bridge  int64            // in use, allocated by the bridge (see measureHeld)
	adapter int64            // in use, allocated by the adapter
	sites   map[string]int64 // bridge's and adapter's in-use bytes by allocation site
}

func snapshot() heapSnapshot {
	// The profile is published a cycle or two late.
	for range 3 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := heapSnapshot{heap: int64(ms.HeapAlloc), sites: make(map[string]int64)}
	recs := make([]runtime.MemProfileRecord, 1024)
	for {
		k, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:k]
			break
		}
		recs = make([]runtime.MemProfileRecord, k+k/4)
	}
	for i := range recs {
		if inuse := recs[i].InUseBytes(); inuse != 0 {
			switch site, owner := allocationSite(recs[i].Stack()); owner {
			case ownerBridge:
				s.bridge += inuse
				s.sites[site] += inuse
			case ownerAdapter:
				s.adapter += inuse
				s.sites[site] += inuse
			}
		}
	}
	return s
}

type owner uint8

const (
	ownerOther owner = iota
	ownerBridge
	ownerAdapter
)

// allocationSite names the owner of an allocation by the innermost socketd
// frame of its stack: the bridge (package drupal and its subpackages, not
// their tests) or the adapter (server/adapter). The site is that frame, after
// the allocating function when it is another package's.
func allocationSite(stack []uintptr) (site string, o owner) {
	const mod = "github.com/socketd/socketd/"
	frames := runtime.CallersFrames(stack)
	var outside string
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, mod) {
			fn := strings.TrimPrefix(f.Function, mod)
			switch {
			case strings.HasSuffix(f.File, "_test.go") || strings.Contains(f.File, "/storetest/"):
				return "", ownerOther
			case strings.HasPrefix(fn, "drupal."), strings.HasPrefix(fn, "drupal/store."):
				o = ownerBridge
			case strings.HasPrefix(fn, "server/adapter."):
				o = ownerAdapter
			default:
				return "", ownerOther
			}
			site = fn + ":" + strconv.Itoa(f.Line)
			if outside != "" {
				site += " (" + outside + ")"
			}
			return site, o
		}
		if outside == "" || strings.HasPrefix(outside, "runtime.") {
			outside = f.Function
		}
		if !more {
			return "", ownerOther
		}
	}
}

// logSites lists the bridge's allocation sites by bytes held per socket.
func logSites(tb testing.TB, before, after heapSnapshot, n int) {
	type site struct {
		name  string
		bytes int64
	}
	var sites []site
	for name, b := range after.sites {
		if d := b - before.sites[name]; d != 0 {
			sites = append(sites, site{name, d})
		}
	}
	slices.SortFunc(sites, func(a, b site) int { return cmp.Compare(b.bytes, a.bytes) })
	for _, s := range sites {
		if s.bytes*10 >= int64(n) { // from 0.1 B/conn
			tb.Logf("%8.1f B/conn  %s", float64(s.bytes)/float64(n), s.name)
		}
	}
}

// drainSync reads what the server sent until the answer to an echo sent now.
func (c *client) drainSync() {
	c.t.Helper()
	id := c.emit("echo", `"drain"`, true)
	want := fmt.Sprintf(`3%d["drain"]`, id)
	for {
		if p := c.next(); p == want {
			return
		} else if p == "EOF" || p == "1" {
			c.t.Fatalf("disconnected while draining")
		}
	}
}

// TestHeldPerConn checks, generously, that the bridge (its store included)
// holds well under a kilobyte per idle authenticated socket (about 650 bytes
// since its room bookkeeping went to the adapter; 1,200 before the per-socket
// maps and read buffers went, 2,000 before that).
func TestHeldPerConn(t *testing.T) {
	if testing.Short() {
		t.Skip("connects hundreds of sockets")
	}
	const limit = 1100
	if f := measureHeld(t, 300, false); f.bridge > limit {
		t.Errorf("the bridge holds %.0f bytes per authenticated socket, want at most %d", f.bridge, limit)
	} else {
		t.Logf("the bridge holds %.0f bytes per authenticated socket", f.bridge)
	}
}

// BenchmarkHeldPerConn reports the heap held per idle authenticated socket,
// each its own user in a channel of ten, and also in a channel of its own:
// bridge-B/conn is the bridge's own (see measureHeld), adapter-B/conn the
// room membership its joins cost in the adapter, connected-B/conn and
// auth-B/conn the whole process's per connected socket and added by
// authenticating (both shares included). DRUPAL_HEAP_CONNS sets the
// number of sockets (2000).
//
//	go test -run '^$' -bench HeldPerConn -benchtime 1x ./drupal/
func BenchmarkHeldPerConn(b *testing.B) {
	n := heapConns(b)
	for _, bc := range []struct {
		name string
		own  bool
	}{
		{"channel10", false},
		// Drupal sites also put each user in a channel of its own
		// (nodejs_user_<uid>).
		{"channel10+own", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var f heapFigures
			for b.Loop() {
				f = measureHeld(b, n, bc.own)
			}
			b.ReportMetric(f.bridge, "bridge-B/conn")
			b.ReportMetric(f.adapter, "adapter-B/conn")
			b.ReportMetric(f.connected, "connected-B/conn")
			b.ReportMetric(f.authed, "auth-B/conn")
			b.ReportMetric(0, "ns/op")
		})
	}
}
