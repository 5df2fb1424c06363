package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// puppet drives clients/puppet.mjs: real socket.io-client sockets that do what
// the test says and report everything they see (see the script's header for
// the line protocol).
type puppet struct {
	t    testing.TB
	proc *nodeProcess

	mu      sync.Mutex
	events  []puppetEvent
	changed chan struct{} // closed and replaced on every event
	seq     int
}

// puppetEvent is one stdout line of the script.
type puppetEvent struct {
	Name    string            `json:"name"`
	Ev      string            `json:"ev"`
	ID      string            `json:"id"`
	Event   string            `json:"event"`
	Args    []json.RawMessage `json:"args"`
	Seq     int               `json:"seq"`
	Reason  string            `json:"reason"`
	Error   string            `json:"error"`
	WithAck bool              `json:"withAck"`
}

// puppetWait bounds every single wait for an event.
const puppetWait = 15 * time.Second

func startPuppet(t testing.TB, node string, timeout time.Duration) *puppet {
	t.Helper()
	p := &puppet{t: t, changed: make(chan struct{})}
	p.proc = startNodeScript(t, node, timeout, "puppet.mjs", "--timeout", fmt.Sprint(timeout.Milliseconds()))
	go func() {
		for line := range p.proc.lines {
			var ev puppetEvent
			if json.Unmarshal([]byte(line), &ev) != nil || (ev.Ev == "" && ev.Name == "") {
				continue // the result line
			}
			p.mu.Lock()
			p.events = append(p.events, ev)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *puppet) send(cmd map[string]any) {
	p.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		p.t.Fatal(err)
	}
	p.proc.send(p.t, string(b))
}

// wait returns the first event since index from on that match accepts,
// waiting at most within; it fails the test on a command error or at the bound.
func (p *puppet) wait(from int, within time.Duration, what string, match func(puppetEvent) bool) (puppetEvent, int) {
	p.t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for i := from; ; {
		p.mu.Lock()
		for ; i < len(p.events); i++ {
			ev := p.events[i]
			if ev.Ev == "error" {
				p.mu.Unlock()
				p.t.Fatalf("puppet: command failed: %s", ev.Error)
			}
			if match(ev) {
				p.mu.Unlock()
				return ev, i
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			p.t.Fatalf("puppet: no %s within %v; last events:\n%s\nstderr:\n%s", what, within, p.recent(20), p.proc.stderr)
		}
	}
}

// recent lists the last n events, one per line, for failure messages.
func (p *puppet) recent(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, ev := range p.events[max(0, len(p.events)-n):] {
		line, _ := json.Marshal(ev)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// mark is the index the next event will have: waits from it see only what
// happens after this point.
func (p *puppet) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// connect opens socket name with client (sio2, sio3, sio4) on url and waits
// until it is connected; it returns the socket id.
func (p *puppet) connect(name, client, url, transport string, auth map[string]any) string {
	p.t.Helper()
	from := p.mark()
	cmd := map[string]any{"cmd": "connect", "name": name, "client": client, "url": url}
	if transport != "" {
		cmd["transports"] = []string{transport}
	}
	if auth != nil {
		cmd["auth"] = auth
	}
	p.send(cmd)
	ev, _ := p.wait(from, puppetWait, name+" connected", func(ev puppetEvent) bool {
		if ev.Name == name && ev.Ev == "connect_error" {
			p.t.Fatalf("puppet: %s: connect_error %s", name, ev.Error)
		}
		return ev.Name == name && ev.Ev == "connect"
	})
	return ev.ID
}

// call emits event with args from socket name with an ack callback and returns
// the ack's arguments.
func (p *puppet) call(name, event string, args ...any) []json.RawMessage {
	p.t.Helper()
	return p.callWithin(puppetWait, name, event, args...)
}

func (p *puppet) callWithin(within time.Duration, name, event string, args ...any) []json.RawMessage {
	p.t.Helper()
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	from := p.mark()
	p.send(map[string]any{"cmd": "emit", "name": name, "event": event, "args": args, "seq": seq})
	ev, _ := p.wait(from, within, fmt.Sprintf("ack of %s from %s", event, name), func(ev puppetEvent) bool {
		return ev.Ev == "ack" && ev.Seq == seq
	})
	return ev.Args
}

// emitter publishes event to room (all sockets when empty) with
// @socket.io/redis-emitter on the Redis at url.
func (p *puppet) emitter(url, room, event string, args ...any) {
	p.t.Helper()
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	from := p.mark()
	p.send(map[string]any{"cmd": "emitter", "redis": url, "room": room, "event": event, "args": args, "seq": seq})
	p.wait(from, puppetWait, "the emitter's publish", func(ev puppetEvent) bool { return ev.Ev == "emitted" && ev.Seq == seq })
}

// waitEvent waits for socket name to receive event with a first argument that
// match accepts (nil: any), among the events since from.
func (p *puppet) waitEvent(from int, name, event string, match func(arg json.RawMessage) bool) puppetEvent {
	p.t.Helper()
	ev, _ := p.wait(from, puppetWait, fmt.Sprintf("%q at %s", event, name), func(ev puppetEvent) bool {
		return ev.Name == name && ev.Ev == "event" && ev.Event == event && (match == nil || (len(ev.Args) > 0 && match(ev.Args[0])))
	})
	return ev
}

// count is how many times socket name received event with a first argument
// that match accepts, among the events since from.
func (p *puppet) count(from int, name, event string, match func(arg json.RawMessage) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ev := range p.events[from:] {
		if ev.Name == name && ev.Ev == "event" && ev.Event == event && (match == nil || (len(ev.Args) > 0 && match(ev.Args[0]))) {
			n++
		}
	}
	return n
}

// waitDisconnect waits for socket name to report a disconnect and returns the reason.
func (p *puppet) waitDisconnect(from int, name string) string {
	p.t.Helper()
	ev, _ := p.wait(from, puppetWait, name+" disconnected", func(ev puppetEvent) bool {
		return ev.Name == name && ev.Ev == "disconnect"
	})
	return ev.Reason
}

func (p *puppet) done() {
	p.t.Helper()
	p.send(map[string]any{"cmd": "done"})
	if res := p.proc.result(p.t, nil); !res.OK {
		p.t.Fatalf("puppet: %s\nstderr:\n%s", res.Line, res.Stderr)
	}
}

// bin is a binary argument for the puppet.
func bin(b []byte) map[string]string {
	return map[string]string{"$bin": base64.StdEncoding.EncodeToString(b)}
}

// tagged matches a first argument that is an object with "tag" equal to tag.
func tagged(tag string) func(json.RawMessage) bool {
	return func(arg json.RawMessage) bool {
		var v struct {
			Tag string `json:"tag"`
		}
		return json.Unmarshal(arg, &v) == nil && v.Tag == tag
	}
}

// binaryAt reads the binary value at a dotted path of a received argument
// ({"$bin","$type"}), or fails the test.
func binaryAt(t testing.TB, arg json.RawMessage, path string) ([]byte, string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(arg, &v); err != nil {
		t.Fatalf("argument %s: %v", arg, err)
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("argument %s: no %q in %s", arg, k, path)
		}
		v = m[k]
	}
	m, ok := v.(map[string]any)
	s, isBin := m["$bin"].(string)
	if !ok || !isBin {
		t.Fatalf("argument %s: %s is not binary", arg, path)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := m["$type"].(string)
	return b, typ
}

// checkBinary fails the test unless arg holds want at path, as binary.
func checkBinary(t testing.TB, who string, arg json.RawMessage, path string, want []byte) {
	t.Helper()
	got, typ := binaryAt(t, arg, path)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %s = %x (%s), want %x", who, path, got, typ, want)
	}
}
