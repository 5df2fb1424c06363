package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"
)

// A cluster run's clients live in worker processes: one process may open at
// most RLIMIT_NOFILE files (20,000 here), and a cluster holds more clients
// than that. The coordinator (cluster.go) starts each worker as this same
// binary with workerEnv set, and drives it over stdin/stdout with one JSON
// request per line and one JSON reply per request; the worker's stderr is
// the coordinator's. A worker owns the clients i with i%count == index, runs
// them exactly as a single-process run does (the same dialer, event loop,
// parser, pinger and delivery tables), and reports counts, never judgements:
// the coordinator publishes, reads /proc and decides.

// workerEnv marks a worker process; its value is ignored.
const workerEnv = "SOCKETBENCH_WORKER"

// workerReq is one request to a worker.
type workerReq struct {
	Op string `json:"op"` // init, connect, plan, progress, latencies, hist, members, status, close
	// init
	Cfg      *config `json:"cfg,omitempty"`
	Index    int     `json:"index,omitempty"`
	Count    int     `json:"count,omitempty"`
	BaseUnix int64   `json:"base_unix,omitempty"` // the coordinator's time origin
	// connect: the owned clients in [From, To)
	From int `json:"from,omitempty"`
	To   int `json:"to,omitempty"`
	// plan, progress: publishes [First, First+N); latencies: broadcast First
	First int `json:"first,omitempty"`
	N     int `json:"n,omitempty"`
	Stage int `json:"stage,omitempty"` // plan, hist: channel stage
}

// workerReply answers one request; Err is set when it failed.
type workerReply struct {
	Err       string        `json:"err,omitempty"`
	PID       int           `json:"pid,omitempty"`
	OK        int           `json:"ok,omitempty"`
	Failed    int           `json:"failed,omitempty"`
	Expected  int64         `json:"expected,omitempty"`
	Delivered int64         `json:"delivered,omitempty"`
	Lat       []int64       `json:"lat,omitempty"`
	Hist      *histDump     `json:"hist,omitempty"`
	Members   []int32       `json:"members,omitempty"`
	Status    *workerStatus `json:"status,omitempty"`
}

// workerStatus is a worker's running totals.
type workerStatus struct {
	Authed      int64          `json:"authed"`
	Disconnects int64          `json:"disconnects"`
	Dups        int64          `json:"dups"`
	Extra       int64          `json:"extra"`
	Misrouted   int64          `json:"misrouted"`
	Unexpected  int64          `json:"unexpected"`
	Errs        map[string]int `json:"errs,omitempty"`
	NErrs       int            `json:"n_errs"`
	Conn        *histDump      `json:"conn_hist,omitempty"` // connect+authenticate latencies
}

// histDump carries a hist's non-empty buckets.
type histDump struct {
	Buckets [][2]int64 `json:"b"` // (bucket, count)
	Max     int64      `json:"max"`
}

func (h *hist) dump() *histDump {
	d := &histDump{Max: h.max.Load()}
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			d.Buckets = append(d.Buckets, [2]int64{int64(i), n})
		}
	}
	return d
}

// merge adds a dump's counts to h.
func (h *hist) merge(d *histDump) {
	if d == nil {
		return
	}
	for _, bc := range d.Buckets {
		if bc[0] >= 0 && bc[0] < histBuckets && bc[1] > 0 {
			h.counts[bc[0]].Add(bc[1])
			h.n.Add(bc[1])
		}
	}
	for {
		m := h.max.Load()
		if d.Max <= m || h.max.CompareAndSwap(m, d.Max) {
			return
		}
	}
}

// runWorker serves a coordinator until "close" or the end of its input (the
// coordinator gone): either way every client is closed before it returns.
func runWorker(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	w := &worker{}
	defer w.stop()
	for {
		var req workerReq
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("worker: reading a request: %w", err)
		}
		rep, err := w.handle(req)
		if err != nil {
			rep = workerReply{Err: err.Error()}
		}
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("worker: writing a reply: %w", err)
		}
		if req.Op == "close" {
			return nil
		}
	}
}

// worker is one worker process's state: its bench, built by init.
type worker struct {
	b      *bench
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *worker) stop() {
	if w.b != nil {
		w.b.closeAll()
		w.cancel()
		w.b = nil
	}
}

func (w *worker) handle(req workerReq) (workerReply, error) {
	if req.Op != "init" && w.b == nil {
		return workerReply{}, errors.New("worker: not initialised")
	}
	b := w.b
	switch req.Op {
	case "init":
		if w.b != nil || req.Cfg == nil || req.Count < 1 || req.Index < 0 || req.Index >= req.Count {
			return workerReply{}, errors.New("worker: bad init")
		}
		cfg := *req.Cfg
		cfg.worker = true
		b, err := newBench(cfg, nil)
		if err != nil {
			return workerReply{}, err
		}
		b.baseUnix = req.BaseUnix
		b.stride, b.offset = req.Count, req.Index
		w.b = b
		// The run's bound, and the coordinator's: a worker outlives neither.
		w.ctx, w.cancel = context.WithTimeout(context.Background(), cfg.Timeout+time.Minute)
		if cfg.EIO == 3 {
			go b.pinger(w.ctx)
		}
		return workerReply{PID: os.Getpid()}, nil
	case "connect":
		ok, failed := b.connectRange(w.ctx, req.From, req.To)
		return workerReply{OK: ok, Failed: failed}, nil
	case "plan":
		return workerReply{Expected: b.plan(req.First, req.N, req.Stage)}, nil
	case "progress":
		if err := b.checkSeqs(req.First, req.N); err != nil {
			return workerReply{}, err
		}
		return workerReply{Delivered: b.deliveredLocal(req.First, req.N)}, nil
	case "latencies":
		if req.First < 0 || req.First >= b.nBcast {
			return workerReply{}, fmt.Errorf("worker: no broadcast %d", req.First)
		}
		return workerReply{Lat: b.bcastLocal(req.First)}, nil
	case "hist":
		if req.Stage < 0 || req.Stage >= len(b.hists) {
			return workerReply{}, fmt.Errorf("worker: no stage %d", req.Stage)
		}
		return workerReply{Hist: b.hists[req.Stage].dump()}, nil
	case "members":
		m := make([]int32, len(b.members))
		for i := range b.members {
			m[i] = b.members[i].Load()
		}
		return workerReply{Members: m}, nil
	case "status":
		return workerReply{Status: b.localStatus()}, nil
	case "close":
		b.closeAll()
		st := b.localStatus()
		w.cancel()
		w.b = nil
		return workerReply{Status: st}, nil
	}
	return workerReply{}, fmt.Errorf("worker: unknown op %q", req.Op)
}

func (b *bench) checkSeqs(first, n int) error {
	if first < 0 || n < 0 || first+n > len(b.pubs) {
		return fmt.Errorf("worker: publishes [%d,%d) outside the table", first, first+n)
	}
	return nil
}

// plan records what this process expects of publishes [first, first+n): a
// broadcast reaches every authenticated client, a channel publish the
// channel's members; it returns the sum. A channel publish's channel follows
// from its number (channelOf), so coordinator and workers agree on it.
func (b *bench) plan(first, n, stage int) int64 {
	if b.checkSeqs(first, n) != nil {
		return 0
	}
	var sum int64
	for seq := first; seq < first+n; seq++ {
		rec := &b.pubs[seq]
		var exp int32
		if seq < b.nBcast {
			exp = int32(b.authed.Load())
		} else {
			ch := b.channelOf(seq)
			exp = b.members[ch].Load()
			rec.ch.Store(int32(ch))
			rec.stage.Store(int32(stage))
		}
		rec.expected.Store(exp)
		sum += int64(exp)
	}
	return sum
}

// channelOf is the channel a channel publish goes to: round robin by number.
func (b *bench) channelOf(seq int) int { return (seq - b.nBcast) % len(b.members) }

// deliveredLocal counts the expected deliveries of [first, first+n) this
// process received (extra ones are counted apart).
func (b *bench) deliveredLocal(first, n int) int64 {
	var d int64
	for seq := first; seq < first+n; seq++ {
		rec := &b.pubs[seq]
		d += int64(min(rec.got.Load(), rec.expected.Load()))
	}
	return d
}

// bcastLocal returns the latencies of broadcast m this process's clients saw,
// sorted.
func (b *bench) bcastLocal(m int) []int64 {
	lat := make([]int64, 0, len(b.bcastLat[m]))
	for i := range b.bcastLat[m] {
		if v := b.bcastLat[m][i].Load(); v > 0 {
			lat = append(lat, v)
		}
	}
	slices.Sort(lat)
	return lat
}

func (b *bench) localStatus() *workerStatus {
	st := &workerStatus{
		Authed: b.authed.Load(), Disconnects: b.disconnects.Load(), Dups: b.dups.Load(),
		Extra: b.extra.Load(), Misrouted: b.misrouted.Load(), Unexpected: b.unexpected.Load(),
		Conn: b.connHist.dump(),
	}
	b.errMu.Lock()
	st.Errs, st.NErrs = maps.Clone(b.errs), b.nErrs
	b.errMu.Unlock()
	return st
}
