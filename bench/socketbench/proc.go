package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat reads a process's CPU time and resident memory from /proc.
type procStat struct {
	pid  int
	tick time.Duration // one clock tick (USER_HZ)
}

func newProcStat(pid int) *procStat {
	return &procStat{pid: pid, tick: clockTick()}
}

// clockTick reads AT_CLKTCK from the auxiliary vector; Linux reports CPU times
// in /proc in these units (almost always 100 per second).
func clockTick() time.Duration {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for len(b) >= 16 {
			k, v := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
			b = b[16:]
			if k == atClkTck && v > 0 {
				return time.Second / time.Duration(v)
			}
		}
	}
	return 10 * time.Millisecond
}

// cpu returns utime+stime of the process (all its threads, live and exited).
func (p *procStat) cpu() (time.Duration, error) {
	user, sys, err := p.cpuSplit()
	return user + sys, err
}

// cpuSplit returns utime and stime apart: on loopback a write's system time
// includes the receiver's TCP processing, so the split tells what a server
// spends itself from what the kernel charges it for every delivery.
func (p *procStat) cpuSplit() (user, sys time.Duration, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces) start at state (3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("unexpected /proc/pid/stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc/pid/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("bad cpu fields in /proc/pid/stat")
	}
	return time.Duration(ut) * p.tick, time.Duration(st) * p.tick, nil
}

// status reads VmRSS (KiB) and the thread count from /proc/<pid>/status.
func (p *procStat) status() (rssKB int64, threads int, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(p.pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			rssKB, _ = strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		case strings.HasPrefix(line, "Threads:"):
			threads, _ = strconv.Atoi(strings.Fields(line)[1])
		}
	}
	return rssKB, threads, sc.Err()
}

// procGroup is a set of processes measured as one: the nodes of a cluster, or
// the load client with its worker processes. CPU times and RSS are summed.
type procGroup []*procStat

func newProcGroup(pids ...int) procGroup {
	var g procGroup
	for _, pid := range pids {
		if pid > 0 {
			g = append(g, newProcStat(pid))
		}
	}
	return g
}

func (g procGroup) cpu() (time.Duration, error) {
	user, sys, err := g.cpuSplit()
	return user + sys, err
}

// sysCPU is the group's system time alone.
func (g procGroup) sysCPU() (time.Duration, error) {
	_, sys, err := g.cpuSplit()
	return sys, err
}

// cpuSplit sums the processes' user and system times.
func (g procGroup) cpuSplit() (user, sys time.Duration, err error) {
	for _, p := range g {
		u, s, err := p.cpuSplit()
		if err != nil {
			return 0, 0, err
		}
		user, sys = user+u, sys+s
	}
	return user, sys, nil
}

func (g procGroup) status() (rssKB int64, threads int, err error) {
	for _, p := range g {
		kb, th, err := p.status()
		if err != nil {
			return 0, 0, err
		}
		rssKB += kb
		threads += th
	}
	return rssKB, threads, nil
}

// machine describes where the run happened.
type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemTotal  string `json:"mem_total"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	NoFile    uint64 `json:"rlimit_nofile"`
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				m.MemTotal = strings.Join(strings.Fields(line)[1:], " ")
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.NoFile = raiseNoFile()
	return m
}

// raiseNoFile returns the open-files limit (the Go runtime has already raised
// the soft limit to the hard one at start-up).
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

func fmtKB(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
