// Package memreduce gives memory back to the operating system when a server
// goes quiet, as V8's memory reducer does for Node.
//
// Go's collector lets the heap grow to twice what is live before it collects
// (GOGC=100), and the scavenger keeps that much resident. For a push server that
// is the wrong trade when it is idle: after a burst of connections the process
// stays at the burst's peak, most of it garbage, while thousands of quiet sockets
// need only their live state. A Reducer watches the allocation rate; once it has
// been low for a few intervals and enough memory could be reclaimed, it runs
// debug.FreeOSMemory (a full collection that returns free pages). Under load it
// does nothing and the runtime's own pacing governs.
package memreduce

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config tunes a Reducer. The zero value is usable: every field has a default.
type Config struct {
	// Interval between samples of the runtime's memory statistics. Default 1s.
	Interval time.Duration
	// Quiet is how many consecutive quiet intervals come before a reduction.
	// Default 3.
	Quiet int
	// QuietRate is the allocation rate, in bytes per second, below which an
	// interval is quiet. Default 4 MiB/s: a server holding idle connections
	// (heartbeats only) allocates far less; one serving a burst, far more.
	QuietRate float64
	// MinReclaim is the least reclaimable memory (garbage plus free heap pages)
	// worth a full collection; it is also at least a quarter of the live heap,
	// so small heaps are not collected over and over. Default 8 MiB.
	MinReclaim uint64
	// Logger receives a debug line per reduction. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 3
	}
	if c.QuietRate <= 0 {
		c.QuietRate = 4 << 20
	}
	if c.MinReclaim == 0 {
		c.MinReclaim = 8 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Sample is what the decision reads of the runtime.
type Sample struct {
	At             time.Time
	Allocated      uint64 // cumulative bytes allocated on the heap
	Live           uint64 // heap marked live by the last collection
	Objects        uint64 // heap occupied by objects, live or not yet collected
	FreeUnreleased uint64 // free heap pages not yet returned to the OS
}

// Reclaimable is what a full collection plus a scavenge could give back.
func (s Sample) Reclaimable() uint64 {
	var garbage uint64
	if s.Objects > s.Live {
		garbage = s.Objects - s.Live
	}
	return garbage + s.FreeUnreleased
}

// Reducer decides, sample by sample, when to reduce.
//
// It reduces once per burst: after a reduction it waits for an interval at or
// above QuietRate before it may reduce again. A server that keeps working at
// a moderate pace (broadcasts allocate little: each is encoded once) piles up
// enough garbage every few seconds to pass MinReclaim, and a full collection
// plus a scavenge each time costs it CPU and page faults for memory it takes
// straight back; there the runtime's own pacer and scavenger are the right
// tools. V8's memory reducer likewise stops after a few collections until
// the allocation rate rises again.
type Reducer struct {
	cfg   Config
	prev  Sample
	quiet int
	// spent: a reduction ran and no busy interval came since.
	spent bool
}

// New returns a Reducer using cfg.
func New(cfg Config) *Reducer { return &Reducer{cfg: cfg.withDefaults()} }

// Observe takes the next sample and reports whether to reduce now.
func (r *Reducer) Observe(s Sample) bool {
	prev := r.prev
	r.prev = s
	if prev.At.IsZero() || !s.At.After(prev.At) || s.Allocated < prev.Allocated {
		r.quiet = 0
		return false
	}
	rate := float64(s.Allocated-prev.Allocated) / s.At.Sub(prev.At).Seconds()
	if rate >= r.cfg.QuietRate {
		r.quiet = 0
		r.spent = false
		return false
	}
	r.quiet++
	if r.spent || r.quiet < r.cfg.Quiet {
		return false
	}
	if s.Reclaimable() < max(r.cfg.MinReclaim, s.Live/4) {
		return false
	}
	r.quiet = 0
	r.spent = true
	return true
}

var sampleNames = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

// Read samples the runtime's statistics now.
func Read(buf []metrics.Sample) (Sample, []metrics.Sample) {
	if len(buf) != len(sampleNames) {
		buf = make([]metrics.Sample, len(sampleNames))
		for i, n := range sampleNames {
			buf[i].Name = n
		}
	}
	metrics.Read(buf)
	val := func(i int) uint64 {
		if buf[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return buf[i].Value.Uint64()
	}
	return Sample{At: time.Now(), Allocated: val(0), Live: val(1), Objects: val(2), FreeUnreleased: val(3)}, buf
}

// Run samples every Interval until ctx ends, reducing when Observe says so.
func (r *Reducer) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	var buf []metrics.Sample
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var s Sample
		s, buf = Read(buf)
		if !r.Observe(s) {
			continue
		}
		start := time.Now()
		debug.FreeOSMemory()
		after, b := Read(buf)
		buf = b
		r.prev = after // the collection's own allocations do not count as activity
		r.cfg.Logger.Debug("memory reduced",
			slog.Uint64("reclaimable_bytes", s.Reclaimable()),
			slog.Uint64("live_bytes", after.Live),
			slog.Duration("took", time.Since(start)))
	}
}
