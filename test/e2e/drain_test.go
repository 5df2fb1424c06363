package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketd/socketd/internal/redistest"
)

// A graceful drain, end to end (issue 12): two socketd processes on one
// redis-server behind the round-robin proxy (nosticky_test.go), which, as a
// balancer would, takes a node out once its /readyz answers 503 and sends a
// refused connection, or a GET answered 503, to the other node. Clients are
// real socket.io-client 2.x (polling only, and polling then WebSocket) and 4.x
// pages in the Drupal flow (clients/drain-clients.mjs); every one is a user of
// its own in one Drupal channel. While a publisher posts numbered messages to
// that channel through the proxy, one after another, one node gets SIGTERM.
//
// Then: every client is back, on the other node, without anything done on its
// side (socket.io-client reconnects by itself); no connection missed a publish
// made while it was open (each connection's numbers follow one another, and
// the last publish reaches every client); the stand-in Drupal heard each user
// come online once and never go offline; and the node exited cleanly within
// its drain timeout.
//
// SOCKETD_DRAIN_CLIENTS sets the number of clients (default 1000, the issue's
// acceptance; the proxy runs in the test process, so keep it under ~5,000).

const (
	drainTimeout      = 10 * time.Second // socketd's default
	drainPublishEvery = 100 * time.Millisecond
	drainClientsPer   = 4000 // clients per Node process (each holds one or two files per client)
)

func drainClientCount(t *testing.T) int {
	n := 1000
	if v := os.Getenv("SOCKETD_DRAIN_CLIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			t.Fatalf("SOCKETD_DRAIN_CLIENTS=%q: want a number of clients, at least 10", v)
		}
	}
	return n
}

// drainConn is one connection of a client, as drain-clients.mjs reports it.
type drainConn struct {
	SID    string  `json:"sid"`
	Authed bool    `json:"authed"`
	First  *int    `json:"first"`
	Last   *int    `json:"last"`
	N      int     `json:"n"`
	Gaps   [][]int `json:"gaps"`
	End    string  `json:"end"`
	// Wall clock, in milliseconds since the epoch: connected,
	// authenticated, disconnected (0 while open).
	At       float64 `json:"at"`
	AuthedAt float64 `json:"authedAt"`
	EndAt    float64 `json:"endAt"`
}

type drainStatus struct {
	Authed        int `json:"authed"`
	OnTag         int `json:"onTag"`
	AtSeq         int `json:"atSeq"`
	Connects      int `json:"connects"`
	ConnectErrors int `json:"connectErrors"`
}

// drainClients are the load client processes.
type drainClients struct {
	procs []*nodeProcess
}

func startDrainClients(t *testing.T, node, url string, n int) *drainClients {
	t.Helper()
	dc := &drainClients{}
	for first := 0; first < n; first += drainClientsPer {
		count := min(drainClientsPer, n-first)
		dc.procs = append(dc.procs, startNodeScript(t, node, 5*time.Minute, "drain-clients.mjs",
			"--url", url, "--count", strconv.Itoa(count), "--first", strconv.Itoa(first), "--timeout", "300000"))
	}
	return dc
}

// ask sends cmd to every process and decodes each one's answer (the line
// starting with {"ev":"<ev>") into into(i, line).
func (dc *drainClients) ask(t *testing.T, cmd, ev string, into func(i int, line string)) {
	t.Helper()
	for i, p := range dc.procs {
		p.send(t, cmd)
		into(i, p.waitLine(t, time.Minute, ev, func(l string) bool { return strings.HasPrefix(l, `{"ev":"`+ev+`"`) }))
	}
}

func (dc *drainClients) status(t *testing.T, tag string, seq int) drainStatus {
	t.Helper()
	var sum drainStatus
	cmd, _ := json.Marshal(map[string]any{"cmd": "status", "tag": tag, "seq": seq})
	dc.ask(t, string(cmd), "status", func(_ int, line string) {
		var st drainStatus
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("status %q: %v", line, err)
		}
		sum.Authed += st.Authed
		sum.OnTag += st.OnTag
		sum.AtSeq += st.AtSeq
		sum.Connects += st.Connects
		sum.ConnectErrors += st.ConnectErrors
	})
	return sum
}

// waitStatus polls the clients (bounded) until ok says so.
func (dc *drainClients) waitStatus(t *testing.T, within time.Duration, what, tag string, seq int, ok func(drainStatus) bool) drainStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := dc.status(t, tag, seq)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients: no %s within %v: %+v", what, within, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (dc *drainClients) report(t *testing.T) [][]drainConn {
	t.Helper()
	var all [][]drainConn
	dc.ask(t, `{"cmd":"report"}`, "report", func(_ int, line string) {
		var r struct {
			Clients []struct {
				Conns []drainConn `json:"conns"`
			} `json:"clients"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("report: %v", err)
		}
		for _, c := range r.Clients {
			all = append(all, c.Conns)
		}
	})
	return all
}

func (dc *drainClients) done(t *testing.T) {
	t.Helper()
	for _, p := range dc.procs {
		p.send(t, `{"cmd":"done"}`)
		if res := p.result(t, nil); !res.OK {
			t.Errorf("drain-clients.mjs: %s\nstderr:\n%s", res.Line, res.Stderr)
		}
	}
}

// publisher posts numbered messages to the drain channel through the proxy,
// one after another, until stopped.
type publisher struct {
	url    string
	client *http.Client
	mu     sync.Mutex
	seq    int // the last publish made
	errs   []string
	sent   []int // sent count of each publish, by seq-1
	// when each publish was started and answered (ms since the epoch), by seq-1
	started, answered []float64
	stop              chan struct{}
	done              chan struct{}
}

func startPublisher(proxyURL string) *publisher {
	p := &publisher{url: proxyURL + "/nodejs/publish", client: &http.Client{Timeout: 10 * time.Second},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(drainPublishEvery)
		defer t.Stop()
		for {
			p.publish()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// publish makes the next publish and returns its sent count.
func (p *publisher) publish() int {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.started = append(p.started, wallMillis())
	p.mu.Unlock()
	body := fmt.Sprintf(`{"broadcast":false,"channel":"drain","callback":"drainSeq","data":{"seq":%d}}`, seq)
	req, _ := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
	req.Header.Set("NodejsServiceKey", drupalServiceKey)
	req.Header.Set("Content-Type", "application/json")
	sent, err := -1, error(nil)
	resp, err := p.client.Do(req)
	if err == nil {
		var v struct {
			Status string
			Sent   *int
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &v) != nil || v.Status != "success" || v.Sent == nil {
			err = fmt.Errorf("HTTP %s %q", resp.Status, raw)
		} else {
			sent = *v.Sent
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errs = append(p.errs, fmt.Sprintf("publish %d: %v", seq, err))
	}
	p.sent = append(p.sent, sent)
	p.answered = append(p.answered, wallMillis())
	return sent
}

// finish stops the loop and makes one last publish, which every client must get.
func (p *publisher) finish() (last, sent int) {
	close(p.stop)
	<-p.done
	sent = p.publish()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, sent
}

// watchReadiness is the balancer's health check: node i is taken out once its
// /readyz answers 503.
func (rr *roundRobin) watchReadiness(t *testing.T, i int, readyURL string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		client := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			resp, err := client.Get(readyURL)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					rr.out[i].Store(true)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// redisZCard asks redis for the size of a sorted set (RESP by hand: the
// tests need no client library for one command).
func redisZCard(t *testing.T, addr, key string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*2\r\n$5\r\nZCARD\r\n$%d\r\n%s\r\n", len(key), key)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, ":") {
		t.Fatalf("ZCARD %s: %q %v", key, line, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDrain(t *testing.T) {
	node := requireNode(t, "sio2", "sio4")
	n := drainClientCount(t)
	rs := redistest.Start(t)
	tokens := make(map[string]drupalUser, n)
	for i := 0; i < n; i++ {
		tokens[fmt.Sprintf("drain-%d", i)] = drupalUser{UID: 10000 + i, Channels: []string{"drain"}}
	}
	drupal := newFakeDrupal(t, tokens)
	var nodes [2]*clusterNode
	var readyz [2]string
	for i := range nodes {
		ops := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		nodes[i] = startClusterNodeWith(t, drupal.srv.URL, rs.URL(), map[string]any{"socketOptions": map[string]any{}}, "-metrics-addr", ops)
		readyz[i] = "http://" + ops + "/readyz"
	}
	if nodes[0].tag == nodes[1].tag {
		t.Fatalf("both nodes have tag %q", nodes[0].tag)
	}
	rr := newRoundRobin(t, nodes)
	rr.failover.Store(true)
	for i := range nodes {
		rr.watchReadiness(t, i, readyz[i])
	}
	stopping, staying := nodes[0], nodes[1]

	clients := startDrainClients(t, node, rr.srv.URL, n)
	clients.ask(t, `{"cmd":"open"}`, "opening", func(int, string) {})
	opened := time.Now()
	st := clients.waitStatus(t, 2*time.Minute, "authentication of every client", stopping.tag, 0, func(s drainStatus) bool { return s.Authed == n })
	t.Logf("%d clients authenticated in %v, %d on the node to stop", n, time.Since(opened).Round(time.Millisecond), st.OnTag)
	if st.OnTag == 0 || st.OnTag == n {
		t.Fatalf("%d of %d clients on the node to stop: the proxy did not spread them", st.OnTag, n)
	}
	drupal.waitMessage(t, 30*time.Second, fmt.Sprintf("userOnline of all %d users", n), func(map[string]any) bool {
		return len(drupal.uidCounts("userOnline")) == n
	})

	pub := startPublisher(rr.srv.URL)
	// A few publishes before the drain, so every connection has a first one.
	pub.waitSeq(t, 3)
	stopping.stopped = true // stopped here, not by the cleanup
	signalled := time.Now()
	if err := stopping.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exited time.Duration
	select {
	case <-stopping.done:
		exited = time.Since(signalled)
	case <-time.After(drainTimeout + 5*time.Second):
		_ = stopping.cmd.Process.Kill()
		<-stopping.done
		t.Fatalf("the node did not exit within %v of SIGTERM; output:\n%s", drainTimeout+5*time.Second, stopping.output)
	}
	if stopping.err != nil {
		t.Fatalf("the node exited with %v after SIGTERM; output:\n%s", stopping.err, stopping.output)
	}
	// The process ends itself at the deadline (exit status 1); a clean exit
	// means the drain finished before it. The margin is for the test to see it.
	if exited > drainTimeout+time.Second {
		t.Fatalf("the node exited %v after SIGTERM, past its %v drain timeout", exited, drainTimeout)
	}
	t.Logf("the node exited %v after SIGTERM", exited.Round(time.Millisecond))
	st = clients.waitStatus(t, time.Minute, "client back on the other node", staying.tag, 0, func(s drainStatus) bool { return s.OnTag == n })
	t.Logf("every client on the other node %v after SIGTERM (%d connects, %d connect errors)", time.Since(signalled).Round(time.Millisecond), st.Connects, st.ConnectErrors)
	last, sent := pub.finish()
	if sent != n {
		t.Errorf("the last publish (%d) reached %d sockets, want %d", last, sent, n)
	}
	clients.waitStatus(t, 30*time.Second, "delivery of the last publish", staying.tag, last, func(s drainStatus) bool { return s.AtSeq == n })

	// Every connection received the publishes made while it was open, in order.
	moved, lostIn := 0, 0
	report := clients.report(t)
	pub.mu.Lock() // the publisher is done; its records are read below
	defer pub.mu.Unlock()
	if len(report) != n {
		t.Fatalf("report of %d clients, want %d", len(report), n)
	}
	var problems []string
	for i, conns := range report {
		if len(conns) == 0 {
			problems = append(problems, fmt.Sprintf("client %d: no connection", i))
			continue
		}
		for _, c := range conns {
			if len(c.Gaps) > 0 {
				lostIn++
				problems = append(problems, fmt.Sprintf("client %d, connection %s (%s): publishes missing between %v", i, c.SID, c.End, c.Gaps))
				continue
			}
			if !c.Authed {
				continue
			}
			if first, last, ok := pub.expected(c); ok && (c.First == nil || *c.First > first || *c.Last < last) {
				lostIn++
				problems = append(problems, fmt.Sprintf("client %d, connection %s (%s): received %s of the publishes %d to %d it was open for",
					i, c.SID, c.End, seqRange(c), first, last))
			}
		}
		if strings.HasPrefix(conns[0].SID, stopping.tag) {
			moved++
		}
		cur := conns[len(conns)-1]
		if !strings.HasPrefix(cur.SID, staying.tag) || !cur.Authed || cur.Last == nil || *cur.Last != last {
			problems = append(problems, fmt.Sprintf("client %d: last connection %+v, want one on %s that got publish %d", i, cur, staying.tag, last))
		}
	}
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("... %d more", len(problems)-10))
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, e := range pub.errs {
		t.Errorf("publisher: %s", e)
	}
	t.Logf("%d publishes; %d clients started on the stopped node; %d connections lost a publish", pub.seq, moved, lostIn)
	var worst float64
	for _, conns := range report {
		for k := 1; k < len(conns); k++ {
			worst = max(worst, conns[k].AuthedAt-conns[k-1].EndAt)
		}
	}
	t.Logf("longest time from a close to authenticated again: %.0f ms", worst)

	// Presence: with nobody left in the grace period, Drupal heard every user
	// come online once and none go offline.
	graceKey := "{socket.io:drupal}:grace"
	deadline := time.Now().Add(30 * time.Second)
	for redisZCard(t, rs.Addr, graceKey) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("users still in the grace period 30 s after the drain")
		}
		time.Sleep(50 * time.Millisecond)
	}
	online, offline := drupal.uidCounts("userOnline"), drupal.uidCounts("userOffline")
	flaps := 0
	for i := 0; i < n; i++ {
		if uid := 10000 + i; online[uid] != 1 || offline[uid] != 0 {
			if flaps++; flaps <= 10 {
				var gap []int
				for k := 1; k < len(report[i]); k++ {
					gap = append(gap, int(report[i][k].AuthedAt-report[i][k-1].EndAt))
				}
				t.Errorf("user %d: Drupal heard %d userOnline and %d userOffline, want 1 and 0; authenticated again %v ms after each close", uid, online[uid], offline[uid], gap)
			}
		}
	}
	if flaps > 0 {
		t.Errorf("%d users of %d flapped; the stopped node's log:\n%s", flaps, n, stopping.output)
	}
	clients.done(t)
}

// uidCounts counts the messages of a type Drupal received, by uid.
func (d *fakeDrupal) uidCounts(messageType string) map[int]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[int]int{}
	for _, m := range d.messages {
		if m["messageType"] == messageType {
			uid, _ := m["uid"].(float64)
			out[int(uid)]++
		}
	}
	return out
}

// waitSeq waits (bounded) until k publishes were made.
func (p *publisher) waitSeq(t *testing.T, k int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		made := len(p.sent)
		p.mu.Unlock()
		if made >= k {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d publishes made in 30 s, want %d", made, k)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wallMillis is the wall clock as drain-clients.mjs reads it.
func wallMillis() float64 { return float64(time.Now().UnixMicro()) / 1000 }

// drainCloseLatency is how long after a publish was answered a connection may
// still have been closed before it, as its client saw: the close packet was
// on its way, or waited for a polling client's next GET, and the client
// process, with a thousand sockets on a loaded machine, lags by a few
// hundred milliseconds (300 ms was passed), in one CI run under load over a
// second (16 connections saw their close 1-2 s after a publish they missed,
// with their reconnections, like the other clients', taking up to 4 s). A
// connection whose client saw it close later than that was open when the
// publish was made, and must have received it. A node that leaves the bus
// too early makes its clients miss every publish made through the other
// node for seconds.
const drainCloseLatency = 2000 // ms

// expected returns the publishes (first and last seq) a connection was open
// for: started after it was authenticated (in the channel) and answered
// drainCloseLatency before its client saw it close; ok is false if none.
func (p *publisher) expected(c drainConn) (first, last int, ok bool) {
	first, last = -1, -1
	for i := range p.started {
		seq := i + 1
		if first < 0 && p.started[i] > c.AuthedAt {
			first = seq
		}
		if c.EndAt == 0 || p.answered[i]+drainCloseLatency < c.EndAt {
			last = seq
		}
	}
	return first, last, first > 0 && last >= first
}

func seqRange(c drainConn) string {
	if c.First == nil {
		return "none"
	}
	return fmt.Sprintf("%d to %d", *c.First, *c.Last)
}
