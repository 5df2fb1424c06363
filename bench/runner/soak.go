package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The soak (issue 12; make soak, make soak-short): socketd started on free
// loopback ports with its profiler on (-debug-addr), socketbench's soak
// scenario against it (churn, publishes, slow consumers; the server sampled
// into a CSV), then socketd stopped, its log checked (every slow consumer the
// clients saw cut off must be one socketd cut by its byte bound, and nothing
// may panic), and the samples drawn as an SVG chart.

type soakOptions struct {
	Duration    time.Duration
	N           int
	Socketd     string
	Config      string
	Socketbench string
	Args        []string
	Dir         string // raw result and server log
	CSV, SVG    string
	ServiceKey  string
}

// soakDoc is the part of socketbench's soak document the runner reads.
type soakDoc struct {
	Started string `json:"started"`
	Config  struct {
		N     int    `json:"n"`
		Label string `json:"label"`
	} `json:"config"`
	Machine struct {
		CPUs int `json:"cpus"`
	} `json:"machine"`
	Soak struct {
		Sample   int64   `json:"sample_ns"`
		Duration int64   `json:"duration_ns"`
		Warmup   int64   `json:"warmup_ns"`
		Window   int64   `json:"window_ns"`
		Settle   int64   `json:"settle_ns"`
		Lifetime int64   `json:"lifetime_ns"`
		Polling  float64 `json:"polling_share"`
		Slow     int     `json:"slow_consumers"`
	} `json:"soak"`
	Samples []struct {
		T          float64 `json:"t_s"`
		Client     float64 `json:"client_sockets"`
		Server     float64 `json:"server_sockets"`
		RSSKB      float64 `json:"rss_kb"`
		Heap       float64 `json:"heap_bytes"`
		Goroutines float64 `json:"goroutines"`
		FDs        float64 `json:"open_files"`
		Load1      float64 `json:"load1"`
	} `json:"samples"`
	RefWindow [2]int `json:"reference_window"`
	FinWindow [2]int `json:"final_window"`
	Growth    []struct {
		What      string  `json:"what"`
		Reference float64 `json:"reference"`
		Final     float64 `json:"final"`
		Bound     float64 `json:"bound"`
	} `json:"growth"`
	Totals struct {
		Connects      int64 `json:"connects"`
		ClosesBetween int64 `json:"closes_between_windows"`
		Broadcasts    int64 `json:"broadcasts"`
		ChannelPubs   int64 `json:"channel_publishes"`
		SlowCut       int64 `json:"slow_cut"`
	} `json:"totals"`
	Load1    [3]float64 `json:"load1_min_mean_max"`
	OK       bool       `json:"ok"`
	Problems []string   `json:"problems"`
}

// runSoakMode runs the soak and writes the CSV and the chart; the error says
// what failed, problems included.
func runSoakMode(ctx context.Context, o soakOptions) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	backend := fmt.Sprintf("127.0.0.1:%d", ports[1])
	debug := fmt.Sprintf("127.0.0.1:%d", ports[2])
	logPath := filepath.Join(o.Dir, "soak-socketd.log")
	command := []string{o.Socketd, "-host", "127.0.0.1", "-port", strconv.Itoa(ports[0]), "-backend", "http://" + backend + "/",
		"-service-key", o.ServiceKey, "-debug-addr", debug, o.Config}
	p, err := startProc(command, logPath)
	if err != nil {
		return err
	}
	defer p.stop()
	if err := waitReady(ctx, url+"/nodejs/health/check", o.ServiceKey, p); err != nil {
		return fmt.Errorf("%w (log: %s)", err, logPath)
	}
	out := filepath.Join(o.Dir, "soak.json")
	args := []string{"-scenario", "soak", "-url", url, "-pid", strconv.Itoa(p.cmd.Process.Pid), "-debug-url", "http://" + debug,
		"-backend-addr", backend, "-service-key", o.ServiceKey, "-n", strconv.Itoa(o.N),
		"-soak-duration", o.Duration.String(), "-soak-csv", o.CSV, "-out", out, "-label", "socketd " + gitRev()}
	args = append(args, o.Args...)
	fmt.Fprintf(os.Stderr, "runner: soak: %s (pid %d)\nrunner: soak: %s %s\n", shellJoin(command), p.cmd.Process.Pid, o.Socketbench, shellJoin(args))
	bench := exec.CommandContext(ctx, o.Socketbench, args...)
	bench.Stderr = os.Stderr
	berr := bench.Run()
	p.stop()
	raw, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("socketbench: %v (no result: %v)", berr, err)
	}
	var doc soakDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("socketbench's result %s: %v", out, err)
	}
	problems := doc.Problems
	if berr != nil && doc.OK {
		problems = append(problems, "socketbench: "+berr.Error())
	}
	cuts, panics, err := scanSoakLog(logPath)
	if err != nil {
		return err
	}
	if int64(cuts) != doc.Totals.SlowCut {
		problems = append(problems, fmt.Sprintf("socketd logged %d slow consumers cut off, the clients saw %d (see %s)", cuts, doc.Totals.SlowCut, logPath))
	}
	if panics > 0 {
		problems = append(problems, fmt.Sprintf("socketd's log has %d panic lines (%s)", panics, logPath))
	}
	if err := os.WriteFile(o.SVG, []byte(soakChart(&doc)), 0o644); err != nil {
		return err
	}
	for _, g := range doc.Growth {
		fmt.Fprintf(os.Stderr, "runner: soak: %s: highest %.0f in the reference window, lowest %.0f in the final one (bound %.0f)\n", g.What, g.Reference, g.Final, g.Bound)
	}
	fmt.Fprintf(os.Stderr, "runner: soak: %d sockets connected in all, %d left between the windows, %d slow consumers cut off (socketd logged %d); load average %.2f to %.2f\n",
		doc.Totals.Connects, doc.Totals.ClosesBetween, doc.Totals.SlowCut, cuts, doc.Load1[0], doc.Load1[2])
	fmt.Fprintf(os.Stderr, "runner: soak: wrote %s, %s (raw: %s)\n", o.CSV, o.SVG, out)
	if len(problems) > 0 {
		return errors.New("soak problems: " + strings.Join(problems, "; "))
	}
	return nil
}

// scanSoakLog counts the sessions socketd logged as cut off for slow
// consumption (by their sid: two writers that overflow one session at once
// can both log it) and the panic lines.
func scanSoakLog(path string) (cuts, panics int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sids := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "slow consumer cut off") {
			_, sid, _ := strings.Cut(line, " sid=")
			sid, _, _ = strings.Cut(sid, " ")
			sids[sid] = true
		}
		if strings.HasPrefix(line, "panic:") || strings.Contains(line, "level=ERROR") && strings.Contains(line, "panic") {
			panics++
		}
	}
	return len(sids), panics, sc.Err()
}

func gitRev() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// soakChart draws the samples: memory, goroutines, open files and sockets,
// and the machine's load, each with the reference and final windows shaded
// and the slow consumers' phase marked.
func soakChart(d *soakDoc) string {
	pts := func(f func(i int) float64) [][2]float64 {
		var out [][2]float64
		for i, s := range d.Samples {
			if v := f(i); v >= 0 {
				out = append(out, [2]float64{s.T / 60, v})
			}
		}
		return out
	}
	mib := func(v float64) float64 {
		if v < 0 {
			return -1
		}
		return v / (1 << 20)
	}
	minutes := func(ns int64) float64 { return float64(ns) / float64(time.Minute) }
	var o chartOpts
	for _, w := range []struct {
		ix    [2]int
		label string
	}{{d.RefWindow, "reference"}, {d.FinWindow, "final"}} {
		if w.ix[0] >= 0 && w.ix[1] < len(d.Samples) && w.ix[0] <= w.ix[1] {
			o.bands = append(o.bands, band{d.Samples[w.ix[0]].T / 60, d.Samples[w.ix[1]].T / 60, w.label})
		}
	}
	if d.Soak.Slow > 0 {
		o.vlines = []vline{{minutes(d.Soak.Warmup + d.Soak.Window), "slow consumers start"}, {minutes(d.Soak.Duration - d.Soak.Settle), "slow consumers end"}}
	}
	const x = "minutes"
	charts := []string{
		lineChart("Memory (MiB)", x, "MiB", []series{
			seriesOf("RSS", "#0969da", pts(func(i int) float64 { return mib(d.Samples[i].RSSKB * 1024) })),
			seriesOf("live heap (after GC)", "#bf8700", pts(func(i int) float64 { return mib(d.Samples[i].Heap) })),
		}, o),
		lineChart("Goroutines", x, "goroutines", []series{
			seriesOf("goroutines", "#8250df", pts(func(i int) float64 { return d.Samples[i].Goroutines })),
		}, o),
		lineChart("Open files and sockets", x, "count", []series{
			seriesOf("open files", "#cf222e", pts(func(i int) float64 { return d.Samples[i].FDs })),
			seriesOf("sockets (server)", "#1b7c83", pts(func(i int) float64 { return d.Samples[i].Server })),
			seriesOf("sockets (clients)", "#6e7781", pts(func(i int) float64 { return d.Samples[i].Client })),
		}, o),
		lineChart(fmt.Sprintf("Machine load (1-minute average, %d cores)", d.Machine.CPUs), x, "load", []series{
			seriesOf("load1", "#3c873a", pts(func(i int) float64 { return d.Samples[i].Load1 })),
		}, o),
	}
	const W, H, top = 1040.0, 660.0, 46.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="system-ui,sans-serif" font-size="11">`, W, H+top, W, H+top)
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>`)
	title := fmt.Sprintf("socketd soak: %d sockets for %s, %.0f%% long-polling, mean lifetime %s, %d slow consumers",
		d.Config.N, time.Duration(d.Soak.Duration), d.Soak.Polling*100, time.Duration(d.Soak.Lifetime), d.Soak.Slow)
	sub := fmt.Sprintf("%d sockets connected in all, %d broadcasts, %d channel publishes, %d slow consumers cut off; sampled every %s; %s, %s",
		d.Totals.Connects, d.Totals.Broadcasts, d.Totals.ChannelPubs, d.Totals.SlowCut, time.Duration(d.Soak.Sample), d.Started, d.Config.Label)
	fmt.Fprintf(&b, `<text x="12" y="18" font-size="14" font-weight="600">%s</text><text x="12" y="36">%s</text>`, html.EscapeString(title), html.EscapeString(sub))
	for i, c := range charts {
		fmt.Fprintf(&b, `<g transform="translate(%g %g)">%s</g>`, float64(i%2)*W/2, top+float64(i/2)*H/2, c)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// redrawSoakChart rewrites the chart from a soak document.
func redrawSoakChart(docPath, svgPath string) error {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	var doc soakDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %v", docPath, err)
	}
	return os.WriteFile(svgPath, []byte(soakChart(&doc)), 0o644)
}
