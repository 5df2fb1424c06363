package memreduce

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const mib = 1 << 20
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// 100 MiB of objects of which 40 MiB live: 60 MiB reclaimable.
	idle := func(s int, alloc uint64) Sample {
		return Sample{At: at(s), Allocated: alloc, Live: 40 * mib, Objects: 100 * mib}
	}
	tt := []struct {
		name    string
		samples []Sample
		want    []bool
	}{
		{"quiet three intervals, much garbage",
			[]Sample{idle(0, 500*mib), idle(1, 500*mib+mib), idle(2, 500*mib+2*mib), idle(3, 500*mib+3*mib), idle(4, 500*mib+3*mib)},
			[]bool{false, false, false, true, false}},
		{"once per burst: garbage piling up slowly after a reduction waits for a busy interval",
			[]Sample{idle(0, 0), idle(1, mib), idle(2, 2*mib), idle(3, 3*mib), // reduced
				idle(4, 4*mib), idle(5, 5*mib), idle(6, 6*mib), idle(7, 7*mib), idle(8, 8*mib), // quiet, garbage again: not again
				idle(9, 30*mib),                                       // a burst
				idle(10, 31*mib), idle(11, 32*mib), idle(12, 33*mib)}, // quiet after it: reduced again
			[]bool{false, false, false, true, false, false, false, false, false, false, false, false, true}},
		{"busy interval resets the count",
			[]Sample{idle(0, 0), idle(1, mib), idle(2, 2*mib), idle(3, 20*mib), idle(4, 21*mib), idle(5, 22*mib), idle(6, 23*mib)},
			[]bool{false, false, false, false, false, false, true}},
		{"little to reclaim",
			[]Sample{
				{At: at(0), Live: 40 * mib, Objects: 45 * mib},
				{At: at(1), Live: 40 * mib, Objects: 45 * mib},
				{At: at(2), Live: 40 * mib, Objects: 45 * mib},
				{At: at(3), Live: 40 * mib, Objects: 45 * mib, FreeUnreleased: 4 * mib},
			},
			[]bool{false, false, false, false}},
		{"free pages count",
			[]Sample{
				{At: at(0), Live: 4 * mib, Objects: 4 * mib},
				{At: at(1), Live: 4 * mib, Objects: 4 * mib},
				{At: at(2), Live: 4 * mib, Objects: 4 * mib},
				{At: at(3), Live: 4 * mib, Objects: 4 * mib, FreeUnreleased: 9 * mib},
			},
			[]bool{false, false, false, true}},
		{"clock going backwards is not quiet",
			[]Sample{idle(5, 0), idle(4, 0), idle(6, 0), idle(7, 0), idle(8, 0)},
			[]bool{false, false, false, false, true}},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			for i, s := range tc.samples {
				if got := r.Observe(s); got != tc.want[i] {
					t.Fatalf("sample %d: Observe = %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

// recorder hands each log record's message to a channel.
type recorder struct{ msgs chan string }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r.msgs <- rec.Message:
	default:
	}
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

var sink [][]byte

// After a burst of garbage and a quiet spell, Run reduces: the heap's free and
// garbage pages go back to the OS.
func TestRunReduces(t *testing.T) {
	// With the collector off the garbage stays until the reducer collects it
	// (FreeOSMemory collects regardless), so the test does not race the pacer.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for i := 0; i < 64; i++ {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	rec := recorder{msgs: make(chan string, 1)}
	r := New(Config{Interval: 20 * time.Millisecond, Quiet: 2, QuietRate: 64 << 20, Logger: slog.New(rec)})
	before, _ := Read(nil)
	if before.Reclaimable() < 48<<20 {
		t.Fatalf("only %d bytes reclaimable after dropping 64 MiB", before.Reclaimable())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	select {
	case msg := <-rec.msgs:
		if msg != "memory reduced" {
			t.Fatalf("log %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reduction within 10s")
	}
	cancel()
	<-done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if idleKept := ms.HeapIdle - ms.HeapReleased; idleKept > 16<<20 {
		t.Fatalf("after the reduction %d bytes of idle heap are still resident", idleKept)
	}
}
