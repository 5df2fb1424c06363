package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cluster scenario (issue 10): a cluster of -cluster-nodes nodes of one
// kind (the Node peer on @socket.io/redis-adapter, or socketd with -redis)
// on one redis-server that the runner starts for the run on a free loopback
// port and stops by PID, measured by one socketbench cluster run (-urls):
// -cluster-n clients in total, spread over the nodes and over socketbench's
// worker processes. Each kind runs once per round, after the single-node
// servers, so the clusters are interleaved like the servers.

// clusterKind is how to start one node of a cluster: Command with {port} and
// {redis} replaced by the node's port and the redis URL.
type clusterKind struct {
	Name    string   `json:"name"`
	Command []string `json:"command"`
}

// clusterKinds are the kinds the runner knows.
func clusterKinds(o options, nodeBin, socketdNodeCmd string) map[string]clusterKind {
	be := "http://" + o.Backend + "/nodejs/message"
	return map[string]clusterKind{
		nodeRef: {Name: nodeRef, Command: []string{nodeBin, "bench/node-peer/server.mjs", "--port", "{port}",
			"--backend", be, "--service-key", o.ServiceKey, "--redis", "{redis}"}},
		"socketd": {Name: "socketd", Command: strings.Fields(socketdNodeCmd)},
	}
}

func (k clusterKind) nodeCommand(port int, redisURL string) []string {
	out := make([]string, len(k.Command))
	for i, a := range k.Command {
		a = strings.ReplaceAll(a, "{port}", strconv.Itoa(port))
		out[i] = strings.ReplaceAll(a, "{redis}", redisURL)
	}
	return out
}

// proc is a process the runner started: done is closed once it has exited,
// with err its Wait error.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProc starts command (its own process group) with output to logPath.
func startProc(command []string, logPath string) (*proc, error) {
	return startProcEnv(command, nil, logPath)
}

// startProcEnv is startProc with env added to the runner's environment.
func startProcEnv(command, env []string, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(command[0], command[1:]...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", command[0], err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// shellJoin writes a command line as a shell would take it back: an empty
// argument, as --save's, shows as a pair of single quotes.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" {
			out[i] = "''"
		}
	}
	return strings.Join(out, " ")
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts a redis-server that saves nothing on a free loopback port
// and waits until it answers PING.
func startRedis(ctx context.Context, bin, logPath string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := startProc([]string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"}, logPath)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(addr); err == nil {
			return p, "redis://" + addr, nil
		}
		select {
		case <-p.done:
			return nil, "", fmt.Errorf("redis-server exited during start-up: %v (see %s)", p.err, logPath)
		case <-ctx.Done():
			p.stop()
			return nil, "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", fmt.Errorf("redis-server on %s not ready within 10s", addr)
		}
	}
}

// redisPing sends PING in the inline form and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// runCluster starts redis-server and the nodes of k, runs socketbench over
// them and stops everything (nodes first, then redis-server).
func runCluster(ctx context.Context, o options, k clusterKind, round int, dir string) (json.RawMessage, []string, error) {
	var cmds []string
	name := k.Name + "-cluster"
	raw := func(what string) string {
		return filepath.Join(dir, "raw", fmt.Sprintf("%s-%d-%s", name, round+1, what))
	}
	if len(k.Command) == 0 {
		return nil, nil, errors.New("no node command")
	}
	redis, redisURL, err := startRedis(ctx, o.RedisServer, raw("redis.log"))
	if err != nil {
		return nil, nil, err
	}
	defer redis.stop()
	cmds = append(cmds, shellJoin(redis.cmd.Args))
	var urls, pids []string
	for i := 0; i < o.ClusterNodes; i++ {
		port := o.ClusterPort + i
		u := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := portFree(u); err != nil {
			return nil, cmds, err
		}
		command := k.nodeCommand(port, redisURL)
		logPath := raw(fmt.Sprintf("node%d.log", i+1))
		p, err := startProc(command, logPath)
		if err != nil {
			return nil, cmds, err
		}
		defer p.stop()
		cmds = append(cmds, shellJoin(command))
		if err := waitReady(ctx, u+"/nodejs/health/check", o.ServiceKey, p); err != nil {
			return nil, cmds, fmt.Errorf("node %d: %w (log: %s)", i+1, err, logPath)
		}
		urls = append(urls, u)
		pids = append(pids, strconv.Itoa(p.cmd.Process.Pid))
	}
	out := raw("result.json")
	args := []string{"-q", "-urls", strings.Join(urls, ","), "-pids", strings.Join(pids, ","),
		"-redis-pid", strconv.Itoa(redis.cmd.Process.Pid), "-label", name,
		"-n", strconv.Itoa(o.ClusterN), "-eio", strconv.Itoa(o.EIO), "-scenario", "all",
		"-backend-addr", o.Backend, "-service-key", o.ServiceKey, "-timeout", o.ClusterTimeout.String(), "-out", out}
	args = append(args, o.BenchArgs...)
	args = append(args, o.ClusterArgs...)
	cmds = append(cmds, o.Socketbench+" "+strings.Join(args, " "))
	fmt.Fprintf(os.Stderr, "runner: round %d/%d: %s, %d nodes (pids %s) on %s, %d clients\n",
		round+1, o.Runs, name, o.ClusterNodes, strings.Join(pids, ","), redisURL, o.ClusterN)
	rctx, cancel := context.WithTimeout(ctx, o.ClusterTimeout+time.Minute)
	defer cancel()
	bench := exec.CommandContext(rctx, o.Socketbench, args...)
	bench.Stderr = os.Stderr
	t0 := time.Now()
	berr := bench.Run()
	doc, rerr := os.ReadFile(out)
	if rerr != nil {
		return nil, cmds, fmt.Errorf("socketbench: %v (no result: %v)", berr, rerr)
	}
	if !json.Valid(doc) {
		return nil, cmds, errors.New("socketbench wrote invalid JSON")
	}
	fmt.Fprintf(os.Stderr, "runner: %s done in %.0fs%s\n", name, time.Since(t0).Seconds(), map[bool]string{true: "", false: " (with problems, see the result)"}[berr == nil])
	return doc, cmds, nil
}
