package main

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
)

// hist is a lock-free log-linear histogram of durations in nanoseconds: 32
// buckets per power of two, so a quantile read from it is within about 3%.
type hist struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64
}

const (
	histSub     = 5 // log2 of the buckets per octave
	histBuckets = 40 << histSub
)

func histBucket(v int64) int {
	if v < 1<<histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - histSub - 1
	b := (e+1)<<histSub + int((v>>e)&(1<<histSub-1))
	return min(b, histBuckets-1)
}

// histLow is the smallest value of bucket b; histLow(b+1) bounds it above.
func histLow(b int) int64 {
	if b < 1<<histSub {
		return int64(b)
	}
	e := b>>histSub - 1
	return int64(1<<histSub+b&(1<<histSub-1)) << e
}

func (h *hist) add(v int64) {
	h.counts[histBucket(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// quantile returns the value at q (0..1), as the middle of its bucket.
func (h *hist) quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var cum int64
	for b := range h.counts {
		cum += h.counts[b].Load()
		if cum >= rank {
			lo, hi := histLow(b), histLow(b+1)
			return min(lo+(hi-lo)/2, h.max.Load())
		}
	}
	return h.max.Load()
}

// sortedQuantile reads q (0..1) from sorted values, nearest rank.
func sortedQuantile(s []int64, q float64) int64 {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// cdfPoints samples a latency distribution for the report: the value at each
// percentile 0..100 plus 99.9, in milliseconds.
type cdfPoint struct {
	Q  float64 `json:"q"`
	Ms float64 `json:"ms"`
}

func cdfOf(sorted []int64) []cdfPoint {
	if len(sorted) == 0 {
		return nil
	}
	var out []cdfPoint
	for p := 0; p <= 100; p++ {
		q := float64(p) / 100
		if p == 0 {
			out = append(out, cdfPoint{0, ms(sorted[0])})
			continue
		}
		out = append(out, cdfPoint{q, ms(sortedQuantile(sorted, q))})
		if p == 99 {
			out = append(out, cdfPoint{0.999, ms(sortedQuantile(sorted, 0.999))})
		}
	}
	return out
}

func ms(ns int64) float64 { return round3(float64(ns) / 1e6) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary is the median, minimum and maximum of one figure over repetitions.
type summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func summarize(v []float64) summary {
	if len(v) == 0 {
		return summary{}
	}
	return summary{Median: round3(median(v)), Min: round3(slices.Min(v)), Max: round3(slices.Max(v))}
}
