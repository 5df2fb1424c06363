package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// soakSample is one look at the server process during a soak run.
type soakSample struct {
	T             float64 `json:"t_s"`
	ClientSockets int64   `json:"client_sockets"` // authenticated sockets of the load client
	ServerSockets int     `json:"server_sockets"` // the server's own count (health check)
	RSSKB         int64   `json:"rss_kb"`
	HeapBytes     int64   `json:"heap_bytes"` // live heap: HeapAlloc right after a forced GC
	Goroutines    int     `json:"goroutines"`
	FDs           int     `json:"open_files"`
	Threads       int     `json:"threads"`
	CPUSeconds    float64 `json:"cpu_s"`
	Load1         float64 `json:"load1"` // the machine's
	Connects      int64   `json:"connects"`
	Closes        int64   `json:"closes"`
	Broadcasts    int64   `json:"broadcasts"`
	ChannelPubs   int64   `json:"channel_publishes"`
	SlowCut       int64   `json:"slow_cut"`
	Err           string  `json:"err,omitempty"`
}

// soakCSVHeader names the CSV's columns, in soakSample's order.
const soakCSVHeader = "t_s,client_sockets,server_sockets,rss_kb,heap_bytes,goroutines,open_files,threads,cpu_s,load1,connects,closes,broadcasts,channel_publishes,slow_cut"

func (x soakSample) csv() string {
	return fmt.Sprintf("%.1f,%d,%d,%d,%d,%d,%d,%d,%.2f,%.2f,%d,%d,%d,%d,%d", x.T, x.ClientSockets, x.ServerSockets, x.RSSKB,
		x.HeapBytes, x.Goroutines, x.FDs, x.Threads, x.CPUSeconds, x.Load1, x.Connects, x.Closes, x.Broadcasts, x.ChannelPubs, x.SlowCut)
}

// sampler reads the server's figures: /proc for its memory, threads, open
// files and CPU, its profiler (-debug-url, socketd -debug-addr) for
// goroutines and the live heap, its health check for its socket count.
type sampler struct {
	proc   *procStat
	pid    int
	debug  string
	health string
	key    string
	hc     *http.Client
}

func newSampler(cfg config, sc soakConfig) (*sampler, error) {
	sm := &sampler{proc: newProcStat(cfg.PID), pid: cfg.PID, debug: strings.TrimSuffix(sc.DebugURL, "/"),
		health: strings.TrimSuffix(cfg.URL, "/") + cfg.BasePath + "health/check", key: cfg.ServiceKey,
		hc: &http.Client{Timeout: 30 * time.Second}}
	if _, err := sm.proc.cpu(); err != nil {
		return nil, fmt.Errorf("cannot read /proc for -pid %d: %v", cfg.PID, err)
	}
	if _, err := sm.goroutines(context.Background()); err != nil {
		return nil, fmt.Errorf("-debug-url: %v", err)
	}
	return sm, nil
}

// take samples the server; figures it could not read are -1 (and Err says why).
func (sm *sampler) take(ctx context.Context, s *soak) soakSample {
	x := soakSample{T: round3(time.Since(s.base).Seconds())}
	var errs []string
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, what+": "+err.Error())
		}
	}
	// The server's socket count and the clients' at about the same moment.
	var err error
	x.ServerSockets, err = sm.sockets(ctx)
	note("health", err)
	x.ClientSockets, x.Connects, x.Closes = s.authed.Load(), s.connects.Load(), s.closesTotal()
	x.Broadcasts, x.ChannelPubs, x.SlowCut = s.nBcast.Load(), s.nChan.Load(), s.slowCut.Load()
	x.RSSKB, x.Threads, err = sm.proc.status()
	note("status", err)
	cpu, err := sm.proc.cpu()
	note("cpu", err)
	x.CPUSeconds = round3(cpu.Seconds())
	x.FDs, err = openFiles(sm.pid)
	note("fd", err)
	x.Goroutines, err = sm.goroutines(ctx)
	note("goroutines", err)
	x.HeapBytes, err = sm.heap(ctx)
	note("heap", err)
	x.Load1 = load1()
	if len(errs) > 0 {
		x.Err = strings.Join(errs, "; ")
	}
	return x
}

func openFiles(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1, err
	}
	return len(ents), nil
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

func (sm *sampler) get(ctx context.Context, u string, hdr ...string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := sm.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return resp.Body, nil
}

// goroutines reads the first line of the goroutine profile in text form,
// "goroutine profile: total N".
func (sm *sampler) goroutines(ctx context.Context) (int, error) {
	body, err := sm.get(ctx, sm.debug+"/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1, err
	}
	defer body.Close()
	line, _ := bufio.NewReader(io.LimitReader(body, 4096)).ReadString('\n')
	n, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return -1, fmt.Errorf("unexpected goroutine profile %q", line)
	}
	return strconv.Atoi(n)
}

// heap reads HeapAlloc from the heap profile in text form, with gc=1: the
// profiler runs a GC first, so it is the live heap.
func (sm *sampler) heap(ctx context.Context) (int64, error) {
	body, err := sm.get(ctx, sm.debug+"/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return -1, err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return -1, err
	}
	return -1, errors.New("no HeapAlloc in the heap profile")
}

// sockets reads the server's socket count from the Drupal health check.
func (sm *sampler) sockets(ctx context.Context) (int, error) {
	body, err := sm.get(ctx, sm.health, "NodejsServiceKey", sm.key)
	if err != nil {
		return -1, err
	}
	defer body.Close()
	var h struct {
		Sockets *int `json:"sockets"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&h); err != nil {
		return -1, err
	}
	if h.Sockets == nil {
		return -1, errors.New("no sockets in the health check")
	}
	return *h.Sockets, nil
}

// csvWriter writes samples as they come, so an interrupted run keeps them.
type csvWriter struct{ f *os.File }

func newCSVWriter(path string) (*csvWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintln(f, soakCSVHeader); err != nil {
		f.Close()
		return nil, err
	}
	return &csvWriter{f: f}, nil
}

func (w *csvWriter) write(x soakSample) { _, _ = fmt.Fprintln(w.f, x.csv()) }

func (w *csvWriter) close() { _ = w.f.Close() }
