// Command socketbench is socketd's load client: it opens N WebSocket clients
// speaking Engine.IO 3 or 4 and Socket.IO, follows the Drupal flow (emit
// authenticate, wait for the clientAuthenticated message) against a stand-in
// Drupal backend it embeds, and measures the server under test through its
// Drupal publish route and /proc: memory per idle connection, broadcast
// delivery latency and CPU per delivery, channel publish rate and CPU per
// publish, and connect+authenticate rate and CPU per connection. It prints one
// JSON document.
//
// The server must be configured with the stand-in's URL as its Drupal backend
// (-backend-addr, default 127.0.0.1:8099, path /nodejs/message) and the same
// service key. See docs/PERFORMANCE.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	URL        string `json:"url"`
	Path       string `json:"path"`
	BasePath   string `json:"base_path"`
	PID        int    `json:"pid"`
	Label      string `json:"label"`
	N          int    `json:"n"`
	EIO        int    `json:"eio"`
	Scenario   string `json:"scenario"`
	IO         string `json:"io"`
	Transport  string `json:"transport"`
	Pollers    int    `json:"pollers"`
	Src        string `json:"src"`
	ServiceKey string `json:"-"`
	// TLS (https:// URLs): the CA file the clients trust (empty: the
	// server's certificate is not verified, loopback only), and whether
	// polling clients may negotiate HTTP/2 as browsers do.
	TLSCA string `json:"tls_ca,omitempty"`
	HTTP2 bool   `json:"http2,omitempty"`

	BackendAddr  string        `json:"backend_addr"`
	BackendDelay time.Duration `json:"backend_delay_ns"`
	Anon         bool          `json:"anonymous"`

	Concurrency    int           `json:"concurrency"`
	Steps          int           `json:"steps"`
	StepSettle     time.Duration `json:"step_settle_ns"`
	ConnectTimeout time.Duration `json:"connect_timeout_ns"`
	IdleSettle     time.Duration `json:"idle_settle_ns"`
	IdleHold       time.Duration `json:"idle_hold_ns"`

	Broadcasts     int           `json:"broadcasts"`
	Warmup         int           `json:"warmup"`
	Payload        int           `json:"payload"`
	Gap            time.Duration `json:"gap_ns"`
	DeliverTimeout time.Duration `json:"deliver_timeout_ns"`

	Channels     int           `json:"channels"`
	Publishers   int           `json:"publishers"`
	RateStart    float64       `json:"rate_start"`
	RateFactor   float64       `json:"rate_factor"`
	MaxRate      float64       `json:"max_rate"`
	MaxStages    int           `json:"max_stages"`
	StageRetries int           `json:"stage_retries"`
	StageDur     time.Duration `json:"stage_ns"`
	P99Limit     time.Duration `json:"p99_limit_ns"`
	MaxPublishes int           `json:"max_publishes"`

	Timeout time.Duration `json:"timeout_ns"`

	// A cluster run (cluster.go): the nodes' base URLs (client i connects to
	// URLs[i%len]), the processes measured as the server (the nodes), the
	// cluster's redis-server, and the load client's worker processes.
	URLs     []string `json:"urls,omitempty"`
	PIDs     []int    `json:"pids,omitempty"`
	RedisPID int      `json:"redis_pid,omitempty"`
	Workers  int      `json:"workers,omitempty"`

	// backendLn, when set, is where the stand-in backend serves instead of
	// BackendAddr (tests start it on a free port before the server under test).
	backendLn net.Listener
	// worker: this process is one of a cluster run's workers (worker.go).
	worker bool
}

// cluster reports a cluster run (-urls), in its coordinator or a worker.
func (c config) cluster() bool { return len(c.URLs) > 0 }

// coordinator reports the process that drives a cluster run: it publishes
// and measures, and its workers hold the clients.
func (c config) coordinator() bool { return c.cluster() && !c.worker }

// targets lists the servers clients connect to and publishes go to.
func (c config) targets() []string {
	if c.cluster() {
		return c.URLs
	}
	return []string{c.URL}
}

// pids lists the processes measured as the server under test.
func (c config) pids() []int {
	if len(c.PIDs) > 0 {
		return c.PIDs
	}
	if c.PID > 0 {
		return []int{c.PID}
	}
	return nil
}

var scenarioNames = []string{"idle", "broadcast", "channels", "storm"}

func (c config) has(s string) bool {
	for _, x := range strings.Split(c.Scenario, ",") {
		if x = strings.TrimSpace(x); x == s || x == "all" {
			return true
		}
	}
	return false
}

// sources lists the source addresses: -src "127.0.0.1,127.0.0.2", or "auto":
// one loopback address per 25,000 clients (a source address has about 28,000
// ephemeral ports towards one server port), none below that.
func (c config) sources() []string {
	switch c.Src {
	case "", "auto":
		k := (c.N + 24999) / 25000
		if k <= 1 {
			return nil
		}
		out := make([]string, k)
		for i := range out {
			out[i] = fmt.Sprintf("127.0.0.%d", i+1)
		}
		return out
	case "none":
		return nil
	}
	return strings.Split(c.Src, ",")
}

func (c *config) validate() error {
	var errs []string
	if c.N < 1 {
		errs = append(errs, "-n must be at least 1")
	}
	if c.EIO != 3 && c.EIO != 4 {
		errs = append(errs, "-eio must be 3 or 4")
	}
	for _, s := range strings.Split(c.Scenario, ",") {
		s = strings.TrimSpace(s)
		if s != "all" && !contains(scenarioNames, s) {
			errs = append(errs, fmt.Sprintf("unknown scenario %q (want %s or all)", s, strings.Join(scenarioNames, ",")))
		}
	}
	if c.IO != "poll" && c.IO != "goroutine" {
		errs = append(errs, "-io must be poll or goroutine")
	}
	switch c.Transport {
	case "", "websocket":
		c.Transport = "websocket"
	case "polling":
		if c.Scenario != "idle" {
			errs = append(errs, "-transport polling runs the idle scenario only (-scenario idle)")
		}
	default:
		errs = append(errs, "-transport must be websocket or polling")
	}
	if c.Channels <= 0 {
		c.Channels = max(c.N/10, 1)
		if k := len(c.URLs); k > 1 {
			// A multiple of the node count: each channel's members on one node.
			c.Channels = max(c.Channels/k*k, k)
		}
	}
	if c.Steps <= 0 {
		c.Steps = 1
		if c.has("idle") {
			c.Steps = 10
		}
	}
	c.Steps = min(c.Steps, c.N)
	c.Concurrency = max(c.Concurrency, 1)
	c.Publishers = max(c.Publishers, 1)
	c.Pollers = max(c.Pollers, 1)
	c.MaxStages = max(c.MaxStages, 1)
	if c.RateFactor <= 1 {
		errs = append(errs, "-rate-factor must be above 1")
	}
	if c.RateStart <= 0 {
		errs = append(errs, "-rate must be positive")
	}
	if !strings.HasPrefix(c.BasePath, "/") || !strings.HasSuffix(c.BasePath, "/") {
		errs = append(errs, "-base-path must start and end with /")
	}
	if c.cluster() {
		errs = append(errs, c.validateCluster()...)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func selfPID() int { return os.Getpid() }

// result is the JSON document socketbench prints.
type result struct {
	Tool      string           `json:"tool"`
	Label     string           `json:"label,omitempty"`
	Started   string           `json:"started"`
	Seconds   float64          `json:"seconds"`
	Machine   machine          `json:"machine"`
	Config    config           `json:"config"`
	Server    serverInfo       `json:"server"`
	Connect   *connectResult   `json:"connect_storm"`
	Idle      *idleResult      `json:"idle,omitempty"`
	Broadcast *broadcastResult `json:"broadcast,omitempty"`
	Channels  *channelsResult  `json:"channels,omitempty"`
	Cluster   *clusterInfo     `json:"cluster,omitempty"`
	Backend   backendStats     `json:"backend"`
	Delivery  deliveryTotals   `json:"delivery"`
	Client    clientInfo       `json:"client"`
	Errors    []string         `json:"errors,omitempty"`
	OK        bool             `json:"ok"`
	Problems  []string         `json:"problems,omitempty"`
}

type serverInfo struct {
	URL      string `json:"url"`
	PID      int    `json:"pid"`
	RSSKB0   int64  `json:"rss_kb_0"`
	Threads0 int    `json:"threads_0"`
}

// deliveryTotals counts every expected delivery of every scenario.
type deliveryTotals struct {
	Expected    int64 `json:"expected"`
	Delivered   int64 `json:"delivered"`
	Lost        int64 `json:"lost"`
	Duplicates  int64 `json:"duplicates"`
	Extra       int64 `json:"extra"`
	Misrouted   int64 `json:"misrouted"`
	Unexpected  int64 `json:"unexpected"`
	Disconnects int64 `json:"disconnects"`
}

type clientInfo struct {
	IO         string  `json:"io"`
	RSSKB      int64   `json:"rss_kb"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Sources    int     `json:"source_addresses"`
}

// run performs one load-client run; logw receives progress lines.
func run(ctx context.Context, cfg config, logw io.Writer) (*result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// Each client holds one descriptor (two for a moment while it moves to
	// the poller; a polling client two: the held GET and its POSTs); the
	// backend and publishers need a few hundred more.
	perClient := 1
	if cfg.Transport == "polling" {
		perClient = 2
	}
	held := cfg.N // clients this process holds; in a cluster run, one worker's share
	if cfg.cluster() {
		held = (cfg.N + cfg.workerCount() - 1) / cfg.workerCount()
	}
	if need := perClient*held + cfg.Concurrency + 512; need > 0 {
		if lim := raiseNoFile(); lim > 0 && uint64(need) > lim {
			if cfg.cluster() {
				return nil, fmt.Errorf("-n %d over %d workers needs about %d open files per worker but RLIMIT_NOFILE is %d: raise -workers",
					cfg.N, cfg.workerCount(), need, lim)
			}
			return nil, fmt.Errorf("-n %d needs about %d open files but RLIMIT_NOFILE is %d: raise it (ulimit -n) or run fewer clients; the server under test needs as many",
				cfg.N, need, lim)
		}
	}
	t0 := time.Now()
	res := &result{Tool: "socketbench", Label: cfg.Label, Started: t0.UTC().Format(time.RFC3339), Machine: machineInfo(), Config: cfg}
	b, err := newBench(cfg, logw)
	if err != nil {
		return nil, err
	}
	be := &backend{serviceKey: cfg.ServiceKey, channels: cfg.Channels, anon: cfg.Anon, delay: cfg.BackendDelay}
	beURL := ""
	if cfg.BackendAddr != "none" {
		u, stop, err := be.serve(cfg.BackendAddr, cfg.backendLn)
		if err != nil {
			b.stopEngine()
			return nil, fmt.Errorf("stand-in Drupal backend: %w", err)
		}
		beURL = u + "/nodejs/message"
		defer stop()
		b.logf("stand-in Drupal backend at %s", beURL)
	}
	res.Server = serverInfo{URL: cfg.targets()[0], PID: cfg.PID, RSSKB0: b.serverRSS()}
	if b.server != nil {
		_, res.Server.Threads0, _ = b.server.status()
	}
	if cfg.coordinator() {
		ws, err := startWorkers(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("load-client workers: %w", err)
		}
		b.remote = ws
		b.self = newProcGroup(append([]int{selfPID()}, ws.pids()...)...)
		res.Cluster = b.newClusterInfo()
		b.logf("%d workers hold the clients (pids %v), nodes %v", len(ws.procs), ws.pids(), cfg.URLs)
	}
	if cfg.EIO == 3 && cfg.Transport != "polling" && !cfg.coordinator() {
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		go b.pinger(pctx)
	}
	if cfg.Transport == "polling" {
		res.Connect = b.runPollingConnect(ctx)
	} else {
		res.Connect = b.runConnect(ctx)
	}
	if res.Connect.OK == 0 {
		res.Problems = append(res.Problems, "no client authenticated")
	} else {
		if cfg.has("idle") && b.server != nil {
			res.Idle = b.runIdle(ctx, res.Server.RSSKB0)
		}
		if cfg.has("broadcast") {
			res.Broadcast = b.runBroadcast(ctx)
		}
		if cfg.has("channels") {
			res.Channels = b.runChannels(ctx)
		}
	}
	if ctx.Err() != nil {
		res.Problems = append(res.Problems, "stopped by -timeout "+cfg.Timeout.String())
	}
	if kb, _, err := b.self.status(); err == nil {
		res.Client.RSSKB = kb
	}
	var clientCPU time.Duration
	if b.remote != nil {
		res.Cluster.sampleNodes()
		clientCPU = b.selfCPU() // the workers' too, while they run
		res.Client.Sources = len(b.remote.procs)
	}
	b.closePolling()
	b.closeRemote()
	b.closeAll()
	time.Sleep(200 * time.Millisecond)
	if b.remote == nil {
		clientCPU = b.selfCPU()
		res.Client.Sources = max(len(b.dial.srcs), 1)
	}
	res.Client.IO = cfg.IO
	res.Client.CPUSeconds = round3(clientCPU.Seconds())
	res.Backend = be.stats(beURL)

	d := &res.Delivery
	if r := res.Broadcast; r != nil {
		d.Expected += r.Expected
		d.Delivered += r.Delivered
	}
	if r := res.Channels; r != nil {
		d.Expected += r.Expected
		d.Delivered += r.Delivered
	}
	d.Lost = d.Expected - d.Delivered
	d.Duplicates, d.Extra, d.Misrouted = b.dups.Load(), b.extra.Load(), b.misrouted.Load()
	d.Unexpected, d.Disconnects = b.unexpected.Load(), b.disconnects.Load()
	res.Errors = b.errorList()
	if res.Connect.Failed > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d of %d clients failed to connect and authenticate", res.Connect.Failed, cfg.N))
	}
	if d.Lost > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d deliveries lost", d.Lost))
	}
	if d.Duplicates+d.Extra+d.Misrouted+d.Unexpected > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("wrong deliveries: %d duplicate, %d extra, %d misrouted, %d unexpected",
			d.Duplicates, d.Extra, d.Misrouted, d.Unexpected))
	}
	if d.Disconnects > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d authenticated clients disconnected during the run", d.Disconnects))
	}
	if res.Backend.BadKey > 0 {
		res.Problems = append(res.Problems, "the server sent the backend a wrong service key")
	}
	// A failed channel stage is how the ramp ends; only losses count as problems.
	res.OK = len(res.Problems) == 0
	res.Seconds = round3(time.Since(t0).Seconds())
	return res, nil
}

func main() {
	if os.Getenv(workerEnv) != "" {
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "socketbench:", err)
			os.Exit(2)
		}
		return
	}
	var cfg config
	fs := flag.CommandLine
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL: http://, or https:// for TLS (wss and https polling)")
	fs.StringVar(&cfg.TLSCA, "tls-ca", "", "with https:// URLs: the CA certificate (PEM) the clients trust; empty: not verified (loopback benchmarks only)")
	fs.BoolVar(&cfg.HTTP2, "http2", false, "with https:// URLs and -transport polling: let clients negotiate HTTP/2, as browsers do (default HTTP/1.1)")
	fs.StringVar(&cfg.Path, "path", "/socket.io/", "Engine.IO path")
	fs.StringVar(&cfg.BasePath, "base-path", "/nodejs/", "Drupal routes prefix (baseAuthPath)")
	fs.IntVar(&cfg.PID, "pid", 0, "server process id, for CPU and RSS from /proc (0: not measured)")
	fs.StringVar(&cfg.Label, "label", "", "name of the server under test, copied into the result")
	fs.IntVar(&cfg.N, "n", 1000, "number of clients")
	fs.IntVar(&cfg.EIO, "eio", 4, "Engine.IO revision: 3 (socket.io 2.x clients, Drupal's) or 4")
	fs.StringVar(&cfg.Scenario, "scenario", "all", "comma list of idle,broadcast,channels,storm, or all (the connect storm always runs); or soak alone (soak.go: churn, publishes and slow consumers for -soak-duration, the server sampled)")
	fs.StringVar(&cfg.Transport, "transport", "websocket", "websocket, or polling (HTTP long-polling that never upgrades, a goroutine per client; idle scenario only)")
	fs.StringVar(&cfg.IO, "io", "poll", "client I/O: poll (nbio epoll loop, no goroutine per connection) or goroutine")
	fs.IntVar(&cfg.Pollers, "pollers", 1, "event loops in poll mode")
	fs.StringVar(&cfg.Src, "src", "auto", `source addresses, comma separated; "auto": 127.0.0.x, one per 25,000 clients`)
	fs.StringVar(&cfg.ServiceKey, "service-key", "bench-service-key", "serviceKey shared with the server (NodejsServiceKey header, backend form field)")
	fs.StringVar(&cfg.BackendAddr, "backend-addr", "127.0.0.1:8099", `listen address of the stand-in Drupal backend ("none": do not start it)`)
	fs.DurationVar(&cfg.BackendDelay, "backend-delay", 0, "stand-in backend latency per request")
	fs.BoolVar(&cfg.Anon, "anon", false, "authenticate every client as uid 0 (no presence traffic) instead of uid i+1")
	fs.IntVar(&cfg.Concurrency, "concurrency", 100, "connects in flight")
	fs.IntVar(&cfg.Steps, "steps", 0, "connect in this many steps, sampling server RSS after each (0: 10 with idle, else 1)")
	fs.DurationVar(&cfg.StepSettle, "step-settle", 500*time.Millisecond, "pause before each RSS sample")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 30*time.Second, "per-client bound on connect+authenticate")
	fs.DurationVar(&cfg.IdleSettle, "idle-settle", 5*time.Second, "idle: wait before reading RSS at N connections")
	fs.DurationVar(&cfg.IdleHold, "idle-hold", 0, "idle: keep the connections this much longer (heartbeats keep them alive)")
	fs.IntVar(&cfg.Broadcasts, "broadcasts", 10, "broadcast: measured broadcasts")
	fs.IntVar(&cfg.Warmup, "warmup", 1, "broadcast: unmeasured broadcasts first")
	fs.IntVar(&cfg.Payload, "payload", 64, "bytes of filler in each published message's data.body")
	fs.DurationVar(&cfg.Gap, "gap", 200*time.Millisecond, "broadcast: pause after each broadcast has been delivered")
	fs.DurationVar(&cfg.DeliverTimeout, "deliver-timeout", 10*time.Second, "wait this long for a publish's deliveries before counting the rest lost")
	fs.IntVar(&cfg.Channels, "channels", 0, "channels ch_0..ch_<C-1>; client i joins ch_<i%C> (0: N/10, so 10 members each)")
	fs.IntVar(&cfg.Publishers, "publishers", 16, "channels: concurrent publish requests (keep-alive connections)")
	fs.Float64Var(&cfg.RateStart, "rate", 250, "channels: publishes per second of the first stage")
	fs.Float64Var(&cfg.RateFactor, "rate-factor", 1.4, "channels: rate multiplier per stage")
	fs.Float64Var(&cfg.MaxRate, "max-rate", 100000, "channels: stop before a stage above this rate")
	fs.IntVar(&cfg.MaxStages, "max-stages", 20, "channels: at most this many stages, retries included")
	fs.IntVar(&cfg.StageRetries, "stage-retries", 1, "channels: run a failed stage again this many times before the ramp ends")
	fs.DurationVar(&cfg.StageDur, "stage", 3*time.Second, "channels: duration of each stage")
	fs.DurationVar(&cfg.P99Limit, "p99-limit", 50*time.Millisecond, "channels: a stage fails when its p99 delivery latency exceeds this")
	fs.IntVar(&cfg.MaxPublishes, "max-publishes", 300000, "channels: total publish budget")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound on the whole run")
	fs.Func("urls", "a cluster run: the nodes' base URLs, comma separated (replaces -url; client i connects to node i%K, channel c's members on node c%K, its publishes POSTed to node (c+1)%K)", func(v string) error {
		cfg.URLs = strings.Split(v, ",")
		return nil
	})
	fs.Func("pids", "a cluster run: the nodes' process ids, comma separated, measured together as the server", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return fmt.Errorf("bad pid %q", f)
			}
			cfg.PIDs = append(cfg.PIDs, pid)
		}
		return nil
	})
	fs.IntVar(&cfg.RedisPID, "redis-pid", 0, "a cluster run: the redis-server's process id, whose CPU is reported beside the nodes'")
	fs.IntVar(&cfg.Workers, "workers", 0, "a cluster run: load-client worker processes holding the clients (0: at least 2, one per 15,000 clients)")
	var sc soakConfig
	sc.flags(fs)
	out := fs.String("out", "-", "write the JSON result here (- for stdout)")
	quiet := fs.Bool("q", false, "no progress on stderr")
	fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var logw io.Writer = os.Stderr
	if *quiet {
		logw = nil
	}
	if cfg.Scenario == "soak" {
		code := soakMain(ctx, cfg, sc, *out, logw)
		stop()
		os.Exit(code)
	}
	res, err := run(ctx, cfg, logw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "socketbench:", err)
		os.Exit(2)
	}
	enc, _ := json.MarshalIndent(res, "", "  ")
	enc = append(enc, '\n')
	if *out == "-" {
		_, err = os.Stdout.Write(enc)
	} else {
		err = os.WriteFile(*out, enc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "socketbench:", err)
		os.Exit(2)
	}
	if !res.OK {
		fmt.Fprintln(os.Stderr, "socketbench: problems:", strings.Join(res.Problems, "; "))
		os.Exit(1)
	}
}
