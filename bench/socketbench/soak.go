package main

// The soak scenario (-scenario soak; issue 12, make soak): -n sockets held
// for -soak-duration with churn, Drupal publishes and slow consumers, while
// the server process is sampled every -soak-sample into a CSV.
//
//   - Churn: each of the -n slots holds one socket at a time, which lives a
//     random time around -soak-lifetime, leaves the way browsers leave (a
//     socket.io disconnect, a WebSocket close, a dropped TCP connection, an
//     Engine.IO close over polling, or a polling client that just stops and
//     must be timed out), and is replaced at once by a new one. Slots are
//     WebSocket or long-polling (-soak-polling of them), EIO=3 or 4, every
//     one authenticated through the stand-in Drupal backend.
//   - Publishes, as Drupal makes them: a broadcast every -soak-broadcast-every
//     (every socket checks that it misses none between two it got) and
//     -soak-channel-rate channel messages a second to the sockets' channels.
//   - Slow consumers (-soak-slow), between the reference window and the
//     settle phase: sockets in a channel of their own that get -soak-slow-payload
//     messages at -soak-slow-rate; they stop reading (a small receive buffer,
//     heartbeats still sent) for -soak-slow-stall, then look whether the
//     server has cut them off (it must, by its byte bound
//     engine.Config.MaxQueueBytes, long before the stall ends), and start
//     again. bench/runner matches the cut-offs against the server's log.
//
// The run fails when the server's goroutines, live heap or open files grew
// past generous bounds from the reference window (-soak-window after
// -soak-warmup) to the final one (the last -soak-window, in the settle phase
// without slow consumers), when a socket missed a broadcast, or when a slow
// consumer was not cut off. The figures swing with the clients' heartbeats
// (kept-alive polling connections come and go with them): the highest of
// the reference window is compared with the lowest of the final one, so the
// swings cannot fail a run but a leak, which only grows, still does.
// Nothing about timing is asserted.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakSlowChannel is the channel of the slow consumers (backend.slowFrom).
const soakSlowChannel = "soak_slow"

type soakConfig struct {
	Duration     time.Duration `json:"duration_ns"`
	Warmup       time.Duration `json:"warmup_ns"`
	Window       time.Duration `json:"window_ns"`
	Settle       time.Duration `json:"settle_ns"`
	Sample       time.Duration `json:"sample_ns"`
	Lifetime     time.Duration `json:"lifetime_ns"`
	Polling      float64       `json:"polling_share"`
	BroadcastGap time.Duration `json:"broadcast_every_ns"`
	ChannelRate  float64       `json:"channel_rate"`
	Slow         int           `json:"slow_consumers"`
	SlowStall    time.Duration `json:"slow_stall_ns"`
	SlowRate     float64       `json:"slow_rate"`
	SlowPayload  int           `json:"slow_payload"`
	DebugURL     string        `json:"debug_url"`
	CSV          string        `json:"csv"`
	// Growth bounds, final <= reference*factor + slack.
	GoroutineFactor float64 `json:"goroutine_factor"`
	GoroutineSlack  int     `json:"goroutine_slack"`
	HeapFactor      float64 `json:"heap_factor"`
	HeapSlackMiB    float64 `json:"heap_slack_mib"`
	FDFactor        float64 `json:"fd_factor"`
	FDSlack         int     `json:"fd_slack"`
}

func (sc *soakConfig) flags(fs *flag.FlagSet) {
	fs.DurationVar(&sc.Duration, "soak-duration", 2*time.Minute, "soak: length of the run")
	fs.DurationVar(&sc.Warmup, "soak-warmup", 20*time.Second, "soak: the reference window starts this long after the start")
	fs.DurationVar(&sc.Window, "soak-window", 20*time.Second, "soak: length of the reference window and of the final one (the end of the run)")
	fs.DurationVar(&sc.Settle, "soak-settle", 25*time.Second, "soak: the last phase, without slow consumers (at least -soak-window)")
	fs.DurationVar(&sc.Sample, "soak-sample", 5*time.Second, "soak: sampling period")
	fs.DurationVar(&sc.Lifetime, "soak-lifetime", 10*time.Second, "soak: mean lifetime of a socket (each lives 0.1 to 1.9 times it)")
	fs.Float64Var(&sc.Polling, "soak-polling", 0.2, "soak: share of the slots on long-polling (the rest on WebSocket)")
	fs.DurationVar(&sc.BroadcastGap, "soak-broadcast-every", 2*time.Second, "soak: time between two broadcasts")
	fs.Float64Var(&sc.ChannelRate, "soak-channel-rate", 20, "soak: channel publishes per second")
	fs.IntVar(&sc.Slow, "soak-slow", 3, "soak: slow consumers (WebSocket EIO=4, WebSocket EIO=3, polling EIO=3 in turn)")
	fs.DurationVar(&sc.SlowStall, "soak-slow-stall", 30*time.Second, "soak: how long a slow consumer stops reading")
	fs.Float64Var(&sc.SlowRate, "soak-slow-rate", 32, "soak: publishes per second to the slow consumers' channel")
	fs.IntVar(&sc.SlowPayload, "soak-slow-payload", 32<<10, "soak: bytes of filler in each of those publishes")
	fs.StringVar(&sc.DebugURL, "debug-url", "", "soak: the server's profiler base URL (socketd -debug-addr), for goroutines and live heap")
	fs.StringVar(&sc.CSV, "soak-csv", "", "soak: write the samples here (CSV)")
	fs.Float64Var(&sc.GoroutineFactor, "soak-max-goroutine-factor", 1.5, "soak: bound on final goroutines: reference times this plus -soak-goroutine-slack")
	fs.IntVar(&sc.GoroutineSlack, "soak-goroutine-slack", 100, "soak: see -soak-max-goroutine-factor")
	fs.Float64Var(&sc.HeapFactor, "soak-max-heap-factor", 1.1, "soak: bound on the final live heap: reference times this plus -soak-heap-slack-mib")
	fs.Float64Var(&sc.HeapSlackMiB, "soak-heap-slack-mib", 2, "soak: see -soak-max-heap-factor")
	fs.Float64Var(&sc.FDFactor, "soak-max-fd-factor", 1.5, "soak: bound on final open files: reference times this plus -soak-fd-slack")
	fs.IntVar(&sc.FDSlack, "soak-fd-slack", 100, "soak: see -soak-max-fd-factor")
}

func (sc *soakConfig) validate(cfg config) error {
	var errs []string
	if cfg.PID <= 0 || sc.DebugURL == "" {
		errs = append(errs, "-scenario soak needs the server's -pid and -debug-url")
	}
	if cfg.cluster() || !strings.HasPrefix(cfg.URL, "http://") {
		errs = append(errs, "-scenario soak runs against one server over http:// (-url)")
	}
	if sc.Sample <= 0 || sc.Window < sc.Sample || sc.Settle < sc.Window || sc.Warmup+sc.Window+sc.Settle > sc.Duration {
		errs = append(errs, "soak: want 0 < -soak-sample <= -soak-window <= -soak-settle and -soak-warmup + -soak-window + -soak-settle <= -soak-duration")
	}
	if sc.Lifetime <= 0 || sc.BroadcastGap <= 0 || sc.ChannelRate <= 0 || sc.Polling < 0 || sc.Polling > 1 {
		errs = append(errs, "soak: -soak-lifetime, -soak-broadcast-every and -soak-channel-rate must be positive, -soak-polling in [0,1]")
	}
	if sc.Slow > 0 && (sc.SlowStall <= 0 || sc.SlowRate <= 0 || sc.SlowPayload <= 0) {
		errs = append(errs, "soak: slow consumers need a positive -soak-slow-stall, -soak-slow-rate and -soak-slow-payload")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// soakResult is the JSON document of a soak run.
type soakResult struct {
	Tool      string       `json:"tool"`
	Started   string       `json:"started"`
	Seconds   float64      `json:"seconds"`
	Machine   machine      `json:"machine"`
	Config    config       `json:"config"`
	Soak      soakConfig   `json:"soak"`
	Samples   []soakSample `json:"samples"`
	RefWindow [2]int       `json:"reference_window"` // first and last index in Samples
	FinWindow [2]int       `json:"final_window"`
	Growth    []growth     `json:"growth"`
	Totals    soakTotals   `json:"totals"`
	Backend   backendStats `json:"backend"`
	Load1     [3]float64   `json:"load1_min_mean_max"`
	Errors    []string     `json:"errors,omitempty"`
	OK        bool         `json:"ok"`
	Problems  []string     `json:"problems,omitempty"`
}

type soakTotals struct {
	Connects        int64            `json:"connects"` // sockets authenticated
	ConnectFails    int64            `json:"connect_failures"`
	Closes          map[string]int64 `json:"closes"`                 // by how the client left
	Dropped         int64            `json:"dropped"`                // ended by the server while the client wanted it
	ClosesBetween   int64            `json:"closes_between_windows"` // from the reference window's last sample to the final window's first
	Broadcasts      int64            `json:"broadcasts"`
	ChannelPubs     int64            `json:"channel_publishes"`
	SlowPubs        int64            `json:"slow_publishes"`
	PublishErrors   int64            `json:"publish_errors"`
	BroadcastRecv   int64            `json:"broadcast_deliveries"`
	ChannelRecv     int64            `json:"channel_deliveries"`
	BroadcastGaps   int64            `json:"broadcast_gaps"` // broadcasts missed between two received
	BroadcastOrder  int64            `json:"broadcast_out_of_order"`
	Unexpected      int64            `json:"unexpected"`
	SlowCycles      int64            `json:"slow_cycles"`  // slow consumers that stalled
	SlowCut         int64            `json:"slow_cut"`     // ... and found themselves cut off
	SlowNotCut      int64            `json:"slow_not_cut"` // ... and were still served after the stall
	SlowAborted     int64            `json:"slow_aborted"` // stopped by the end of the phase, not yet cut
	SlowMsgsDrained int64            `json:"slow_messages_drained"`
}

type growth struct {
	What      string  `json:"what"`
	Reference float64 `json:"reference"` // highest of the reference window
	Final     float64 `json:"final"`     // lowest of the final window
	Bound     float64 `json:"bound"`
	OK        bool    `json:"ok"`
}

// How a socket left (soakTotals.Closes).
const (
	leaveSIODisconnect = iota // socket.io disconnect packet, then WebSocket close
	leaveWSClose              // WebSocket close frame
	leaveTCP                  // TCP connection dropped, no goodbye
	leavePollClose            // Engine.IO close packet over polling
	leavePollStop             // polling client stops; the server times it out
	leaveStyles
)

var leaveNames = [leaveStyles]string{"socketio_disconnect", "websocket_close", "tcp_drop", "polling_close", "polling_stop"}

// soak is one soak run.
type soak struct {
	cfg  config
	sc   soakConfig
	log  io.Writer
	base time.Time

	ws      [2]dialer // EIO=3, EIO=4
	slowWS  [2]dialer // the same with a small receive buffer
	hc      *http.Client
	connSem chan struct{} // connects in flight (cfg.Concurrency)
	pub     *publisher

	errTally
	authed, connects, connectFails, dropped    atomic.Int64
	closes                                     [leaveStyles]atomic.Int64
	bcastSeq                                   atomic.Int64 // last broadcast published
	bcastRecv, chanRecv, unexpected            atomic.Int64
	gaps, disorder                             atomic.Int64
	nBcast, nChan, nSlow, pubErrs              atomic.Int64
	slowCycles, slowCut, slowNotCut, slowAbort atomic.Int64
	slowMsgs                                   atomic.Int64
}

func (s *soak) logf(format string, args ...any) {
	if s.log != nil {
		fmt.Fprintf(s.log, "socketbench soak %5.0fs: "+format+"\n", append([]any{time.Since(s.base).Seconds()}, args...)...)
	}
}

func (s *soak) closesTotal() int64 {
	var n int64
	for i := range s.closes {
		n += s.closes[i].Load()
	}
	return n
}

// runSoak performs a soak run; logw receives progress lines.
func runSoak(ctx context.Context, cfg config, sc soakConfig, logw io.Writer) (*soakResult, error) {
	cfg.Scenario = "soak"
	if err := sc.validate(cfg); err != nil {
		return nil, err
	}
	if cfg.Channels <= 0 {
		cfg.Channels = max(cfg.N/10, 1)
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	// Two descriptors per polling client at times, one per WebSocket client.
	if need := 2*cfg.N + sc.Slow + 512; raiseNoFile() > 0 && uint64(need) > raiseNoFile() {
		return nil, fmt.Errorf("-n %d needs up to %d open files but RLIMIT_NOFILE is %d", cfg.N, need, raiseNoFile())
	}
	s := &soak{cfg: cfg, sc: sc, log: logw, base: time.Now(), connSem: make(chan struct{}, cfg.Concurrency)}
	addr, host, err := hostAddr(cfg.URL)
	if err != nil {
		return nil, err
	}
	path := cfg.Path
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	for k, eio := range []int{3, 4} {
		d := dialer{targets: []dialTarget{{addr: addr, host: host}}, timeout: cfg.ConnectTimeout,
			path: fmt.Sprintf("%s?EIO=%d&transport=websocket", path, eio)}
		s.ws[k] = d
		d.rcvbuf = 4096
		s.slowWS[k] = d
	}
	tr := &http.Transport{
		MaxIdleConns: 2*cfg.N + 64, MaxIdleConnsPerHost: 2*cfg.N + 64,
		IdleConnTimeout: 30 * time.Second, DisableCompression: true,
	}
	s.hc = &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	s.pub = newPublisher(cfg, cfg.URL, 8, nil)
	defer s.pub.close()

	res := &soakResult{Tool: "socketbench soak", Started: s.base.UTC().Format(time.RFC3339), Machine: machineInfo(), Config: cfg, Soak: sc}
	be := &backend{serviceKey: cfg.ServiceKey, channels: cfg.Channels, anon: cfg.Anon, delay: cfg.BackendDelay, slowFrom: cfg.N}
	beURL, stopBE, err := be.serve(cfg.BackendAddr, cfg.backendLn)
	if err != nil {
		return nil, fmt.Errorf("stand-in Drupal backend: %w", err)
	}
	defer stopBE()
	sm, err := newSampler(cfg, sc)
	if err != nil {
		return nil, err
	}
	var csvw *csvWriter
	if sc.CSV != "" {
		if csvw, err = newCSVWriter(sc.CSV); err != nil {
			return nil, err
		}
		defer csvw.close()
	}
	take := func() soakSample {
		smp := sm.take(ctx, s)
		if smp.Err != "" {
			s.noteErr(errors.New(smp.Err))
		}
		res.Samples = append(res.Samples, smp)
		if csvw != nil {
			csvw.write(smp)
		}
		s.logf("%d sockets (server %d), rss %.1f MiB, heap %.1f MiB, %d goroutines, %d fds, %d closes, load %.2f",
			smp.ClientSockets, smp.ServerSockets, float64(smp.RSSKB)/1024, float64(smp.HeapBytes)/(1<<20), smp.Goroutines, smp.FDs, smp.Closes, smp.Load1)
		return smp
	}
	take() // before any client

	// The population and the Drupal publishes run until the end; the slow
	// consumers from the reference sample to the settle phase.
	popCtx, stopPop := context.WithCancel(ctx)
	var popWG sync.WaitGroup
	for i := 0; i < cfg.N; i++ {
		popWG.Add(1)
		go func() { defer popWG.Done(); s.slot(popCtx, i) }()
	}
	popWG.Add(2)
	go func() { defer popWG.Done(); s.broadcaster(popCtx) }()
	go func() { defer popWG.Done(); s.channelPublisher(popCtx) }()
	var slowWG sync.WaitGroup
	slowCtx, stopSlow := context.WithCancel(ctx)
	defer stopSlow()
	slowStarted := false

	tick := time.NewTicker(sc.Sample)
	defer tick.Stop()
	refEnd := sc.Warmup + sc.Window     // the slow consumers' phase starts here
	slowEnd := sc.Duration - sc.Settle  // and ends here
	finStart := sc.Duration - sc.Window // the final window
	slowDone := sc.Slow == 0
	for ctx.Err() == nil && time.Since(s.base) < sc.Duration {
		select {
		case <-ctx.Done():
			continue
		case <-tick.C:
		}
		el := time.Since(s.base)
		if slowStarted && el >= slowEnd {
			stopSlow()
			slowWG.Wait()
			slowStarted = false
			s.logf("slow consumers stopped: %d cut off, %d not, %d stopped before", s.slowCut.Load(), s.slowNotCut.Load(), s.slowAbort.Load())
		}
		take()
		if !slowDone && el >= refEnd && el < slowEnd {
			slowDone, slowStarted = true, true
			s.logf("slow consumers start")
			slowWG.Add(sc.Slow + 1)
			go func() { defer slowWG.Done(); s.slowPublisher(slowCtx) }()
			for j := 0; j < sc.Slow; j++ {
				go func() { defer slowWG.Done(); s.slowConsumer(slowCtx, j) }()
			}
		}
	}
	stopSlow()
	slowWG.Wait()
	stopPop()
	popWG.Wait()
	res.RefWindow = window(res.Samples, sc.Warmup, refEnd)
	res.FinWindow = window(res.Samples, finStart, sc.Duration+time.Hour)

	t := &res.Totals
	t.Connects, t.ConnectFails, t.Dropped = s.connects.Load(), s.connectFails.Load(), s.dropped.Load()
	t.Closes = map[string]int64{}
	for i, n := range leaveNames {
		t.Closes[n] = s.closes[i].Load()
	}
	t.Broadcasts, t.ChannelPubs, t.SlowPubs, t.PublishErrors = s.nBcast.Load(), s.nChan.Load(), s.nSlow.Load(), s.pubErrs.Load()
	t.BroadcastRecv, t.ChannelRecv, t.Unexpected = s.bcastRecv.Load(), s.chanRecv.Load(), s.unexpected.Load()
	t.BroadcastGaps, t.BroadcastOrder = s.gaps.Load(), s.disorder.Load()
	t.SlowCycles, t.SlowCut, t.SlowNotCut, t.SlowAborted = s.slowCycles.Load(), s.slowCut.Load(), s.slowNotCut.Load(), s.slowAbort.Load()
	t.SlowMsgsDrained = s.slowMsgs.Load()
	res.Backend = be.stats(beURL + "/nodejs/message")
	res.Errors = s.errorList()
	res.Load1 = loadSpan(res.Samples)
	if ctx.Err() != nil {
		res.Problems = append(res.Problems, "interrupted")
	}
	if res.RefWindow[0] < 0 || res.FinWindow[0] < 0 || res.FinWindow[0] <= res.RefWindow[1] {
		res.Problems = append(res.Problems, fmt.Sprintf("no reference or no final window (samples %v and %v)", res.RefWindow, res.FinWindow))
	} else {
		ref := res.Samples[res.RefWindow[0] : res.RefWindow[1]+1]
		fin := res.Samples[res.FinWindow[0] : res.FinWindow[1]+1]
		res.Growth = checkGrowth(sc, ref, fin)
		for _, g := range res.Growth {
			if !g.OK {
				res.Problems = append(res.Problems, fmt.Sprintf("%s grew from %.0f to %.0f (bound %.0f)", g.What, g.Reference, g.Final, g.Bound))
			}
		}
		// A leak per socket shows only if sockets came and went.
		t.ClosesBetween = fin[0].Closes - ref[len(ref)-1].Closes
		if t.ClosesBetween < int64(cfg.N)/2 {
			res.Problems = append(res.Problems, fmt.Sprintf("only %d sockets left between the windows (want at least -n/2 to tell a leak)", t.ClosesBetween))
		}
	}
	if t.BroadcastRecv == 0 || t.ChannelRecv == 0 {
		res.Problems = append(res.Problems, "no broadcast or no channel message was received")
	}
	if t.BroadcastGaps+t.BroadcastOrder > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("sockets missed %d broadcasts between two they received (%d out of order)", t.BroadcastGaps, t.BroadcastOrder))
	}
	if t.Unexpected > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d unexpected messages", t.Unexpected))
	}
	if sc.Slow > 0 && t.SlowCut == 0 {
		res.Problems = append(res.Problems, "no slow consumer was cut off")
	}
	if t.SlowNotCut > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d slow consumers were still served after a %s stall", t.SlowNotCut, sc.SlowStall))
	}
	if res.Backend.BadKey > 0 {
		res.Problems = append(res.Problems, "the server sent the backend a wrong service key")
	}
	res.OK = len(res.Problems) == 0
	res.Seconds = round3(time.Since(s.base).Seconds())
	return res, nil
}

// window returns the first and last index of the samples taken in [from,
// to), or -1s.
func window(ss []soakSample, from, to time.Duration) [2]int {
	w := [2]int{-1, -1}
	for i, x := range ss {
		if t := time.Duration(x.T * float64(time.Second)); t >= from && t < to {
			if w[0] < 0 {
				w[0] = i
			}
			w[1] = i
		}
	}
	return w
}

// checkGrowth compares the lowest figure of the final window with the
// highest of the reference window. Samples where a figure could not be read
// (-1) are left out; a window with none fails.
func checkGrowth(sc soakConfig, ref, fin []soakSample) []growth {
	g := func(what string, get func(soakSample) float64, factor, slack float64) growth {
		hi, lo := -1.0, -1.0
		for _, x := range ref {
			hi = max(hi, get(x))
		}
		for _, x := range fin {
			if v := get(x); v >= 0 && (lo < 0 || v < lo) {
				lo = v
			}
		}
		b := hi*factor + slack
		return growth{What: what, Reference: hi, Final: lo, Bound: b, OK: hi >= 0 && lo >= 0 && lo <= b}
	}
	return []growth{
		g("goroutines", func(x soakSample) float64 { return float64(x.Goroutines) }, sc.GoroutineFactor, float64(sc.GoroutineSlack)),
		g("live heap bytes", func(x soakSample) float64 { return float64(x.HeapBytes) }, sc.HeapFactor, sc.HeapSlackMiB*(1<<20)),
		g("open files", func(x soakSample) float64 { return float64(x.FDs) }, sc.FDFactor, float64(sc.FDSlack)),
	}
}

func loadSpan(ss []soakSample) [3]float64 {
	if len(ss) == 0 {
		return [3]float64{}
	}
	lo, hi, sum := ss[0].Load1, ss[0].Load1, 0.0
	for _, x := range ss {
		lo, hi, sum = min(lo, x.Load1), max(hi, x.Load1), sum+x.Load1
	}
	return [3]float64{lo, round3(sum / float64(len(ss))), hi}
}

// slot keeps one socket of the population connected: it lives its lifetime,
// leaves, and the next one connects, until ctx ends.
func (s *soak) slot(ctx context.Context, i int) {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(s.base.UnixNano())))
	eio := 3 + i%2
	polling := float64(i%100) < s.sc.Polling*100
	for ctx.Err() == nil {
		life := time.Duration((0.1 + 1.8*rng.Float64()) * float64(s.sc.Lifetime))
		var err error
		if polling {
			leave := leavePollClose + rng.IntN(2)
			err = s.pollSocket(ctx, i, eio, life, leave)
		} else {
			err = s.wsSocket(ctx, i, eio, life, rng.IntN(3))
		}
		if err != nil && ctx.Err() == nil {
			s.noteErr(err)
			sleepCtx(ctx, time.Second) // do not hammer a server in trouble
		}
	}
}

// sockState is what one socket knows of its Engine.IO/Socket.IO session.
type sockState struct {
	s       *soak
	eio     int
	pingMs  int
	asked   bool // authenticate sent
	authed  bool
	closed  bool  // the server ended the session (close packet or frame)
	lastB   int64 // last broadcast received
	slowMsg int64
}

// packet handles one Engine.IO packet and returns the packets to send back.
func (st *sockState) packet(p []byte, idx int) []string {
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case '0':
		if v, ok := intAfter(p, keyPingInterval); ok {
			st.pingMs = v
		}
		if st.eio == 4 {
			return []string{"40"}
		}
	case '1':
		st.closed = true
	case '2':
		if st.eio == 4 {
			return []string{"3"}
		}
	case '4':
		return st.socketio(p[1:], idx)
	}
	return nil
}

var (
	keySoakBcast = []byte(`"sbb":`)
	keySoakChan  = []byte(`"sbc":`)
	keySoakSlow  = []byte(`"sbs":`)
)

func (st *sockState) socketio(p []byte, idx int) []string {
	if len(p) == 0 || (len(p) > 1 && p[1] == '/') {
		return nil
	}
	switch p[0] {
	case '0':
		if !st.asked {
			st.asked = true
			return []string{`42["authenticate",{"authToken":"tok-` + strconv.Itoa(idx) + `"}]`}
		}
	case '1', '4':
		st.closed = true
	case '2':
		s := st.s
		switch {
		case !st.authed:
			if strings.Contains(string(p), `"clientAuthenticated"`) {
				st.authed = true
			}
		case hasKey(p, keySoakBcast):
			seq, _ := intAfter(p, keySoakBcast)
			s.bcastRecv.Add(1)
			k := int64(seq)
			switch {
			case st.lastB == 0:
			case k <= st.lastB:
				s.disorder.Add(1)
			case k > st.lastB+1:
				s.gaps.Add(k - st.lastB - 1)
			}
			st.lastB = max(st.lastB, k)
		case hasKey(p, keySoakChan):
			s.chanRecv.Add(1)
		case hasKey(p, keySoakSlow):
			st.slowMsg++
		default:
			s.unexpected.Add(1)
		}
	}
	return nil
}

func hasKey(p, key []byte) bool { _, ok := intAfter(p, key); return ok }

// publishing -----------------------------------------------------------------

func (s *soak) publish(body string, n *atomic.Int64) {
	if _, err := s.pub.post([]byte(body)); err != nil {
		s.pubErrs.Add(1)
		s.noteErr(fmt.Errorf("publish: %w", err))
		return
	}
	n.Add(1)
}

func (s *soak) broadcaster(ctx context.Context) {
	t := time.NewTicker(s.sc.BroadcastGap)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Published in order, one at a time: each socket must see them in order.
		k := s.bcastSeq.Add(1)
		s.publish(`{"broadcast":true,"channel":"nodejs_notify","callback":"soak","data":{"sbb":`+strconv.FormatInt(k, 10)+
			`,"subject":"soak","body":"`+bodyPad(s.cfg.Payload)+`"}}`, &s.nBcast)
	}
}

func (s *soak) channelPublisher(ctx context.Context) {
	rng := rand.New(rand.NewPCG(1, uint64(s.base.UnixNano())))
	s.paced(ctx, s.sc.ChannelRate, func() {
		ch := rng.IntN(s.cfg.Channels)
		s.publish(`{"broadcast":false,"channel":"ch_`+strconv.Itoa(ch)+`","callback":"soak","data":{"sbc":1,"subject":"soak","body":"`+
			bodyPad(s.cfg.Payload)+`"}}`, &s.nChan)
	})
}

func (s *soak) slowPublisher(ctx context.Context) {
	body := `{"broadcast":false,"channel":"` + soakSlowChannel + `","callback":"soak","data":{"sbs":1,"body":"` + bodyPad(s.sc.SlowPayload) + `"}}`
	s.paced(ctx, s.sc.SlowRate, func() { s.publish(body, &s.nSlow) })
}

// paced calls f rate times a second (never more than one at a time) until ctx ends.
func (s *soak) paced(ctx context.Context, rate float64, f func()) {
	every := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for ctx.Err() == nil {
		f()
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			sleepCtx(ctx, d)
		} else if d < -time.Second {
			next = time.Now() // behind by more than a second: do not catch up in a burst
		}
	}
}

// soakMain runs the soak scenario from main's flags and writes its document.
func soakMain(ctx context.Context, cfg config, sc soakConfig, out string, logw io.Writer) int {
	res, err := runSoak(ctx, cfg, sc, logw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "socketbench:", err)
		return 2
	}
	enc, _ := json.MarshalIndent(res, "", "  ")
	enc = append(enc, '\n')
	if out == "-" {
		_, err = os.Stdout.Write(enc)
	} else {
		err = os.WriteFile(out, enc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "socketbench:", err)
		return 2
	}
	if !res.OK {
		fmt.Fprintln(os.Stderr, "socketbench: soak problems:", strings.Join(res.Problems, "; "))
		return 1
	}
	return 0
}
