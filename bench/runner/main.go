// Command runner drives socketd's benchmark: it starts each server under test
// in turn (the floor, the Node peer, socketd, or any server given with
// -server), runs socketbench against it, stops it, and repeats the round
// -runs times with the server order rotated, so servers are interleaved and
// share the machine's state alike. It writes result.json (every run's
// socketbench document plus medians, ratios and the targets) and
// report.html (self-contained: tables and inline SVG charts).
//
// bench/run.sh builds the binaries and calls it; see docs/PERFORMANCE.md.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// server is one server under test: how to start it and where it listens.
type server struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Command []string `json:"command"`
	// Env is added to the server's environment; BenchArgs to socketbench's
	// flags for its runs (the TLS runs: tls.go).
	Env       []string `json:"env,omitempty"`
	BenchArgs []string `json:"socketbench_args,omitempty"`
}

type options struct {
	Servers     []string      `json:"servers"`
	Runs        int           `json:"runs"`
	N           int           `json:"n"`
	EIO         int           `json:"eio"`
	Scenario    string        `json:"scenario"`
	BenchArgs   []string      `json:"socketbench_args"`
	Socketbench string        `json:"socketbench"`
	Backend     string        `json:"backend_addr"`
	ServiceKey  string        `json:"-"`
	Pause       time.Duration `json:"pause_ns"`
	RunTimeout  time.Duration `json:"run_timeout_ns"`
	// Polling is how many EIO=3 long-polling clients a second, idle-only run per
	// server and round holds (on a fresh server process); 0 skips it. The floor
	// speaks WebSocket only and is skipped.
	Polling int `json:"polling"`
	// The cluster scenario (cluster.go): the kinds run, clients in total,
	// nodes per cluster, the first node's port, more socketbench flags, the
	// bound on one run, and the redis-server binary.
	Cluster        []string      `json:"cluster,omitempty"`
	ClusterN       int           `json:"cluster_n,omitempty"`
	ClusterNodes   int           `json:"cluster_nodes,omitempty"`
	ClusterPort    int           `json:"cluster_port,omitempty"`
	ClusterArgs    []string      `json:"cluster_socketbench_args,omitempty"`
	ClusterTimeout time.Duration `json:"cluster_timeout_ns,omitempty"`
	RedisServer    string        `json:"redis_server,omitempty"`
	// TLS lists the certificate kinds of the TLS scenario (tls.go): every
	// server again over https with an RSA-2048 or ECDSA P-256 certificate.
	TLS []string `json:"tls,omitempty"`
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var o options
	var servers, extra multiFlag
	var benchArgs, clusterList, clusterArgs, tlsList string
	serverList := flag.String("servers", "floor,node", "comma list of servers to run, in order: floor, node, socketd, drupal-node and names given with -server")
	flag.Var(&extra, "server", `extra server "name|url|command args..." (repeatable); the command must be the server process itself (no shell), as its PID is measured`)
	flag.IntVar(&o.Runs, "runs", 3, "rounds; every server runs once per round")
	flag.IntVar(&o.N, "n", 10000, "clients")
	flag.IntVar(&o.EIO, "eio", 3, "Engine.IO revision the clients speak (3: Drupal's socket.io-client 2.x)")
	flag.StringVar(&o.Scenario, "scenario", "all", "socketbench -scenario")
	flag.StringVar(&benchArgs, "bench-args", "", "more socketbench flags, space separated (e.g. \"-stage 2s -broadcasts 5\")")
	flag.StringVar(&o.Socketbench, "socketbench", "bin/socketbench", "socketbench binary")
	flag.StringVar(&o.Backend, "backend-addr", "127.0.0.1:8099", "stand-in Drupal backend address the servers are configured with")
	flag.StringVar(&o.ServiceKey, "service-key", "bench-service-key", "service key the servers are configured with")
	flag.IntVar(&o.Polling, "polling", 2000, "EIO=3 long-polling clients held in a separate idle run per server and round (0: none; the floor is skipped)")
	flag.DurationVar(&o.Pause, "pause", 3*time.Second, "pause between runs")
	flag.DurationVar(&o.RunTimeout, "run-timeout", 5*time.Minute, "bound on one socketbench run")
	floorBin := flag.String("floor", "bin/benchfloor", "floor server binary")
	nodeBin := flag.String("node", "node", "node binary for the Node peer")
	socketdCmd := flag.String("socketd-cmd", "bin/socketd bench/nodejs.config.js", "socketd command line (it must listen on -socketd-url and use the stand-in backend)")
	socketdURL := flag.String("socketd-url", "http://127.0.0.1:8093", "socketd base URL")
	drupalNode := flag.String("drupal-node", os.Getenv("DRUPAL_NODE_DIR"), "drupal-node.js checkout with its npm dependencies installed, for the server drupal-node (default $DRUPAL_NODE_DIR; see docs/PERFORMANCE.md)")
	flag.StringVar(&clusterList, "cluster", "", "cluster scenario: comma list of the kinds to run, node and/or socketd (-cluster-nodes nodes on one redis-server each; empty: none)")
	flag.IntVar(&o.ClusterN, "cluster-n", 50000, "cluster scenario: clients in total, spread over the nodes and over socketbench's worker processes")
	flag.IntVar(&o.ClusterNodes, "cluster-nodes", 3, "cluster scenario: nodes per cluster")
	flag.IntVar(&o.ClusterPort, "cluster-port", 8111, "cluster scenario: the first node's port (the others follow it)")
	flag.StringVar(&clusterArgs, "cluster-bench-args", "", "cluster scenario: more socketbench flags, after -bench-args")
	flag.DurationVar(&o.ClusterTimeout, "cluster-timeout", 10*time.Minute, "cluster scenario: bound on one socketbench run")
	flag.StringVar(&o.RedisServer, "redis-server", "redis-server", "cluster scenario: redis-server binary (started per run on a free loopback port, nothing saved)")
	socketdNodeCmd := flag.String("socketd-node-cmd", "bin/socketd -port {port} -redis {redis} bench/nodejs.config.js", "cluster scenario: one socketd node's command line ({port}, {redis} replaced)")
	soakDur := flag.Duration("soak", 0, "run the soak instead of the benchmark, this long: socketd (-soak-socketd) under churn, publishes and slow consumers, sampled into a CSV and an SVG chart (make soak, make soak-short)")
	soakN := flag.Int("soak-n", 5000, "soak: sockets held")
	soakSocketd := flag.String("soak-socketd", "bin/socketd", "soak: the socketd binary (started with free loopback ports and -debug-addr)")
	soakArgs := flag.String("soak-args", "", "soak: more socketbench flags, space separated (e.g. \"-soak-lifetime 5m -soak-warmup 5m\")")
	soakConfig := flag.String("soak-config", "bench/nodejs.config.js", "soak: socketd's config file (its host, port, backend and service key are overridden by flags)")
	soakCSV := flag.String("soak-csv", "", "soak: the CSV of samples (default <out>/soak.csv)")
	soakSVG := flag.String("soak-svg", "", "soak: the chart (default <out>/soak.svg)")
	soakChartOnly := flag.String("soak-chart", "", "only redraw the soak chart (-soak-svg) from this socketbench soak document")
	flag.StringVar(&tlsList, "tls", "", "TLS scenario: comma list of certificate kinds, rsa and/or ecdsa; every server runs again over https/wss with a certificate the runner makes (empty: none)")
	outDir := flag.String("out", "bench/results", "directory for result.json, report.html and the raw runs")
	reportOnly := flag.String("report", "", "only rebuild report.html from this result.json")
	flag.Parse()

	if *soakCSV == "" {
		*soakCSV = filepath.Join(*outDir, "soak.csv")
	}
	if *soakSVG == "" {
		*soakSVG = filepath.Join(*outDir, "soak.svg")
	}
	if *soakChartOnly != "" {
		if err := redrawSoakChart(*soakChartOnly, *soakSVG); err != nil {
			fatal(err)
		}
		return
	}
	if *soakDur > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runSoakMode(ctx, soakOptions{Duration: *soakDur, N: *soakN, Socketd: *soakSocketd, Config: *soakConfig,
			Socketbench: o.Socketbench, Args: strings.Fields(*soakArgs), Dir: *outDir, CSV: *soakCSV, SVG: *soakSVG, ServiceKey: o.ServiceKey})
		stop()
		if err != nil {
			fatal(err)
		}
		return
	}
	if *reportOnly != "" {
		if err := rebuildReport(*reportOnly, *outDir); err != nil {
			fatal(err)
		}
		return
	}
	be := "http://" + o.Backend + "/nodejs/message"
	known := map[string]server{
		"floor": {Name: "floor", URL: "http://127.0.0.1:8091", Command: []string{*floorBin, "-addr", "127.0.0.1:8091", "-backend", be, "-service-key", o.ServiceKey}},
		"node": {Name: "node", URL: "http://127.0.0.1:8092", Command: []string{*nodeBin, "bench/node-peer/server.mjs", "--port", "8092",
			"--backend", be, "--service-key", o.ServiceKey}},
		"socketd": {Name: "socketd", URL: *socketdURL, Command: strings.Fields(*socketdCmd)},
	}
	if *drupalNode != "" {
		// The Node app Drupal sites run today, started as its README says (node
		// app.js <config>) on socketd's own config file: the file is in its
		// format, and the servers run one at a time, so they can share the port.
		known[drupalRef] = server{Name: drupalRef, URL: "http://127.0.0.1:8093",
			Command: []string{*nodeBin, filepath.Join(*drupalNode, "app.js"), "bench/nodejs.config.js"}}
	}
	for _, e := range extra {
		parts := strings.SplitN(e, "|", 3)
		if len(parts) != 3 || parts[0] == "" {
			fatal(fmt.Errorf("bad -server %q (want name|url|command)", e))
		}
		known[parts[0]] = server{Name: parts[0], URL: parts[1], Command: strings.Fields(parts[2])}
	}
	var list []server
	for _, name := range strings.Split(*serverList, ",") {
		s, ok := known[strings.TrimSpace(name)]
		if !ok && strings.TrimSpace(name) == drupalRef {
			fatal(errors.New("server drupal-node needs -drupal-node DIR (a drupal-node.js checkout with npm dependencies; docs/PERFORMANCE.md)"))
		}
		if !ok {
			fatal(fmt.Errorf("unknown server %q", name))
		}
		list = append(list, s)
		servers = append(servers, s.Name)
	}
	for _, k := range strings.Split(tlsList, ",") {
		if k = strings.TrimSpace(k); k != "" {
			o.TLS = append(o.TLS, k)
		}
	}
	if len(o.TLS) > 0 {
		tv, err := tlsVariants(list, o.TLS, *outDir)
		if err != nil {
			fatal(err)
		}
		for _, s := range tv {
			list = append(list, s)
			servers = append(servers, s.Name)
		}
	}
	o.Servers = servers
	o.BenchArgs = strings.Fields(benchArgs)
	o.ClusterArgs = strings.Fields(clusterArgs)
	kinds := clusterKinds(o, *nodeBin, *socketdNodeCmd)
	var clusters []clusterKind
	for _, name := range strings.Split(clusterList, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		k, ok := kinds[name]
		if !ok {
			fatal(fmt.Errorf("unknown cluster kind %q (want node or socketd)", name))
		}
		clusters = append(clusters, k)
		o.Cluster = append(o.Cluster, name)
	}
	if len(clusters) > 0 && (o.ClusterNodes < 1 || o.ClusterN < o.ClusterNodes) {
		fatal(errors.New("-cluster-nodes must be at least 1 and -cluster-n at least -cluster-nodes"))
	}
	if o.Runs < 1 || len(list)+len(clusters) == 0 {
		fatal(errors.New("need at least one run and one server or cluster"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runAll(ctx, o, list, clusters, *outDir)
	if err != nil {
		fatal(err)
	}
	if err := writeOutputs(res, *outDir); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "runner: wrote %s and %s\n", filepath.Join(*outDir, "result.json"), filepath.Join(*outDir, "report.html"))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "runner:", err)
	os.Exit(1)
}

// runAll runs every server once per round, rotating the order each round.
func runAll(ctx context.Context, o options, list []server, clusters []clusterKind, dir string) (*suite, error) {
	if err := os.MkdirAll(filepath.Join(dir, "raw"), 0o755); err != nil {
		return nil, err
	}
	res := &suite{Tool: "socketd bench runner", Started: time.Now().UTC().Format(time.RFC3339), Options: o,
		Runs: map[string][]json.RawMessage{}, Versions: versions(list)}
	for _, s := range list {
		res.Servers = append(res.Servers, s)
	}
	// run runs s once with opts and records the command and any failure.
	run := func(opts options, s server, round int) json.RawMessage {
		raw, cmd, err := runOne(ctx, opts, s, round, dir)
		res.Commands = append(res.Commands, cmd...)
		if err != nil {
			msg := fmt.Sprintf("round %d, %s: %v", round+1, s.Name, err)
			fmt.Fprintln(os.Stderr, "runner:", msg)
			res.Failures = append(res.Failures, msg)
		}
		time.Sleep(opts.Pause)
		return raw
	}
	if len(clusters) > 0 {
		res.Cluster = &clusterSuite{Nodes: o.ClusterNodes, N: o.ClusterN, Kinds: clusters, Runs: map[string][]json.RawMessage{}}
	}
	for r := 0; r < o.Runs && ctx.Err() == nil; r++ {
		for k := range list {
			s := list[(k+r)%len(list)]
			if ctx.Err() != nil {
				break
			}
			if raw := run(o, s, r); raw != nil {
				res.Runs[s.Name] = append(res.Runs[s.Name], raw)
			}
		}
		for k := range list {
			s := list[(k+r)%len(list)]
			if o.Polling <= 0 || baseName(s.Name) == "floor" || ctx.Err() != nil {
				continue
			}
			po := o
			po.N, po.EIO, po.Scenario = o.Polling, 3, "idle"
			po.BenchArgs = []string{"-transport", "polling"}
			po.BenchArgs = append(po.BenchArgs, s.BenchArgs...)
			ps := s
			ps.Name = s.Name + "-polling" // names the raw files
			if raw := run(po, ps, r); raw != nil {
				if res.PollingRuns == nil {
					res.PollingRuns = map[string][]json.RawMessage{}
				}
				res.PollingRuns[s.Name] = append(res.PollingRuns[s.Name], raw)
			}
		}
		for k := range clusters {
			c := clusters[(k+r)%len(clusters)]
			if ctx.Err() != nil {
				break
			}
			raw, cmd, err := runCluster(ctx, o, c, r, dir)
			res.Commands = append(res.Commands, cmd...)
			if err != nil {
				msg := fmt.Sprintf("round %d, %s cluster: %v", r+1, c.Name, err)
				fmt.Fprintln(os.Stderr, "runner:", msg)
				res.Failures = append(res.Failures, msg)
			}
			if raw != nil {
				res.Cluster.Runs[c.Name] = append(res.Cluster.Runs[c.Name], raw)
			}
			time.Sleep(o.Pause)
		}
	}
	res.Seconds = time.Since(mustParse(res.Started)).Seconds()
	res.aggregate()
	return res, nil
}

// versions records what was measured: the checkout, the Node peer's stack and,
// when it runs, drupal-node.js with the socket.io it was installed with.
func versions(list []server) map[string]string {
	v := map[string]string{}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if c := run("git", "rev-parse", "--short=12", "HEAD"); c != "" {
		if run("git", "status", "--porcelain", "--untracked-files=no") != "" {
			c += " (with uncommitted changes)"
		}
		v["git"] = c
	}
	v["node"] = run("node", "--version")
	if out := run("redis-server", "--version"); out != "" {
		v["redis-server"] = out // "Redis server v=7.0.15 sha=... "
		if _, ver, ok := strings.Cut(out, "v="); ok {
			v["redis-server"], _, _ = strings.Cut(ver, " ")
		}
	}
	pkgVersion := func(path string) string {
		b, err := os.ReadFile(filepath.Join(path, "package.json"))
		var meta struct{ Version string }
		if err == nil && json.Unmarshal(b, &meta) == nil {
			return meta.Version
		}
		return ""
	}
	for _, pkg := range []string{"socket.io", "engine.io", "ws", "@socket.io/redis-adapter", "redis"} {
		if ver := pkgVersion(filepath.Join("bench/node-peer/node_modules", pkg)); ver != "" {
			v[pkg] = ver
		}
	}
	for _, s := range list {
		if s.Name == drupalRef && len(s.Command) > 1 {
			dir := filepath.Dir(s.Command[1])
			v["drupal-node.js"] = pkgVersion(dir)
			v["drupal-node.js socket.io"] = pkgVersion(filepath.Join(dir, "node_modules", "socket.io"))
		}
	}
	return v
}

func mustParse(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// runOne starts s, waits for its health check, runs socketbench and stops s.
func runOne(ctx context.Context, o options, s server, round int, dir string) (json.RawMessage, []string, error) {
	var cmds []string
	if len(s.Command) == 0 {
		return nil, nil, errors.New("no command")
	}
	if err := portFree(s.URL); err != nil {
		return nil, nil, err
	}
	cmds = append(cmds, strings.TrimSpace(strings.Join(s.Env, " ")+" "+strings.Join(s.Command, " ")))
	p, err := startProcEnv(s.Command, s.Env, filepath.Join(dir, "raw", fmt.Sprintf("%s-%d.log", s.Name, round+1)))
	if err != nil {
		return nil, cmds, err
	}
	defer p.stop()
	srv := p.cmd
	if err := waitReady(ctx, s.URL+"/nodejs/health/check", o.ServiceKey, p); err != nil {
		return nil, cmds, err
	}
	out := filepath.Join(dir, "raw", fmt.Sprintf("%s-%d.json", s.Name, round+1))
	args := []string{"-q", "-url", s.URL, "-pid", fmt.Sprint(srv.Process.Pid), "-label", s.Name,
		"-n", fmt.Sprint(o.N), "-eio", fmt.Sprint(o.EIO), "-scenario", o.Scenario,
		"-backend-addr", o.Backend, "-service-key", o.ServiceKey, "-timeout", o.RunTimeout.String(), "-out", out}
	args = append(args, o.BenchArgs...)
	if !slices.Contains(o.BenchArgs, "-tls-ca") {
		args = append(args, s.BenchArgs...) // the polling runs have them in o.BenchArgs already
	}
	cmds = append(cmds, o.Socketbench+" "+strings.Join(args, " "))
	fmt.Fprintf(os.Stderr, "runner: round %d/%d: %s (pid %d), %d clients\n", round+1, o.Runs, s.Name, srv.Process.Pid, o.N)
	rctx, cancel := context.WithTimeout(ctx, o.RunTimeout+time.Minute)
	defer cancel()
	bench := exec.CommandContext(rctx, o.Socketbench, args...)
	bench.Stderr = os.Stderr
	t0 := time.Now()
	berr := bench.Run()
	raw, rerr := os.ReadFile(out)
	if rerr != nil {
		return nil, cmds, fmt.Errorf("socketbench: %v (no result: %v)", berr, rerr)
	}
	if !json.Valid(raw) {
		return nil, cmds, errors.New("socketbench wrote invalid JSON")
	}
	fmt.Fprintf(os.Stderr, "runner: %s done in %.0fs%s\n", s.Name, time.Since(t0).Seconds(), map[bool]string{true: "", false: " (with problems, see the result)"}[berr == nil])
	return raw, cmds, nil
}

// portFree fails when something already listens on the server's address.
func portFree(u string) error {
	hostport := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	hostport, _, _ = strings.Cut(hostport, "/")
	c, err := net.DialTimeout("tcp", hostport, 300*time.Millisecond)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s is already in use", hostport)
	}
	return nil
}

// healthClient asks the servers' health checks; it does not verify the TLS
// runs' certificates (the runner made them, on loopback).
var healthClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback, the runner's own certificate
}}

// waitReady polls the health check until it answers with a version, the
// process exits, or 20 s pass.
func waitReady(ctx context.Context, u, key string, p *proc) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("server exited during start-up: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("NodejsServiceKey", key)
		resp, err := healthClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"version"`) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within 20s", u)
}

// stop ends the process group we started (its leader's PID): SIGTERM, then
// SIGKILL after 5 s. A process that has already exited is left alone.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}
