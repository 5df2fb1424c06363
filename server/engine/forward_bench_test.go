package engine_test

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/engine"
)

// What forwarding costs (docs/DESIGN.md, "Cluster without sticky sessions").
//
//	go test -run '^$' -bench 'Forwarded' -benchtime 1x ./server/engine/   (memory)
//	go test -run '^$' -bench 'ForwardedPolling' ./server/engine/          (latency, CPU)

// BenchmarkForwardedWebSocketHeld: what an idle WebSocket forwarded through
// another node costs that node, spliced on the event loop or on two
// goroutines with io.Copy (which splices between plain TCP connections, via
// a pipe per direction). It opens n upgraded sessions on a directly, then n
// through b, and charges b's bridges with the difference: heap, goroutine
// stacks, goroutines and file descriptors per connection.
func BenchmarkForwardedWebSocketHeld(b *testing.B) {
	const n = 1000
	for _, mode := range []string{"loop", "goroutines"} {
		b.Run(mode, func(b *testing.B) {
			owner, fwd := newPair(b, engine.Config{})
			if mode == "goroutines" {
				engine.CopyBridges(fwd.eio)
			}
			var direct, forwarded usage
			for b.Loop() {
				direct = heldCost(b, owner, owner, n)
				forwarded = heldCost(b, owner, fwd, n)
			}
			b.ReportMetric((forwarded.heap-direct.heap)/n, "heap-B/conn")
			b.ReportMetric((forwarded.stack-direct.stack)/n, "stack-B/conn")
			b.ReportMetric((forwarded.goroutines-direct.goroutines)/n, "goroutines/conn")
			b.ReportMetric((forwarded.fds-direct.fds)/n, "fds/conn")
		})
	}
}

type usage struct{ heap, stack, goroutines, fds float64 }

func measure() usage {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return usage{float64(ms.HeapAlloc), float64(ms.StackInuse), float64(runtime.NumGoroutine()), float64(len(fds))}
}

// heldCost opens n sessions on owner, upgrades them to WebSockets through via,
// measures what that added, and closes them again.
func heldCost(b *testing.B, owner, via *testServer, n int) usage {
	b.Helper()
	sids := make([]string, n)
	for i := range sids {
		sids[i] = owner.handshakeV4()
	}
	before := measure()
	clients := make([]*testutil.WSClient, n)
	for i, sid := range sids {
		c, err := testutil.DialWS(wsURL(via, "EIO=4&transport=websocket&sid="+sid))
		if err != nil {
			b.Fatal(err)
		}
		_ = c.SendText("2probe")
		if op, p, err := c.ReadFrame(); err != nil || string(p) != "3probe" {
			b.Fatalf("probe answer %x %q %v", op, p, err)
		}
		_ = c.SendText("5")
		c.SetDeadline(time.Hour)
		clients[i] = c
	}
	// The last upgrade is in: every session is on its WebSocket.
	s, _ := owner.eio.Session(sids[n-1])
	for deadline := time.Now().Add(10 * time.Second); s.Transport() != engine.WebSocket; {
		if time.Now().After(deadline) {
			b.Fatal("upgrade not done")
		}
		time.Sleep(time.Millisecond)
	}
	after := measure()
	for _, c := range clients {
		c.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); owner.eio.Stats().Sessions > 0 || via.eio.Stats().Bridges > 0; {
		if time.Now().After(deadline) {
			b.Fatalf("sessions %d bridges %d left after the clients closed", owner.eio.Stats().Sessions, via.eio.Stats().Bridges)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return usage{after.heap - before.heap, after.stack - before.stack, after.goroutines - before.goroutines, after.fds - before.fds}
}

// BenchmarkForwardedPollHeld: what a held poll forwarded through another node
// costs that node: spliced on the event loop (what socketd does), or sent
// through the pooled HTTP client as POSTs are. n polls held on the owner
// directly, then n through the other node; the difference is charged to it.
func BenchmarkForwardedPollHeld(b *testing.B) {
	const n = 1000
	for _, mode := range []string{"loop", "client"} {
		b.Run(mode, func(b *testing.B) {
			owner, fwd := newPair(b, engine.Config{})
			if mode == "client" {
				engine.ProxyGETs(fwd.eio)
			}
			var direct, forwarded usage
			for b.Loop() {
				direct = heldPollCost(b, owner, owner, n)
				forwarded = heldPollCost(b, owner, fwd, n)
			}
			b.ReportMetric((forwarded.heap-direct.heap)/n, "heap-B/conn")
			b.ReportMetric((forwarded.stack-direct.stack)/n, "stack-B/conn")
			b.ReportMetric((forwarded.goroutines-direct.goroutines)/n, "goroutines/conn")
			b.ReportMetric((forwarded.fds-direct.fds)/n, "fds/conn")
		})
	}
}

// heldPollCost holds a GET of each of n sessions on owner, sent through via,
// measures what that added, and releases them.
func heldPollCost(b *testing.B, owner, via *testServer, n int) usage {
	b.Helper()
	sessions := make([]*engine.Session, n)
	for i := range sessions {
		sessions[i], _ = owner.eio.Session(owner.handshakeV4())
	}
	before := measure()
	done := make(chan response, n)
	for _, s := range sessions {
		go func() { done <- via.get("EIO=4&transport=polling&sid=" + s.ID()) }()
	}
	for _, s := range sessions {
		for deadline := time.Now().Add(20 * time.Second); !engine.PollHeld(s); {
			if time.Now().After(deadline) {
				b.Fatal("poll not held")
			}
			time.Sleep(time.Millisecond)
		}
	}
	after := measure()
	for _, s := range sessions {
		_ = s.Send(engine.TextMessage([]byte("x")))
	}
	for range sessions {
		if r := <-done; r.body != "4x" {
			b.Fatalf("held GET answered %d %q", r.status, r.body)
		}
	}
	for _, s := range sessions {
		s.Close()
	}
	return usage{after.heap - before.heap, after.stack - before.stack, after.goroutines - before.goroutines, after.fds - before.fds}
}

// BenchmarkForwardedPolling: a POST of a message, and a GET answered at once
// (a message is queued), sent to the session's owner or to the other node,
// which forwards them. cpu-ns/op is the whole process's CPU time: client and
// both servers.
func BenchmarkForwardedPolling(b *testing.B) {
	for _, kind := range []string{"post", "get"} {
		for _, mode := range []string{"direct", "forwarded"} {
			b.Run(kind+"/"+mode, func(b *testing.B) {
				owner, other := newPair(b, engine.Config{})
				via := owner
				if mode == "forwarded" {
					via = other
				}
				sid := owner.handshakeV4()
				s, _ := owner.eio.Session(sid)
				q := "EIO=4&transport=polling&sid=" + sid
				msg := engine.TextMessage([]byte("x"))
				cpu0 := cpuTime()
				for b.Loop() {
					if kind == "post" {
						if r := via.post(q, "4x"); r.body != "ok" {
							b.Fatalf("POST %d %q", r.status, r.body)
						}
						continue
					}
					_ = s.Send(msg)
					if r := via.get(q); r.body != "4x" {
						b.Fatalf("GET %d %q", r.status, r.body)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkForwardedWebSocketEcho: one message and its echo over a WebSocket
// to the owner, or through the other node (event loop or goroutines).
func BenchmarkForwardedWebSocketEcho(b *testing.B) {
	for _, mode := range []string{"direct", "loop", "goroutines"} {
		b.Run(mode, func(b *testing.B) {
			owner, other := newPair(b, engine.Config{})
			via := other
			switch mode {
			case "direct":
				via = owner
			case "goroutines":
				engine.CopyBridges(other.eio)
			}
			c, err := testutil.DialWS(wsURL(via, "EIO=4&transport=websocket&sid="+owner.handshakeV4()))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Minute)
			_ = c.SendText("2probe")
			_, _, _ = c.ReadFrame()
			_ = c.SendText("5")
			cpu0 := cpuTime()
			for b.Loop() {
				_ = c.SendText("4x")
				if _, p, err := c.ReadFrame(); err != nil || string(p) != "4x" {
					b.Fatalf("echo %q %v", p, err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
