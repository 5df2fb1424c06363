package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/bench/floor"
)

// TestSoakSmoke runs the soak scenario for a few seconds against the floor
// server in this process (WebSocket only, no byte bound: no polling and no
// slow consumers here; make soak-short runs those against socketd), with this
// process's own profiler as the one sampled. It checks the mechanics: sockets
// come and go in every WebSocket way, broadcasts and channel messages arrive
// with none missed, every sample has every figure, and the CSV has a row per
// sample. Timings are never asserted.
func TestSoakSmoke(t *testing.T) {
	beLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const key = "soak-key"
	fs := floor.New(floor.Config{Backend: "http://" + beLn.Addr().String() + "/nodejs/message", ServiceKey: key})
	defer fs.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: fs, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	dbg := profilerServer(t)

	csv := t.TempDir() + "/soak.csv"
	cfg := config{URL: "http://" + ln.Addr().String(), Path: "/socket.io/", BasePath: "/nodejs/", PID: os.Getpid(),
		N: 60, ServiceKey: key, backendLn: beLn, Concurrency: 20, ConnectTimeout: 20 * time.Second, Payload: 16}
	sc := soakConfig{Duration: 7 * time.Second, Warmup: 2 * time.Second, Window: 2 * time.Second, Settle: 2 * time.Second, Sample: time.Second,
		Lifetime: time.Second, BroadcastGap: 200 * time.Millisecond, ChannelRate: 50, DebugURL: dbg, CSV: csv,
		// This process is the load client too: its growth says nothing here.
		GoroutineFactor: 100, HeapFactor: 100, HeapSlackMiB: 100, FDFactor: 100}
	res, err := runSoak(context.Background(), cfg, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	tot := res.Totals
	t.Logf("totals %+v", tot)
	if tot.Connects < int64(cfg.N) || tot.ConnectFails != 0 {
		t.Errorf("connects %d (want at least %d), failures %d; errors %v", tot.Connects, cfg.N, tot.ConnectFails, res.Errors)
	}
	for _, style := range []string{"socketio_disconnect", "websocket_close", "tcp_drop"} {
		if tot.Closes[style] == 0 {
			t.Errorf("no socket left by %s: %v", style, tot.Closes)
		}
	}
	if tot.Closes["polling_close"]+tot.Closes["polling_stop"] != 0 || tot.Dropped != 0 {
		t.Errorf("closes %v, dropped %d", tot.Closes, tot.Dropped)
	}
	if tot.Broadcasts == 0 || tot.BroadcastRecv == 0 || tot.ChannelPubs == 0 || tot.ChannelRecv == 0 || tot.PublishErrors != 0 {
		t.Errorf("publishes: %+v", tot)
	}
	if tot.BroadcastGaps != 0 || tot.BroadcastOrder != 0 || tot.Unexpected != 0 {
		t.Errorf("deliveries: %+v", tot)
	}
	if len(res.Samples) < 5 || res.RefWindow[0] < 1 || res.FinWindow[0] <= res.RefWindow[1] || len(res.Growth) != 3 {
		t.Fatalf("%d samples, windows %v and %v, growth %v", len(res.Samples), res.RefWindow, res.FinWindow, res.Growth)
	}
	for _, x := range res.Samples {
		if x.Err != "" || x.RSSKB <= 0 || x.HeapBytes <= 0 || x.Goroutines <= 0 || x.FDs <= 0 || x.ServerSockets < 0 {
			t.Errorf("sample %+v", x)
		}
	}
	if !res.OK {
		t.Errorf("problems: %v", res.Problems)
	}
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(res.Samples)+1 || lines[0] != soakCSVHeader {
		t.Fatalf("CSV has %d lines for %d samples:\n%s", len(lines), len(res.Samples), b)
	}
	for _, l := range lines {
		if n := strings.Count(l, ","); n != strings.Count(soakCSVHeader, ",") {
			t.Errorf("CSV line %q has %d commas", l, n)
		}
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
}

// profilerServer serves this process's profiler on a free port.
func profilerServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// TestSockStateBroadcasts: a socket counts broadcasts missed between two it
// received and broadcasts out of order, not the ones before its first.
func TestSockStateBroadcasts(t *testing.T) {
	s := &soak{}
	st := &sockState{s: s, eio: 4}
	if r := st.packet([]byte(`0{"sid":"x","pingInterval":25000}`), 7); len(r) != 1 || r[0] != "40" || st.pingMs != 25000 {
		t.Fatalf("open: %q, ping %d", r, st.pingMs)
	}
	if r := st.packet([]byte(`40{"sid":"y"}`), 7); len(r) != 1 || r[0] != `42["authenticate",{"authToken":"tok-7"}]` {
		t.Fatalf("connect: %q", r)
	}
	if r := st.packet([]byte(`40`), 7); len(r) != 0 {
		t.Fatalf("a second connect asks again: %q", r)
	}
	st.packet([]byte(`42["message",{"callback":"clientAuthenticated"}]`), 7)
	if !st.authed {
		t.Fatal("not authenticated")
	}
	for _, k := range []int{5, 6, 9, 8, 10} {
		st.packet([]byte(`42["message",{"data":{"sbb":`+strconv.Itoa(k)+`}}]`), 7)
	}
	if s.bcastRecv.Load() != 5 || s.gaps.Load() != 2 || s.disorder.Load() != 1 {
		t.Fatalf("received %d, gaps %d, out of order %d; want 5, 2 (7 and 8 after 6), 1 (8 after 9)", s.bcastRecv.Load(), s.gaps.Load(), s.disorder.Load())
	}
	st.packet([]byte(`42["message",{"data":{"sbc":1}}]`), 7)
	st.packet([]byte(`42["message",{"data":{"nope":1}}]`), 7)
	if s.chanRecv.Load() != 1 || s.unexpected.Load() != 1 {
		t.Fatalf("channel %d, unexpected %d", s.chanRecv.Load(), s.unexpected.Load())
	}
	if r := st.packet([]byte(`2`), 7); len(r) != 1 || r[0] != "3" {
		t.Fatalf("EIO=4 ping answered %q", r)
	}
	st.packet([]byte(`1`), 7)
	if !st.closed {
		t.Fatal("close packet not seen")
	}
}

// TestSoakWSFrames: frames split anywhere, fragmented messages and control
// frames between the fragments are all handled.
func TestSoakWSFrames(t *testing.T) {
	s := &soak{}
	st := &sockState{s: s, eio: 3, authed: true, asked: true}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { // the pongs the client sends
		buf := make([]byte, 256)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	c := &soakWS{s: s, nc: a, st: st}
	msg := `42["message",{"data":{"sbb":1}}]`
	var stream []byte
	stream = append(stream, 0x01, byte(10)) // text, not final
	stream = append(stream, msg[:10]...)
	stream = append(stream, 0x89, 2, 'h', 'i') // ping between fragments
	stream = append(stream, 0x80, byte(len(msg)-10))
	stream = append(stream, msg[10:]...)
	long := `42["message",{"data":{"sbb":2,"body":"` + strings.Repeat("x", 300) + `"}}]`
	stream = append(stream, 0x81, 126, byte(len(long)>>8), byte(len(long)))
	stream = append(stream, long...)
	for i := 0; i < len(stream); i += 7 { // 7 bytes at a time
		c.pend = append(c.pend, stream[i:min(i+7, len(stream))]...)
		if err := c.frames(); err != nil {
			t.Fatal(err)
		}
	}
	if s.bcastRecv.Load() != 2 || s.gaps.Load() != 0 || len(c.pend) != 0 {
		t.Fatalf("received %d broadcasts, %d gaps, %d bytes left", s.bcastRecv.Load(), s.gaps.Load(), len(c.pend))
	}
	c.pend = append(c.pend, 0x88, 0)
	if err := c.frames(); err != errServerClose || !st.closed {
		t.Fatalf("close frame: %v", err)
	}
}

func TestCheckGrowth(t *testing.T) {
	sc := soakConfig{GoroutineFactor: 1.5, GoroutineSlack: 100, HeapFactor: 1.25, HeapSlackMiB: 4, FDFactor: 1.5, FDSlack: 100}
	// The highest of the reference window against the lowest of the final one;
	// unread figures (-1) are left out.
	ref := []soakSample{{Goroutines: 300, HeapBytes: 8 << 20, FDs: 900}, {Goroutines: 400, HeapBytes: 10 << 20, FDs: 1000}, {Goroutines: -1, HeapBytes: -1, FDs: -1}}
	ok := []soakSample{{Goroutines: 900, HeapBytes: 30 << 20, FDs: 3000}, {Goroutines: 700, HeapBytes: 16 << 20, FDs: 1600}, {Goroutines: -1, HeapBytes: -1, FDs: -1}}
	for _, g := range checkGrowth(sc, ref, ok) {
		if !g.OK {
			t.Errorf("%+v within the bounds refused", g)
		}
	}
	leak := []soakSample{{Goroutines: 701, HeapBytes: 17 << 20, FDs: 1601}, {Goroutines: 900, HeapBytes: 18 << 20, FDs: 1700}}
	for _, g := range checkGrowth(sc, ref, leak) {
		if g.OK || (g.What == "goroutines" && (g.Reference != 400 || g.Final != 701 || g.Bound != 700)) {
			t.Errorf("%+v past the bounds accepted", g)
		}
	}
	unread := []soakSample{{Goroutines: -1, HeapBytes: -1, FDs: -1}}
	for _, g := range append(checkGrowth(sc, ref, unread), checkGrowth(sc, unread, ok)...) {
		if g.OK {
			t.Errorf("%+v: a window without a figure passed", g)
		}
	}
}
