package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A cluster run (-urls u1,u2,u3) measures the nodes of one cluster together:
// the same scenarios as a single-server run, with the server's figures summed
// over the nodes' processes (-pids) and the cluster's redis-server (-redis-pid)
// reported beside them. Client i connects to node i%K and joins channel
// ch_<i%C>, with C a multiple of K, so every member of channel c is on node
// c%K; its publishes are POSTed to node (c+1)%K, which holds none of them,
// and reach the members only across the cluster. Broadcasts are POSTed to the
// nodes in turn. The clients live in worker processes (worker.go), each from
// its own 127.0.0.x source address; this process, the coordinator, runs the
// stand-in Drupal backend, publishes, reads /proc and merges the workers'
// counts. Published messages carry their send time ("sbts", ns since the
// coordinator's time origin, which the workers share), so a worker times a
// delivery against the wall clock the coordinator read.

// workerClients is how many clients one worker is given at most when
// -workers is 0: well inside the 20,000 open files a process may have here.
const workerClients = 15000

func (c config) validateCluster() []string {
	var errs []string
	k := len(c.URLs)
	for _, u := range c.URLs {
		if _, _, err := hostAddr(u); err != nil {
			errs = append(errs, "-urls: "+err.Error())
		}
	}
	if c.Transport != "websocket" {
		errs = append(errs, "a cluster run (-urls) is WebSocket only")
	}
	if c.Channels%k != 0 {
		errs = append(errs, fmt.Sprintf("-channels %d must be a multiple of the %d nodes (each channel's members on one node)", c.Channels, k))
	}
	if c.Workers < 0 {
		errs = append(errs, "-workers must be 0 (automatic) or more")
	}
	return errs
}

// workerCount is the number of worker processes: -workers, or at least two
// (a cluster run is always spread over processes) and one per workerClients.
func (c config) workerCount() int {
	w := c.Workers
	if w <= 0 {
		w = max(2, (c.N+workerClients-1)/workerClients)
	}
	return max(min(w, c.N), 1)
}

// workerSource is worker w's source address: "auto" gives each worker its own
// 127.0.0.x, an explicit -src list is dealt out in turn.
func (c config) workerSource(w int) string {
	switch c.Src {
	case "", "auto":
		return fmt.Sprintf("127.0.0.%d", w+1)
	case "none":
		return "none"
	}
	list := strings.Split(c.Src, ",")
	return list[w%len(list)]
}

// workerSet is the coordinator's handle on its workers.
type workerSet struct {
	procs []*workerProc
	ctx   context.Context // the run's: when it ends, the workers are killed
}

type workerProc struct {
	index int
	src   string
	cmd   *exec.Cmd
	mu    sync.Mutex // one request at a time
	enc   *json.Encoder
	dec   *json.Decoder
	stdin io.Closer
	out   io.Closer
	done  chan struct{} // closed when the process has exited
}

// startWorkers starts cfg.workerCount() workers (this binary with workerEnv
// set) and initialises each with its share of the clients.
func startWorkers(ctx context.Context, b *bench) (*workerSet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg := b.cfg
	n := cfg.workerCount()
	ws := &workerSet{ctx: ctx}
	for w := 0; w < n; w++ {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), workerEnv+"=1")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			ws.kill()
			return nil, err
		}
		// Our own pipe, not StdoutPipe: Wait (below) would close that one as the
		// worker exits, possibly before its last reply has been read.
		out, pw, err := os.Pipe()
		if err != nil {
			ws.kill()
			return nil, err
		}
		cmd.Stdout = pw
		err = cmd.Start()
		_ = pw.Close() // the worker has its copy
		if err != nil {
			_ = out.Close()
			ws.kill()
			return nil, fmt.Errorf("starting worker %d: %w", w, err)
		}
		p := &workerProc{index: w, src: cfg.workerSource(w), cmd: cmd, stdin: in, out: out,
			enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReaderSize(out, 64<<10)), done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		ws.procs = append(ws.procs, p)
	}
	// A stopped run must not leave workers behind, nor a request waiting on one.
	go func() {
		<-ctx.Done()
		ws.kill()
	}()
	_, err = ws.call(func(w int) workerReq {
		wc := cfg
		wc.Src = ws.procs[w].src
		wc.Concurrency = max(cfg.Concurrency/n, 1) // -concurrency connects in flight in all
		wc.PID, wc.PIDs, wc.RedisPID = 0, nil, 0   // the coordinator measures
		return workerReq{Op: "init", Cfg: &wc, Index: w, Count: n, BaseUnix: b.baseUnix}
	})
	if err != nil {
		ws.kill()
		return nil, err
	}
	return ws, nil
}

// pids lists the workers' process ids.
func (ws *workerSet) pids() []int {
	var out []int
	for _, p := range ws.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// roundTrip sends one request and reads its reply.
func (p *workerProc) roundTrip(req workerReq) (workerReply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var rep workerReply
	if err := p.enc.Encode(req); err != nil {
		return rep, fmt.Errorf("worker %d: %s: %w", p.index, req.Op, err)
	}
	if err := p.dec.Decode(&rep); err != nil {
		return rep, fmt.Errorf("worker %d: %s: no reply: %w", p.index, req.Op, err)
	}
	if rep.Err != "" {
		return rep, fmt.Errorf("worker %d: %s: %s", p.index, req.Op, rep.Err)
	}
	return rep, nil
}

// call sends every worker its request, in parallel, and returns the replies
// in worker order.
func (ws *workerSet) call(req func(w int) workerReq) ([]workerReply, error) {
	reps := make([]workerReply, len(ws.procs))
	errs := make([]error, len(ws.procs))
	var wg sync.WaitGroup
	for w, p := range ws.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[w], errs[w] = p.roundTrip(req(w))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ws.ctx.Err() != nil {
			return reps, ws.ctx.Err()
		}
		return reps, err
	}
	return reps, nil
}

func (ws *workerSet) all(op string) ([]workerReply, error) {
	return ws.call(func(int) workerReq { return workerReq{Op: op} })
}

// kill ends every worker still running (processes this coordinator started).
// Closing the reply pipe ends any read still waiting on one.
func (ws *workerSet) kill() {
	for _, p := range ws.procs {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
		_ = p.out.Close()
	}
}

// close asks every worker to close its clients and returns their final
// status; a worker that has not exited 5 s later is killed.
func (ws *workerSet) close() ([]workerReply, error) {
	reps, err := ws.all("close")
	for _, p := range ws.procs {
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
		_ = p.out.Close()
	}
	return reps, err
}

// connect opens the clients in [from, to), each worker its own.
func (ws *workerSet) connect(_ context.Context, from, to int) (ok, failed int) {
	reps, err := ws.call(func(int) workerReq { return workerReq{Op: "connect", From: from, To: to} })
	for _, r := range reps {
		ok += r.OK
		failed += r.Failed
	}
	if err != nil {
		// A worker that did not answer counts its share as failed.
		failed = max(failed, to-from-ok)
	}
	return ok, failed
}

// The bench methods below read the clients' side of a run: from this
// process's tables, or in a cluster coordinator from the workers.

// authedNow is the number of authenticated clients still connected.
func (b *bench) authedNow() int64 {
	if b.remote == nil {
		return b.authed.Load()
	}
	st, err := b.remoteStatus()
	if err != nil {
		b.noteErr(err)
	}
	return st.Authed
}

// disconnectsNow is the number of authenticated clients lost so far.
func (b *bench) disconnectsNow() int64 {
	if b.remote == nil {
		return b.disconnects.Load()
	}
	st, err := b.remoteStatus()
	if err != nil {
		b.noteErr(err)
	}
	return st.Disconnects
}

// remoteStatus sums the workers' status.
func (b *bench) remoteStatus() (workerStatus, error) {
	var sum workerStatus
	reps, err := b.remote.all("status")
	for _, r := range reps {
		if st := r.Status; st != nil {
			sum.Authed += st.Authed
			sum.Disconnects += st.Disconnects
		}
	}
	return sum, err
}

// expect records what publishes [first, first+n) should deliver and returns
// the total (see plan); a coordinator also refreshes its channel membership
// from the workers first, so the expected count of each publish is known here.
func (b *bench) expect(first, n, stage int) int64 {
	if b.remote == nil {
		return b.plan(first, n, stage)
	}
	if first >= b.nBcast {
		reps, err := b.remote.all("members")
		if err != nil {
			b.noteErr(err)
		}
		sums := make([]int32, len(b.members))
		for _, r := range reps {
			for i, m := range r.Members {
				if i < len(sums) {
					sums[i] += m
				}
			}
		}
		for i := range b.members {
			b.members[i].Store(sums[i])
		}
	}
	b.plan(first, n, stage) // this process's table, for the schedule
	reps, err := b.remote.call(func(int) workerReq { return workerReq{Op: "plan", First: first, N: n, Stage: stage} })
	if err != nil {
		b.noteErr(err)
	}
	var sum int64
	for _, r := range reps {
		sum += r.Expected
	}
	return sum
}

// delivered counts the expected deliveries of publishes [first, first+n)
// received so far.
func (b *bench) delivered(first, n int) int64 {
	if b.remote == nil {
		return b.deliveredLocal(first, n)
	}
	reps, err := b.remote.call(func(int) workerReq { return workerReq{Op: "progress", First: first, N: n} })
	if err != nil {
		b.noteErr(err)
		return -1 // unknown: the waits stop at their deadline
	}
	var d int64
	for _, r := range reps {
		d += r.Delivered
	}
	return d
}

// pollEvery is how often a wait for deliveries looks again: locally a load,
// across processes a round trip to every worker.
func (b *bench) pollEvery() time.Duration {
	if b.remote != nil {
		return 5 * time.Millisecond
	}
	return time.Millisecond
}

// bcastLatencies returns the receipt latencies of broadcast m, sorted.
func (b *bench) bcastLatencies(m int) []int64 {
	if b.remote == nil {
		return b.bcastLocal(m)
	}
	reps, err := b.remote.call(func(int) workerReq { return workerReq{Op: "latencies", First: m} })
	if err != nil {
		b.noteErr(err)
	}
	var all []int64
	for _, r := range reps {
		all = append(all, r.Lat...)
	}
	slices.Sort(all)
	return all
}

// gatherHist merges the workers' histograms of channel stage st into this
// process's.
func (b *bench) gatherHist(st int) {
	if b.remote == nil {
		return
	}
	reps, err := b.remote.call(func(int) workerReq { return workerReq{Op: "hist", Stage: st} })
	if err != nil {
		b.noteErr(err)
	}
	for _, r := range reps {
		b.hists[st].merge(r.Hist)
	}
}

// gatherConnHist merges the workers' connect latencies into this process's.
func (b *bench) gatherConnHist() {
	if b.remote == nil {
		return
	}
	reps, err := b.remote.all("status")
	if err != nil {
		b.noteErr(err)
	}
	for _, r := range reps {
		if r.Status != nil {
			b.connHist.merge(r.Status.Conn)
		}
	}
}

// closeRemote closes the workers' clients and adds their final counts and
// errors to this process's.
func (b *bench) closeRemote() {
	if b.remote == nil {
		return
	}
	reps, err := b.remote.close()
	if err != nil {
		b.noteErr(err)
	}
	for _, r := range reps {
		st := r.Status
		if st == nil {
			continue
		}
		b.disconnects.Add(st.Disconnects)
		b.dups.Add(st.Dups)
		b.extra.Add(st.Extra)
		b.misrouted.Add(st.Misrouted)
		b.unexpected.Add(st.Unexpected)
		b.errMu.Lock()
		b.nErrs += st.NErrs
		for k, v := range st.Errs {
			if _, ok := b.errs[k]; ok || len(b.errs) < 20 {
				b.errs[k] += v
			}
		}
		b.errMu.Unlock()
	}
}

// redisCPU returns the cluster's redis-server CPU time, or -1 without -redis-pid.
func (b *bench) redisCPU() time.Duration {
	if b.redis == nil {
		return -1
	}
	d, err := b.redis.cpu()
	if err != nil {
		return -1
	}
	return d
}

// clusterInfo describes a cluster run's processes.
type clusterInfo struct {
	Nodes    []nodeInfo   `json:"nodes"`
	RedisPID int          `json:"redis_pid,omitempty"`
	Workers  []workerInfo `json:"workers"`
}

type nodeInfo struct {
	URL    string `json:"url"`
	PID    int    `json:"pid,omitempty"`
	RSSKB0 int64  `json:"rss_kb_0,omitempty"`
	RSSKBN int64  `json:"rss_kb_n,omitempty"` // after the run's scenarios, before the clients close
}

type workerInfo struct {
	PID     int    `json:"pid"`
	Source  string `json:"source"`
	Clients int    `json:"clients"`
}

// newClusterInfo records the nodes (a PID per URL when -pids pairs them) and
// the workers.
func (b *bench) newClusterInfo() *clusterInfo {
	ci := &clusterInfo{RedisPID: b.cfg.RedisPID}
	for i, u := range b.cfg.URLs {
		n := nodeInfo{URL: u}
		if len(b.cfg.PIDs) == len(b.cfg.URLs) {
			n.PID = b.cfg.PIDs[i]
			if kb, _, err := newProcStat(n.PID).status(); err == nil {
				n.RSSKB0 = kb
			}
		}
		ci.Nodes = append(ci.Nodes, n)
	}
	if b.remote != nil {
		k := len(b.remote.procs)
		for w, p := range b.remote.procs {
			ci.Workers = append(ci.Workers, workerInfo{PID: p.cmd.Process.Pid, Source: p.src, Clients: (b.cfg.N - w + k - 1) / k})
		}
	}
	return ci
}

// sampleNodes records each node's RSS now.
func (ci *clusterInfo) sampleNodes() {
	for i := range ci.Nodes {
		if pid := ci.Nodes[i].PID; pid > 0 {
			if kb, _, err := newProcStat(pid).status(); err == nil {
				ci.Nodes[i].RSSKBN = kb
			}
		}
	}
}
