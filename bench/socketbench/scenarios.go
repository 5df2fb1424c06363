package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// connectResult is the connect phase, which is also the connect-storm scenario:
// connect + Engine.IO/Socket.IO handshake + authenticate, cfg.Concurrency in flight.
type connectResult struct {
	Target           int         `json:"target"`
	OK               int         `json:"ok"`
	Failed           int         `json:"failed"`
	Steps            int         `json:"steps"`
	ActiveSeconds    float64     `json:"active_seconds"` // time spent connecting (settle pauses excluded)
	PerSecond        float64     `json:"per_second"`     // ok / active_seconds
	LatencyP50Ms     float64     `json:"latency_p50_ms"` // dial to clientAuthenticated
	LatencyP99Ms     float64     `json:"latency_p99_ms"`
	ServerCPUSeconds float64     `json:"server_cpu_seconds"`
	ServerCPUUsPer   float64     `json:"server_cpu_us_per_conn"`
	ClientCPUUsPer   float64     `json:"client_cpu_us_per_conn"` // includes the stand-in backend
	Samples          []rssSample `json:"rss_samples"`            // server RSS as connections grow
}

type rssSample struct {
	Conns int   `json:"conns"`
	RSSKB int64 `json:"rss_kb"`
}

// idleResult is server memory held by idle authenticated connections.
type idleResult struct {
	Conns          int     `json:"conns"`
	RSSKB0         int64   `json:"rss_kb_0"`
	RSSKBN         int64   `json:"rss_kb_n"`
	RSSKBNSamples  []int64 `json:"rss_kb_n_samples"`
	BytesPerConn   float64 `json:"bytes_per_conn"`
	KBPerConn      float64 `json:"kb_per_conn"`
	ServerThreads  int     `json:"server_threads"`
	HeldSeconds    float64 `json:"held_seconds"`
	Disconnects    int64   `json:"disconnects"`
	ServerCPUIdle  float64 `json:"server_cpu_percent_idle"` // while held
	ClientRSSKB    int64   `json:"client_rss_kb"`
	ClientPerConnB float64 `json:"client_bytes_per_conn"`
	Note           string  `json:"note,omitempty"`
}

// broadcastResult: POST /nodejs/publish {"broadcast":true} to every client.
type broadcastResult struct {
	Messages       int      `json:"messages"`
	Warmup         int      `json:"warmup"`
	Recipients     int      `json:"recipients"` // authenticated clients at start
	PayloadBytes   int      `json:"payload_bytes"`
	Expected       int64    `json:"expected"`
	Delivered      int64    `json:"delivered"`
	Lost           int64    `json:"lost"`
	ServerSent     int64    `json:"server_sent"` // sum of the replies' "sent"
	FirstMs        summary  `json:"first_ms"`    // over messages
	MedianMs       summary  `json:"median_ms"`
	P99Ms          summary  `json:"p99_ms"`
	LastMs         summary  `json:"last_ms"`
	DeliveriesPerS summary  `json:"deliveries_per_sec"` // recipients / last
	ServerCPUUsPer float64  `json:"server_cpu_us_per_delivery"`
	RedisCPUUsPer  *float64 `json:"redis_cpu_us_per_delivery,omitempty"` // cluster: redis-server's own
	// ServerSysCPUUsPer is the system-time part of ServerCPUUsPer: the
	// write(2) of every frame, and on loopback the receiver's TCP processing
	// the kernel charges to the sender.
	ServerSysCPUUsPer *float64         `json:"server_sys_cpu_us_per_delivery,omitempty"`
	ClientCPUUsPer    float64          `json:"client_cpu_us_per_delivery"`
	PerMessage        []broadcastStats `json:"per_message"`
	CDF               []cdfPoint       `json:"latency_cdf"` // all deliveries of all messages
	Errors            int              `json:"errors"`
}

type broadcastStats struct {
	Delivered int     `json:"delivered"`
	Sent      int     `json:"sent"`
	FirstMs   float64 `json:"first_ms"`
	MedianMs  float64 `json:"median_ms"`
	P99Ms     float64 `json:"p99_ms"`
	LastMs    float64 `json:"last_ms"`
	PostMs    float64 `json:"post_ms"` // until the publish reply
}

// channelsResult: publishes to small channels at a rising rate.
type channelsResult struct {
	Channels         int            `json:"channels"`
	MembersPerChan   float64        `json:"members_per_channel"`
	Publishers       int            `json:"publishers"`
	StageSeconds     float64        `json:"stage_seconds"`
	Stages           []channelStage `json:"stages"`
	SustainedRate    float64        `json:"sustained_rate"` // highest passing stage, publishes/s
	SustainedCPUUs   float64        `json:"sustained_server_cpu_us_per_publish"`
	SustainedRedisUs *float64       `json:"sustained_redis_cpu_us_per_publish,omitempty"` // cluster: redis-server's own
	SustainedP99Ms   float64        `json:"sustained_p99_ms"`
	SustainedLimited string         `json:"sustained_stop_reason"`
	Retries          int            `json:"passed_on_retry"`           // stages that failed once, then passed
	CPUUsPerPublish  float64        `json:"server_cpu_us_per_publish"` // median over passing stages
	Expected         int64          `json:"expected"`
	Delivered        int64          `json:"delivered"`
	Lost             int64          `json:"lost"`
}

type channelStage struct {
	TargetRate    float64  `json:"target_rate"`
	AchievedRate  float64  `json:"achieved_rate"`
	Publishes     int      `json:"publishes"`
	Expected      int64    `json:"expected"`
	Delivered     int64    `json:"delivered"`
	Lost          int64    `json:"lost"`
	ServerSent    int64    `json:"server_sent"`
	HTTPErrors    int64    `json:"http_errors"`
	P50Ms         float64  `json:"p50_ms"`
	P90Ms         float64  `json:"p90_ms"`
	P99Ms         float64  `json:"p99_ms"`
	MaxMs         float64  `json:"max_ms"`
	ServerCPUUs   float64  `json:"server_cpu_us_per_publish"`
	ServerCores   float64  `json:"server_cpu_cores"`                   // CPU seconds per wall second
	RedisCPUUs    *float64 `json:"redis_cpu_us_per_publish,omitempty"` // cluster: redis-server's own
	RedisCores    *float64 `json:"redis_cpu_cores,omitempty"`
	ClientCores   float64  `json:"client_cpu_cores"`
	PostBacklog   int      `json:"post_backlog"` // publishes not yet posted when the stage ended
	Pass          bool     `json:"pass"`
	Reason        string   `json:"reason,omitempty"`
	LimitedBy     string   `json:"limited_by,omitempty"`
	StageDuration float64  `json:"seconds"`
	Attempt       int      `json:"attempt"`
}

// runConnect opens all clients in cfg.Steps steps, sampling server RSS after each.
func (b *bench) runConnect(ctx context.Context) *connectResult {
	cfg := b.cfg
	r := &connectResult{Target: cfg.N, Steps: cfg.Steps}
	cpu0, self0 := b.serverCPU(), b.selfCPU()
	var active time.Duration
	for s := 1; s <= cfg.Steps && ctx.Err() == nil; s++ {
		from, to := cfg.N*(s-1)/cfg.Steps, cfg.N*s/cfg.Steps
		t0 := time.Now()
		ok, failed := b.connectRange(ctx, from, to)
		active += time.Since(t0)
		r.OK += ok
		r.Failed += failed
		b.logf("connect step %d/%d: %d authenticated (%d failed) in %.2fs", s, cfg.Steps, r.OK, r.Failed, time.Since(t0).Seconds())
		if cfg.Steps > 1 && b.server != nil {
			sleepCtx(ctx, cfg.StepSettle)
			r.Samples = append(r.Samples, rssSample{Conns: int(b.authedNow()), RSSKB: b.serverRSS()})
		}
	}
	b.connectTotals(r, active, cpu0, self0)
	return r
}

// connectTotals fills r's rates, latencies and CPU per connection from the
// time spent connecting and the CPU readings taken before.
func (b *bench) connectTotals(r *connectResult, active, cpu0, self0 time.Duration) {
	r.ActiveSeconds = round3(active.Seconds())
	b.gatherConnHist()
	if active > 0 {
		r.PerSecond = round1(float64(r.OK) / active.Seconds())
	}
	r.LatencyP50Ms = ms(b.connHist.quantile(0.5))
	r.LatencyP99Ms = ms(b.connHist.quantile(0.99))
	if r.OK > 0 {
		if cpu0 >= 0 {
			d := b.serverCPU() - cpu0
			r.ServerCPUSeconds = round3(d.Seconds())
			r.ServerCPUUsPer = round1(float64(d.Microseconds()) / float64(r.OK))
		}
		r.ClientCPUUsPer = round1(float64((b.selfCPU() - self0).Microseconds()) / float64(r.OK))
	}
}

// runIdle lets the connections settle and reads the server's RSS.
func (b *bench) runIdle(ctx context.Context, rss0 int64) *idleResult {
	cfg := b.cfg
	r := &idleResult{RSSKB0: rss0}
	sleepCtx(ctx, cfg.IdleSettle)
	disc0 := b.disconnectsNow()
	cpu0, t0 := b.serverCPU(), time.Now()
	spacing := min(time.Second, max(cfg.IdleSettle/5, 10*time.Millisecond))
	for i := 0; i < 3 && ctx.Err() == nil; i++ {
		if i > 0 {
			sleepCtx(ctx, spacing)
		}
		r.RSSKBNSamples = append(r.RSSKBNSamples, b.serverRSS())
	}
	if cfg.IdleHold > 0 {
		sleepCtx(ctx, cfg.IdleHold)
		r.RSSKBNSamples = append(r.RSSKBNSamples, b.serverRSS())
	}
	r.HeldSeconds = round3(time.Since(t0).Seconds())
	if cpu0 >= 0 && r.HeldSeconds > 0 {
		r.ServerCPUIdle = round1(100 * (b.serverCPU() - cpu0).Seconds() / r.HeldSeconds)
	}
	r.Conns = int(b.authedNow())
	r.Disconnects = b.disconnectsNow() - disc0
	r.RSSKBN = slices.Max(r.RSSKBNSamples)
	if b.server != nil {
		_, r.ServerThreads, _ = b.server.status()
	}
	if r.Conns > 0 && rss0 >= 0 {
		r.BytesPerConn = round1(float64(r.RSSKBN-rss0) * 1024 / float64(r.Conns))
		r.KBPerConn = round3(r.BytesPerConn / 1024)
	}
	if kb, _, err := b.self.status(); err == nil && r.Conns > 0 {
		r.ClientRSSKB = kb
		r.ClientPerConnB = round1(float64(kb) * 1024 / float64(r.Conns))
	}
	if cfg.PID == selfPID() {
		r.Note = "server in the load client's process: RSS is of both"
	}
	return r
}

// sentAtField is the "sbts" member of a cluster run's published message: its
// send time in ns since the coordinator's origin (empty in other runs, whose
// messages stay as they were).
func sentAtField(wall bool, at int64) string {
	if !wall {
		return ""
	}
	return `,"sbts":` + strconv.FormatInt(at, 10)
}

// bodyPad is the published payload filler.
func bodyPad(n int) string { return strings.Repeat("x", max(n, 0)) }

// runBroadcast publishes cfg.Broadcasts broadcasts one after the other, each
// once the previous one reached every client (or timed out).
func (b *bench) runBroadcast(ctx context.Context) *broadcastResult {
	cfg := b.cfg
	// A cluster's nodes take the broadcasts in turn.
	pubs := b.publishers(1)
	defer closeAllPublishers(pubs)
	r := &broadcastResult{Messages: cfg.Broadcasts, Warmup: cfg.Warmup, PayloadBytes: cfg.Payload}
	r.Recipients = int(b.authedNow())
	pad := bodyPad(cfg.Payload)
	var firsts, meds, p99s, lasts, rates []float64
	var all []int64
	var cpu0, sys0, self0, redis0 time.Duration
	for m := 0; m < cfg.Warmup+cfg.Broadcasts && ctx.Err() == nil; m++ {
		measured := m >= cfg.Warmup
		if m == cfg.Warmup {
			cpu0, sys0, self0, redis0 = b.serverCPU(), b.serverSysCPU(), b.selfCPU(), b.redisCPU()
		}
		rec := &b.pubs[m]
		expected := b.expect(m, 1, 0)
		t0 := b.now()
		rec.sent.Store(t0)
		body := `{"broadcast":true,"channel":"nodejs_notify","callback":"sbBroadcast","data":{"sbseq":` +
			strconv.Itoa(m) + sentAtField(b.wall, t0) + `,"subject":"bench","body":"` + pad + `"}}`
		sent, err := pubs[m%len(pubs)].post([]byte(body))
		postMs := ms(b.now() - t0)
		if err != nil {
			b.noteErr(err)
			if measured {
				r.Errors++
			}
		}
		deadline := time.Now().Add(cfg.DeliverTimeout)
		for b.delivered(m, 1) < expected && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(b.pollEvery())
		}
		lat := b.bcastLatencies(m)
		st := broadcastStats{Delivered: len(lat), Sent: sent, PostMs: postMs}
		if len(lat) > 0 {
			st.FirstMs, st.MedianMs = ms(lat[0]), ms(sortedQuantile(lat, 0.5))
			st.P99Ms, st.LastMs = ms(sortedQuantile(lat, 0.99)), ms(lat[len(lat)-1])
		}
		if measured {
			r.PerMessage = append(r.PerMessage, st)
			r.Expected += int64(expected)
			r.Delivered += int64(len(lat))
			r.ServerSent += int64(max(sent, 0))
			if len(lat) > 0 {
				firsts, meds = append(firsts, st.FirstMs), append(meds, st.MedianMs)
				p99s, lasts = append(p99s, st.P99Ms), append(lasts, st.LastMs)
				rates = append(rates, round1(float64(len(lat))/(float64(lat[len(lat)-1])/1e9)))
				all = append(all, lat...)
			}
		}
		b.logf("broadcast %d%s: %d/%d delivered, first %.1fms median %.1fms last %.1fms",
			m, map[bool]string{true: "", false: " (warm-up)"}[measured], len(lat), expected, st.FirstMs, st.MedianMs, st.LastMs)
		sleepCtx(ctx, cfg.Gap)
	}
	cpu, sys, self, redis := b.serverCPU()-cpu0, b.serverSysCPU()-sys0, b.selfCPU()-self0, b.redisCPU()-redis0
	r.Lost = r.Expected - r.Delivered
	r.FirstMs, r.MedianMs, r.P99Ms, r.LastMs = summarize(firsts), summarize(meds), summarize(p99s), summarize(lasts)
	r.DeliveriesPerS = summarize(rates)
	if r.Delivered > 0 {
		if cpu0 >= 0 {
			r.ServerCPUUsPer = round3(float64(cpu.Nanoseconds()) / 1e3 / float64(r.Delivered))
		}
		if sys0 >= 0 {
			r.ServerSysCPUUsPer = ptr(round3(float64(sys.Nanoseconds()) / 1e3 / float64(r.Delivered)))
		}
		if redis0 >= 0 {
			r.RedisCPUUsPer = ptr(round3(float64(redis.Nanoseconds()) / 1e3 / float64(r.Delivered)))
		}
		r.ClientCPUUsPer = round3(float64(self.Nanoseconds()) / 1e3 / float64(r.Delivered))
	}
	slices.Sort(all)
	r.CDF = cdfOf(all)
	return r
}

// runChannels publishes to channels of about cfg.N/cfg.Channels members each,
// round robin, at a rate that rises stage by stage until a stage loses a
// delivery, misses the p99 limit or cannot be posted at its rate.
func (b *bench) runChannels(ctx context.Context) *channelsResult {
	cfg := b.cfg
	r := &channelsResult{
		Channels: cfg.Channels, Publishers: cfg.Publishers, StageSeconds: cfg.StageDur.Seconds(),
		MembersPerChan: round1(float64(b.authedNow()) / float64(cfg.Channels)),
	}
	pubs := b.publishers(cfg.Publishers)
	defer closeAllPublishers(pubs)
	pad := bodyPad(cfg.Payload)
	rate := cfg.RateStart
	var passCPU []float64
	stage := 0
ramp:
	for stage < cfg.MaxStages && rate <= cfg.MaxRate && ctx.Err() == nil {
		// A failed stage is run again (up to -stage-retries times) before the
		// ramp ends: one GC pause or a neighbour's burst is not a rate limit.
		for attempt := 0; ; attempt++ {
			n := int(rate * cfg.StageDur.Seconds())
			if int(b.nextSeq.Load())+n > len(b.pubs) {
				r.SustainedLimited = "publish budget (-max-publishes) exhausted"
				break ramp
			}
			st := b.channelStage(ctx, pubs, stage, rate, n, pad)
			st.Attempt = attempt + 1
			b.logf("channels stage %d: %.0f/s target, %.0f/s achieved, %d/%d delivered, p99 %.1fms, %.0fus CPU/publish, server %.2f cores, client %.2f cores: %s",
				stage, st.TargetRate, st.AchievedRate, st.Delivered, st.Expected, st.P99Ms, st.ServerCPUUs, st.ServerCores, st.ClientCores,
				map[bool]string{true: "pass", false: "FAIL " + st.Reason}[st.Pass])
			r.Stages = append(r.Stages, st)
			r.Expected += st.Expected
			r.Delivered += st.Delivered
			stage++
			if st.Pass {
				r.SustainedRate = round1(st.AchievedRate)
				r.SustainedCPUUs = st.ServerCPUUs
				r.SustainedRedisUs = st.RedisCPUUs
				r.SustainedP99Ms = st.P99Ms
				passCPU = append(passCPU, st.ServerCPUUs)
				if attempt > 0 {
					r.Retries++
				}
				break
			}
			if attempt >= cfg.StageRetries || stage >= cfg.MaxStages || ctx.Err() != nil {
				r.SustainedLimited = st.Reason
				if st.LimitedBy != "" {
					r.SustainedLimited += " (" + st.LimitedBy + ")"
				}
				break ramp
			}
			sleepCtx(ctx, 500*time.Millisecond)
		}
		rate *= cfg.RateFactor
	}
	if r.SustainedLimited == "" {
		r.SustainedLimited = "no stage failed before -max-rate / -max-stages"
	}
	r.Lost = r.Expected - r.Delivered
	r.CPUUsPerPublish = round1(median(passCPU))
	return r
}

// channelStage runs one stage of n publishes at rate. Publish seq goes to
// channel channelOf(seq), POSTed (in a cluster) to the node after the one
// that holds the channel's members.
func (b *bench) channelStage(ctx context.Context, pubs []*publisher, stage int, rate float64, n int, pad string) channelStage {
	cfg := b.cfg
	st := channelStage{TargetRate: round1(rate)}
	first := int(b.nextSeq.Add(int64(n))) - n
	b.expect(first, n, stage)
	jobs := make(chan int, n)
	var posted, httpErrs, serverSent atomic.Int64
	var lastPost atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < cfg.Publishers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range jobs {
				rec := &b.pubs[seq]
				ch := int(rec.ch.Load())
				body := `{"broadcast":false,"channel":"ch_` + strconv.Itoa(ch) +
					`","callback":"sbChannel","data":{"sbseq":` + strconv.Itoa(seq) + sentAtField(b.wall, rec.sent.Load()) +
					`,"subject":"bench","body":"` + pad + `"}}`
				sent, err := pubs[(ch+1)%len(pubs)].post([]byte(body))
				if err != nil {
					httpErrs.Add(1)
					b.noteErr(err)
				} else if sent > 0 {
					serverSent.Add(int64(sent))
				}
				posted.Add(1)
				lastPost.Store(b.now())
			}
		}()
	}
	cpu0, self0, redis0 := b.serverCPU(), b.selfCPU(), b.redisCPU()
	wall0 := time.Now()
	start := b.now()
	interval := float64(time.Second) / rate
	var expected int64
	k := 0
	for k < n && ctx.Err() == nil {
		now := b.now()
		for k < n {
			at := start + int64(float64(k)*interval)
			if at > now {
				break
			}
			seq := first + k
			rec := &b.pubs[seq]
			expected += int64(rec.expected.Load()) // channel and members: see expect
			rec.sent.Store(at)                     // latency counts from the scheduled time
			jobs <- seq
			k++
		}
		time.Sleep(500 * time.Microsecond)
	}
	st.PostBacklog = len(jobs)
	close(jobs)
	// Wait for the posts, then for deliveries, both bounded.
	postDone := make(chan struct{})
	go func() { wg.Wait(); close(postDone) }()
	select {
	case <-postDone:
	case <-time.After(cfg.StageDur + 10*time.Second):
	case <-ctx.Done():
	}
	deadline := time.Now().Add(cfg.DeliverTimeout)
	for b.delivered(first, k) < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(max(2*time.Millisecond, b.pollEvery()))
	}
	wall := time.Since(wall0)
	cpu, self, redis := b.serverCPU()-cpu0, b.selfCPU()-self0, b.redisCPU()-redis0
	b.gatherHist(stage)
	h := b.hists[stage]
	st.Publishes = int(posted.Load())
	st.Expected = expected
	st.Delivered = max(b.delivered(first, k), 0)
	st.Lost = st.Expected - st.Delivered
	st.ServerSent = serverSent.Load()
	st.HTTPErrors = httpErrs.Load()
	st.P50Ms, st.P90Ms = ms(h.quantile(0.5)), ms(h.quantile(0.9))
	st.P99Ms, st.MaxMs = ms(h.quantile(0.99)), ms(h.max.Load())
	st.StageDuration = round3(wall.Seconds())
	if span := lastPost.Load() - start; span > 0 && st.Publishes > 0 {
		st.AchievedRate = round1(float64(st.Publishes) / (float64(span) / 1e9))
		st.AchievedRate = min(st.AchievedRate, round1(rate*float64(st.Publishes)/float64(n)*1.02))
	}
	if st.Publishes > 0 && cpu0 >= 0 {
		st.ServerCPUUs = round1(float64(cpu.Nanoseconds()) / 1e3 / float64(st.Publishes))
	}
	if st.Publishes > 0 && redis0 >= 0 {
		st.RedisCPUUs = ptr(round1(float64(redis.Nanoseconds()) / 1e3 / float64(st.Publishes)))
		st.RedisCores = ptr(round3(redis.Seconds() / wall.Seconds()))
	}
	st.ServerCores = round3(cpu.Seconds() / wall.Seconds())
	if cpu0 < 0 {
		st.ServerCores = 0
	}
	st.ClientCores = round3(self.Seconds() / wall.Seconds())
	switch {
	case st.HTTPErrors > 0:
		st.Reason = fmt.Sprintf("%d publish requests failed", st.HTTPErrors)
	case st.Lost > 0:
		st.Reason = fmt.Sprintf("%d deliveries lost", st.Lost)
	case st.P99Ms > float64(cfg.P99Limit)/1e6:
		st.Reason = fmt.Sprintf("p99 %.1fms over %v", st.P99Ms, cfg.P99Limit)
	case st.AchievedRate < 0.9*rate:
		st.Reason = fmt.Sprintf("achieved %.0f/s of %.0f/s", st.AchievedRate, rate)
	default:
		st.Pass = true
	}
	if !st.Pass {
		// Name the likely limit: the process closest to saturating its share.
		switch {
		case st.ClientCores > 0.85 && st.ClientCores > st.ServerCores:
			st.LimitedBy = "load client busy: it, not the server, may be the limit"
		case st.ServerCores > 0.85:
			st.LimitedBy = "server busy"
		}
	}
	return st
}

func (b *bench) selfCPU() time.Duration {
	d, err := b.self.cpu()
	if err != nil {
		return 0
	}
	return d
}

// ptr is a figure that a run may not have (nil: not measured, not zero).
func ptr(v float64) *float64 { return &v }

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
