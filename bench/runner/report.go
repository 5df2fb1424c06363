package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func writeOutputs(s *suite, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.html"), []byte(reportHTML(s)), 0o644)
}

// rebuildReport re-aggregates a result.json (so changes to the metrics or
// the report apply to old runs) and rewrites both files in dir.
func rebuildReport(path, dir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s suite
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	s.aggregate()
	return writeOutputs(&s, dir)
}

var palette = map[string]string{"floor": "#6e7781", "node": "#3c873a", "socketd": "#0969da", "drupal-node": "#bc4c00"}
var extraColors = []string{"#cf222e", "#8250df", "#bf8700", "#1b7c83"}

func colorOf(names []string, name string) string {
	if c, ok := palette[name]; ok {
		return c
	}
	i := 0
	for _, n := range names {
		if n == name {
			break
		}
		if _, ok := palette[n]; !ok {
			i++
		}
	}
	return extraColors[i%len(extraColors)]
}

func reportHTML(s *suite) string {
	names := s.serverNames()
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>socketd benchmark</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1f2328;padding:0 16px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}.r{color:#57606a;font-size:12px}
.met{color:#1a7f37;font-weight:600}.missed{color:#cf222e;font-weight:600}.nm{color:#57606a}
code,pre{font:12px ui-monospace,monospace;background:#f6f8fa}pre{padding:8px;overflow-x:auto;white-space:pre-wrap}
.charts{display:flex;flex-wrap:wrap;gap:16px}svg{border:1px solid #d0d7de;background:#fff}
</style></head><body>`)
	fmt.Fprintf(&b, "<h1>socketd benchmark</h1><p>%s · %d clients · EIO=%d · %d round(s), servers interleaved · medians over runs, [min–max] below</p>",
		esc(s.Started), s.Options.N, s.Options.EIO, s.Options.Runs)
	var m map[string]any
	if json.Unmarshal(s.Machine, &m) == nil {
		fmt.Fprintf(&b, "<p class=r>Machine: %v CPUs (%v), %v, Linux %v, %v, open-files limit %v.</p>",
			m["cpus"], esc(fmt.Sprint(m["cpu_model"])), esc(fmt.Sprint(m["mem_total"])), esc(fmt.Sprint(m["kernel"])), esc(fmt.Sprint(m["go_version"])), m["rlimit_nofile"])
	}
	if len(s.Versions) > 0 {
		var parts []string
		for _, k := range []string{"git", "node", "socket.io", "engine.io", "ws", "@socket.io/redis-adapter", "redis", "redis-server", "drupal-node.js", "drupal-node.js socket.io"} {
			if v := s.Versions[k]; v != "" {
				parts = append(parts, k+" "+v)
			}
		}
		fmt.Fprintf(&b, "<p class=r>Versions: %s.</p>", esc(strings.Join(parts, ", ")))
	}
	if len(s.Failures) > 0 {
		b.WriteString("<p class=missed>Failed runs:</p><ul>")
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "<li>%s</li>", esc(f))
		}
		b.WriteString("</ul>")
	}

	// Summary table.
	b.WriteString("<h2>Figures</h2><table><tr><th>figure</th>")
	for _, n := range names {
		fmt.Fprintf(&b, "<th>%s <span class=r>(runs: %d)</span></th>", esc(n), len(s.Runs[n]))
	}
	withDrupal := contains(names, drupalRef)
	for _, n := range names {
		if !isReference(n) && n != "floor" {
			fmt.Fprintf(&b, "<th>%s / node</th><th>%s / floor</th>", esc(n), esc(n))
			if withDrupal {
				fmt.Fprintf(&b, "<th>%s / drupal-node</th>", esc(n))
			}
		}
	}
	if contains(names, "floor") && contains(names, "node") {
		b.WriteString("<th>node / floor</th>")
	}
	b.WriteString("</tr>")
	for _, def := range s.Metrics {
		found := false
		for _, n := range names {
			if _, ok := s.Medians[n][def.Key]; ok {
				found = true
			}
		}
		if !found {
			continue
		}
		label := def.Label
		if def.Key == "chan_cpu_common_us" {
			label += fmt.Sprintf(" (%g/s)", s.CommonRate)
		}
		fmt.Fprintf(&b, "<tr><td>%s%s <span class=r>(%s better)</span></td>", esc(label), unitSuffix(def.Unit), def.Better)
		for _, n := range names {
			st, ok := s.Medians[n][def.Key]
			if !ok {
				b.WriteString("<td>–</td>")
				continue
			}
			fmt.Fprintf(&b, "<td>%s<br><span class=r>[%s–%s]</span></td>", num(st.Median), num(st.Min), num(st.Max))
		}
		for _, n := range names {
			if !isReference(n) && n != "floor" {
				r := s.Ratios[n][def.Key]
				fmt.Fprintf(&b, "<td>%s</td><td>%s</td>", ratio(r.VsNode), ratio(r.VsFloor))
				if withDrupal {
					fmt.Fprintf(&b, "<td>%s</td>", ratio(r.VsDrupal))
				}
			}
		}
		if contains(names, "floor") && contains(names, "node") {
			fmt.Fprintf(&b, "<td>%s</td>", ratio(s.Ratios["node"][def.Key].VsFloor))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")

	// Targets.
	for _, n := range names {
		ts := s.Targets[n]
		if len(ts) == 0 {
			continue
		}
		ref := ""
		if n == "floor" {
			ref = " (reference: what the machine allows)"
		}
		fmt.Fprintf(&b, "<h2>Issue 5 targets: %s%s</h2>", esc(n), ref)
		targetsTable(&b, ts)
	}

	if s.Cluster != nil {
		b.WriteString(clusterHTML(s.Cluster))
	}

	// Charts.
	b.WriteString(`<h2>Charts</h2><div class=charts>`)
	var mem, cdf, p99, cpu []series
	for _, n := range names {
		c := s.Curves[n]
		col := colorOf(names, n)
		mem = append(mem, seriesOf(n, col, c.Memory))
		cdf = append(cdf, seriesOf(n, col, c.CDF))
		p99 = append(p99, seriesOf(n, col, c.ChanP99))
		cpu = append(cpu, seriesOf(n, col, c.ChanCPU))
	}
	b.WriteString(lineChart("Server RSS against authenticated connections", "connections", "RSS (MB)", mem, chartOpts{}))
	b.WriteString(lineChart("Broadcast: share of clients reached by time after the publish", "ms after POST /nodejs/publish", "fraction of clients", cdf, chartOpts{yMax: 1}))
	limit := 50.0
	if v, err := strconv.ParseFloat(strings.TrimSuffix(argValue(s.Options.BenchArgs, "-p99-limit"), "ms"), 64); err == nil {
		limit = v
	}
	b.WriteString(lineChart("Channels: p99 delivery latency against publish rate", "publishes per second (target)", "p99 latency (ms, log)", p99, chartOpts{logY: true, logX: true, hline: limit, hlineLabel: fmt.Sprintf("%g ms limit", limit)}))
	b.WriteString(lineChart("Channels: server CPU per publish (passing stages)", "publishes per second (target)", "µs per publish", cpu, chartOpts{logX: true}))
	b.WriteString("</div>")

	// How it was run.
	b.WriteString("<h2>Commands</h2><pre>")
	for _, c := range s.Commands {
		b.WriteString(esc(c) + "\n")
	}
	b.WriteString("</pre><p class=r>CPU figures are the server process's utime+stime from /proc/&lt;pid&gt;/stat over the scenario, divided by what was delivered; RSS is VmRSS from /proc/&lt;pid&gt;/status. The load client and its stand-in Drupal backend run on the same cores as the server.</p></body></html>\n")
	return b.String()
}

// clusterHTML is the cluster scenario's section: medians per kind with
// socketd's ratio to the Node cluster, the targets, and the Redis hop.
func clusterHTML(c *clusterSuite) string {
	var b strings.Builder
	esc := html.EscapeString
	names := c.kindNames()
	fmt.Fprintf(&b, "<h2>Cluster: %d nodes on one redis-server, %d clients</h2>", c.Nodes, c.N)
	b.WriteString("<p class=r>Client i connects to node i%K and is a member of channel ch_&lt;i%C&gt; (C a multiple of K), so a channel's members are all on one node; its publishes are POSTed to another node and reach them through Redis. Broadcasts are POSTed to the nodes in turn. CPU and RSS are summed over the nodes' processes; redis-server's CPU is reported apart. The clients are spread over several load-client processes, each from its own 127.0.0.x address.</p>")
	b.WriteString("<table><tr><th>figure</th>")
	for _, n := range names {
		fmt.Fprintf(&b, "<th>%s cluster <span class=r>(runs: %d)</span></th>", esc(n), len(c.Runs[n]))
	}
	for _, n := range names {
		if n != nodeRef && contains(names, nodeRef) {
			fmt.Fprintf(&b, "<th>%s / node</th>", esc(n))
		}
	}
	b.WriteString("</tr>")
	for _, def := range c.Metrics {
		found := false
		for _, n := range names {
			if _, ok := c.Medians[n][def.Key]; ok {
				found = true
			}
		}
		if !found {
			continue
		}
		fmt.Fprintf(&b, "<tr><td>%s%s <span class=r>(%s better)</span></td>", esc(def.Label), unitSuffix(def.Unit), def.Better)
		for _, n := range names {
			st, ok := c.Medians[n][def.Key]
			if !ok {
				b.WriteString("<td>–</td>")
				continue
			}
			fmt.Fprintf(&b, "<td>%s<br><span class=r>[%s–%s]</span></td>", num(st.Median), num(st.Min), num(st.Max))
		}
		for _, n := range names {
			if n != nodeRef && contains(names, nodeRef) {
				fmt.Fprintf(&b, "<td>%s</td>", ratio(c.Ratios[n][def.Key]))
			}
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	for _, n := range names {
		ts := c.Targets[n]
		if len(ts) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<h3>Issue 10 targets: %s cluster</h3>", esc(n))
		targetsTable(&b, ts)
	}
	if len(c.Hop) > 0 {
		b.WriteString("<h3>The Redis hop</h3><p class=r>Each kind's single-node server against its cluster, channel publishes compared at the highest rate both sustained in most runs (10 members per channel in both).</p>")
		b.WriteString("<table><tr><th>kind</th><th>rate /s</th><th>single node µs/publish</th><th>cluster nodes µs/publish</th><th>redis-server µs/publish</th><th>extra µs/publish</th><th>single p99 ms</th><th>cluster p99 ms</th><th>broadcast µs/delivery: single / cluster nodes / redis-server</th></tr>")
		for _, n := range names {
			h := c.Hop[n]
			if h == nil {
				continue
			}
			if h.Rate == 0 {
				fmt.Fprintf(&b, "<tr><td>%s</td><td colspan=7>no channel rate passed by both</td><td>%s / %s / %s</td></tr>", esc(n), num(h.BcastSingle), num(h.BcastCluster), num(h.BcastRedis))
				continue
			}
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s / %s / %s</td></tr>",
				esc(n), num(h.Rate), num(h.SingleCPU), num(h.ClusterCPU), num(h.RedisCPU), num(h.ExtraCPU), num(h.SingleP99), num(h.ClusterP99),
				num(h.BcastSingle), num(h.BcastCluster), num(h.BcastRedis))
		}
		b.WriteString("</table>")
	}
	return b.String()
}

// targetsTable writes one server's targets.
func targetsTable(b *strings.Builder, ts []target) {
	esc := html.EscapeString
	b.WriteString("<table><tr><th>target</th><th>against</th><th>rule</th><th>value</th><th>limit</th><th>status</th></tr>")
	for _, t := range ts {
		cls := map[string]string{"met": "met", "missed": "missed"}[t.Status]
		if cls == "" {
			cls = "nm"
		}
		v, l, against := "–", "–", t.Against
		if t.Status != "not measured" {
			v, l = num(t.Value)+" "+esc(t.Unit), num(t.Limit)+" "+esc(t.Unit)
		}
		if against == "" {
			against = "–"
		}
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=%s>%s</td></tr>", esc(t.Name), esc(against), esc(t.Rule), v, l, cls, t.Status)
	}
	b.WriteString("</table>")
}

func argValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return ", " + html.EscapeString(u)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(round(v), 'f', -1, 64)
}

func ratio(v float64) string {
	if v == 0 {
		return "–"
	}
	return strconv.FormatFloat(round(v), 'f', -1, 64) + "×"
}

type series struct {
	Name  string
	Color string
	Pts   [][2]float64
}

func seriesOf(name, color string, pts [][2]float64) series {
	return series{Name: name, Color: color, Pts: pts}
}

type chartOpts struct {
	logX, logY bool
	yMax       float64
	hline      float64
	hlineLabel string
	vlines     []vline
	bands      []band
}

// band shades a span of a chart's x axis.
type band struct {
	x0, x1 float64
	label  string
}

// vline marks a moment on a chart's x axis.
type vline struct {
	x     float64
	label string
}

// lineChart draws series as an inline SVG line chart with axes and a legend.
func lineChart(title, xLabel, yLabel string, ss []series, o chartOpts) string {
	const W, H, ml, mr, mt, mb = 520.0, 330.0, 62.0, 16.0, 34.0, 48.0
	pw, ph := W-ml-mr, H-mt-mb
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.Pts {
			if (o.logX && p[0] <= 0) || (o.logY && p[1] <= 0) {
				continue
			}
			x0, x1 = math.Min(x0, p[0]), math.Max(x1, p[0])
			y0, y1 = math.Min(y0, p[1]), math.Max(y1, p[1])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="system-ui,sans-serif" font-size="11">`, W, H, W, H)
	fmt.Fprintf(&b, `<text x="%g" y="18" font-size="13" font-weight="600">%s</text>`, ml, html.EscapeString(title))
	if math.IsInf(x0, 1) {
		fmt.Fprintf(&b, `<text x="%g" y="%g">no data</text></svg>`, ml, mt+ph/2)
		return b.String()
	}
	if o.hline > 0 && o.logY {
		y1 = math.Max(y1, o.hline*1.5)
	}
	if !o.logY {
		y0 = math.Min(y0, 0)
		if o.yMax > 0 {
			y1 = o.yMax
		}
	}
	if !o.logX {
		x0 = math.Min(x0, 0)
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y1 = y0 + 1
	}
	tx := func(v float64) float64 {
		if o.logX {
			return ml + pw*(math.Log10(v)-math.Log10(x0))/(math.Log10(x1)-math.Log10(x0))
		}
		return ml + pw*(v-x0)/(x1-x0)
	}
	ty := func(v float64) float64 {
		if o.logY {
			return mt + ph - ph*(math.Log10(v)-math.Log10(y0))/(math.Log10(y1)-math.Log10(y0))
		}
		return mt + ph - ph*(v-y0)/(y1-y0)
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#d0d7de"/>`, ml, mt, pw, ph)
	for _, v := range o.bands {
		a, z := tx(math.Max(v.x0, x0)), tx(math.Min(v.x1, x1))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="%.1f" height="%g" fill="#ddf4ff" opacity="0.7"/><text x="%.1f" y="%g" fill="#0969da" text-anchor="middle">%s</text>`,
			a, mt, math.Max(z-a, 2), ph, (a+z)/2, mt+ph-4, html.EscapeString(v.label))
	}
	for _, t := range ticks(x0, x1, o.logX) {
		x := tx(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#eaeef2"/><text x="%.1f" y="%g" text-anchor="middle">%s</text>`, x, mt, x, mt+ph, x, mt+ph+14, tickLabel(t))
	}
	for _, t := range ticks(y0, y1, o.logY) {
		y := ty(t)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eaeef2"/><text x="%g" y="%.1f" text-anchor="end">%s</text>`, ml, y, ml+pw, y, ml-4, y+4, tickLabel(t))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`, ml+pw/2, H-10, html.EscapeString(xLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %g) rotate(-90)" text-anchor="middle">%s</text>`, mt+ph/2, html.EscapeString(yLabel))
	if o.hline > 0 && o.hline >= y0 && o.hline <= y1 {
		y := ty(o.hline)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#cf222e" stroke-dasharray="4 3"/><text x="%g" y="%.1f" fill="#cf222e" text-anchor="end">%s</text>`,
			ml, y, ml+pw, y, ml+pw-4, y-4, html.EscapeString(o.hlineLabel))
	}
	for _, v := range o.vlines {
		if v.x < x0 || v.x > x1 {
			continue
		}
		x := tx(v.x)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#57606a" stroke-dasharray="3 3"/><text x="%.1f" y="%g" fill="#57606a" transform="rotate(-90 %.1f %g)">%s</text>`,
			x, mt, x, mt+ph, x-3, mt+ph-4, x-3, mt+ph-4, html.EscapeString(v.label))
	}
	for i, s := range ss {
		var pts []string
		for _, p := range s.Pts {
			if (o.logX && p[0] <= 0) || (o.logY && p[1] <= 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(p[0]), ty(math.Min(p[1], y1))))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, s.Color, strings.Join(pts, " "))
			if len(pts) <= 30 {
				for _, p := range pts {
					xy := strings.Split(p, ",")
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, xy[0], xy[1], s.Color)
				}
			}
		}
		ly := mt + 14 + float64(i)*15
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="10" height="10" fill="%s"/><text x="%g" y="%g">%s</text>`, ml+8, ly-9, s.Color, ml+22, ly, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>")
	return b.String()
}

// ticks returns about five round tick values in [lo, hi].
func ticks(lo, hi float64, log bool) []float64 {
	var out []float64
	if log {
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, e)
				if v >= lo*0.999 && v <= hi*1.001 {
					out = append(out, v)
				}
			}
		}
		return out
	}
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 6 {
			step *= m
			break
		}
	}
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func tickLabel(v float64) string {
	switch {
	case math.Abs(v) >= 10000:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case math.Abs(v) < 1e-9:
		return "0"
	}
	return strconv.FormatFloat(round(v), 'f', -1, 64)
}
