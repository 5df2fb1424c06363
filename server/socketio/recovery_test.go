package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/internal/testutil"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter"
	"github.com/socketd/socketd/server/socketio"
)

// recoveryEnv is a server with connection-state recovery on whose sockets
// report their connections (recovered or not) on conns.
type recoveryEnv struct {
	*env
	conns chan *socketio.Socket
}

func newRecoveryEnv(t *testing.T, rec socketio.Recovery, setup func(io *socketio.Server)) *recoveryEnv {
	conns := make(chan *socketio.Socket, 16)
	e := newEnv(t, socketio.Config{Recovery: &rec}, func(io *socketio.Server) {
		clusterSetup(0, io)
		io.Of("/").OnConnection(func(s *socketio.Socket) { conns <- s })
		if setup != nil {
			setup(io)
		}
	})
	return &recoveryEnv{env: e, conns: conns}
}

func (e *recoveryEnv) socket() *socketio.Socket {
	e.t.Helper()
	select {
	case s := <-e.conns:
		return s
	case <-time.After(10 * time.Second):
		e.t.Fatal("no connection")
		return nil
	}
}

// connectReply reads a v5 CONNECT reply of "/".
type connectReply struct{ Sid, Pid string }

func readConnect(t *testing.T, c *testutil.WSClient) connectReply {
	t.Helper()
	got := next(t, c)
	var r connectReply
	if !strings.HasPrefix(got, "40{") || json.Unmarshal([]byte(got[2:]), &r) != nil || r.Sid == "" {
		t.Fatalf("connect reply %q", got)
	}
	return r
}

// event is an EVENT a client got: its name, arguments and trailing offset.
type event struct {
	name   string
	args   []json.RawMessage
	offset string // the last argument when it is a string that parses as an offset
}

func parseEvent(t *testing.T, p string) event {
	t.Helper()
	var data []json.RawMessage
	if !strings.HasPrefix(p, "42[") || json.Unmarshal([]byte(p[2:]), &data) != nil || len(data) == 0 {
		t.Fatalf("not an event: %q", p)
	}
	ev := event{args: data[1:]}
	_ = json.Unmarshal(data[0], &ev.name)
	if n := len(ev.args); n > 0 {
		var s string
		if json.Unmarshal(ev.args[n-1], &s) == nil {
			if _, ok := adapter.ParseOffset(s); ok {
				ev.offset, ev.args = s, ev.args[:n-1]
			}
		}
	}
	return ev
}

// gone waits until the server has seen the client of sid leave.
func (e *recoveryEnv) gone(sid string) {
	e.t.Helper()
	waitFor(e.t, "the socket to leave", func() bool { _, ok := e.io.Of("/").Socket(sid); return !ok })
}

// A client that comes back with its pid and last offset gets its id, rooms
// and data back and, before its CONNECT reply, exactly the stored broadcasts
// it missed that reached its rooms, with their offsets; direct emits,
// volatile packets and broadcasts to other rooms are not among them.
func TestRecoveryRestoresSession(t *testing.T) {
	e := newRecoveryEnv(t, socketio.Recovery{}, nil)
	nsp := e.io.Of("/")
	c := e.dial("4")
	_ = c.SendText("40")
	first := readConnect(t, c)
	if first.Pid == "" {
		t.Fatal("no pid in the CONNECT reply")
	}
	s := e.socket()
	if s.Recovered() {
		t.Fatal("a new socket is recovered")
	}
	call(t, c, 1, "join", `"r"`)
	call(t, c, 2, "data", `{"user":7}`)
	if err := nsp.To("r").Emit("n", 1); err != nil {
		t.Fatal(err)
	}
	ev := parseEvent(t, next(t, c))
	if ev.name != "n" || string(ev.args[0]) != "1" || ev.offset == "" {
		t.Fatalf("stored broadcast %+v, want n(1) with an offset", ev)
	}
	if err := s.Emit("direct", "x"); err != nil {
		t.Fatal(err)
	}
	if got := next(t, c); got != `42["direct","x"]` {
		t.Fatalf("a direct emit carries %q, want no offset", got)
	}
	c.Close()
	e.gone(first.Sid)

	_ = nsp.To("r").Emit("n", 2)
	_ = nsp.To("elsewhere").Emit("n", -1)
	_ = nsp.To("r").Volatile().Emit("n", -2)
	_ = nsp.Emit("n", 3)

	c2 := e.dial("4")
	_ = c2.SendText(`40{"pid":"` + first.Pid + `","offset":"` + ev.offset + `"}`)
	var got []string
	last := ev.offset
	for {
		p := next(t, c2)
		if strings.HasPrefix(p, "40") {
			var r connectReply
			_ = json.Unmarshal([]byte(p[2:]), &r)
			if r != first {
				t.Fatalf("reply %q, want the same sid and pid %+v", p, first)
			}
			break
		}
		m := parseEvent(t, p)
		if m.offset == "" || cmpOffsets(m.offset, last) <= 0 {
			t.Fatalf("missed packet %q: offset not after %s", p, last)
		}
		last = m.offset
		got = append(got, m.name+string(m.args[0]))
	}
	if want := []string{"n2", "n3"}; !slices.Equal(got, want) {
		t.Fatalf("missed packets %v, want %v", got, want)
	}
	s2 := e.socket()
	if !s2.Recovered() || s2.ID() != first.Sid {
		t.Fatalf("recovered %v id %s, want true %s", s2.Recovered(), s2.ID(), first.Sid)
	}
	if rooms := s2.Rooms(); !slices.Contains(rooms, "r") || !slices.Contains(rooms, first.Sid) {
		t.Fatalf("rooms %v", rooms)
	}
	checkJSONEqual(t, "data", s2.Data(), `{"user":7}`)
	if st := e.io.Stats(); st.Recovered != 1 || st.RecoveryMisses != 0 || st.Connects != 2 {
		t.Fatalf("server stats %+v: want 2 connects, 1 recovered", st)
	}
	_ = nsp.To("r").Emit("n", 4)
	if m := parseEvent(t, next(t, c2)); string(m.args[0]) != "4" || cmpOffsets(m.offset, last) <= 0 {
		t.Fatalf("live packet after the recovery %+v", m)
	}
}

func cmpOffsets(a, b string) int {
	x, _ := adapter.ParseOffset(a)
	y, _ := adapter.ParseOffset(b)
	return x.Compare(y)
}

// reconnect sends a CONNECT with pid and offset on a new connection and
// returns what came before the CONNECT reply, and the reply.
func (e *recoveryEnv) reconnect(pid, offset string) (*testutil.WSClient, []string, connectReply) {
	e.t.Helper()
	c := e.dial("4")
	_ = c.SendText(`40{"pid":"` + pid + `","offset":"` + offset + `"}`)
	var before []string
	for {
		p := next(e.t, c)
		if strings.HasPrefix(p, "40") {
			var r connectReply
			_ = json.Unmarshal([]byte(p[2:]), &r)
			return c, before, r
		}
		before = append(before, p)
	}
}

// Whatever cannot be restored gives a new session (new id and pid, no
// replay, middlewares run): an unknown pid, an offset the store never had
// or no longer has, a session past MaxDisconnectionDuration, one a
// RecoverHook refuses.
func TestRecoveryFallsBackToNewSession(t *testing.T) {
	var refuse atomic.Bool
	var admitted atomic.Int32
	e := newRecoveryEnv(t, socketio.Recovery{MaxDisconnectionDuration: 300 * time.Millisecond, MaxPackets: 3}, func(io *socketio.Server) {
		n := io.Of("/")
		n.Use(func(*socketio.Socket) error { admitted.Add(1); return nil })
		n.OnRecover(func(s *socketio.Socket, rooms []string) ([]string, error) {
			if refuse.Load() {
				return nil, errors.New("refused")
			}
			return rooms, nil
		})
	})
	nsp := e.io.Of("/")
	// leave connects, gets one stored packet, and leaves: it returns its
	// session and that packet's offset.
	leave := func() (connectReply, string) {
		c := e.dial("4")
		_ = c.SendText("40")
		r := readConnect(t, c)
		e.socket()
		_ = nsp.To(r.Sid).Emit("n", 0)
		ev := parseEvent(t, next(t, c))
		c.Close()
		e.gone(r.Sid)
		return r, ev.offset
	}
	fresh := func(what string, old connectReply, pid, offset string) {
		t.Helper()
		before := admitted.Load()
		_, replayed, r := e.reconnect(pid, offset)
		if len(replayed) != 0 || r.Sid == old.Sid || r.Pid == "" || r.Pid == old.Pid {
			t.Fatalf("%s: replayed %v, reply %+v after %+v: want a new session", what, replayed, r, old)
		}
		if s := e.socket(); s.Recovered() || admitted.Load() != before+1 {
			t.Fatalf("%s: recovered %v, middlewares %d times", what, s.Recovered(), admitted.Load()-before)
		}
	}

	r, off := leave()
	fresh("unknown pid", r, "nobody", off)
	fresh("offset never stored", r, r.Pid, "1-1")
	fresh("taken once", r, r.Pid, off) // the attempt above took it
	r, off = leave()
	for i := range 4 { // past MaxPackets: the packets after off are dropped
		_ = nsp.Emit("n", i)
	}
	fresh("packets dropped", r, r.Pid, off)
	r, off = leave()
	refuse.Store(true)
	fresh("hook refused", r, r.Pid, off)
	refuse.Store(false)
	r, off = leave()
	time.Sleep(400 * time.Millisecond) // past MaxDisconnectionDuration
	fresh("expired", r, r.Pid, off)

	if st := e.io.Stats(); st.RecoveryMisses != 6 || st.Recovered != 0 {
		t.Fatalf("server stats: %d recovered, %d misses; want 0 and 6", st.Recovered, st.RecoveryMisses)
	}
	// The store counts what its bounds dropped.
	st := nsp.Adapter().(*adapter.Memory).RecoveryStats()
	if st.DroppedPackets == 0 || st.ExpiredSessions == 0 {
		t.Fatalf("stats %+v: want dropped packets and expired sessions counted", st)
	}
}

// Middlewares are skipped for a recovered socket unless RunMiddlewares,
// where a refusal answers CONNECT_ERROR; a RecoverHook chooses the rooms
// restored, and the packets replayed are those of these rooms.
func TestRecoveryMiddlewaresAndHook(t *testing.T) {
	for _, run := range []bool{false, true} {
		t.Run(fmt.Sprintf("run=%v", run), func(t *testing.T) {
			var admitted atomic.Int32
			e := newRecoveryEnv(t, socketio.Recovery{RunMiddlewares: run}, func(io *socketio.Server) {
				n := io.Of("/")
				n.Use(func(s *socketio.Socket) error {
					admitted.Add(1)
					if s.Recovered() && strings.Contains(string(s.Handshake().Auth), "deny") {
						return &socketio.ConnectError{Message: "no"}
					}
					return nil
				})
				n.OnRecover(func(s *socketio.Socket, rooms []string) ([]string, error) {
					return slices.DeleteFunc(rooms, func(r string) bool { return r == "dropped" }), nil
				})
			})
			nsp := e.io.Of("/")
			session := func() (connectReply, string) {
				c := e.dial("4")
				_ = c.SendText("40")
				r := readConnect(t, c)
				e.socket()
				call(t, c, 1, "join", `"kept"`)
				call(t, c, 2, "join", `"dropped"`)
				_ = nsp.To(r.Sid).Emit("n", 0)
				ev := parseEvent(t, next(t, c))
				c.Close()
				e.gone(r.Sid)
				_ = nsp.To("kept").Emit("kept")
				_ = nsp.To("dropped").Emit("dropped")
				return r, ev.offset
			}
			r, off := session()
			before := admitted.Load()
			_, replayed, got := e.reconnect(r.Pid, off)
			if got != r || len(replayed) != 1 || parseEvent(t, replayed[0]).name != "kept" {
				t.Fatalf("reply %+v replayed %v, want %+v and the packet of the kept room", got, replayed, r)
			}
			s := e.socket()
			if slices.Contains(s.Rooms(), "dropped") || !slices.Contains(s.Rooms(), "kept") {
				t.Fatalf("rooms %v", s.Rooms())
			}
			if ran := admitted.Load() - before; (ran == 1) != run {
				t.Fatalf("middlewares ran %d times, RunMiddlewares %v", ran, run)
			}
			if !run {
				return
			}
			r, off = session()
			c := e.dial("4")
			_ = c.SendText(`40{"pid":"` + r.Pid + `","offset":"` + off + `","deny":1}`)
			if p := next(t, c); p != `44{"message":"no"}` {
				t.Fatalf("refused recovery answered %q", p)
			}
		})
	}
}

// v4 clients (socket.io-client 2.x) get no pid and no offsets: stored
// broadcasts reach them as they are, while v5 clients of the same broadcast
// get the offset.
func TestRecoveryLeavesV4Alone(t *testing.T) {
	e := newRecoveryEnv(t, socketio.Recovery{}, nil)
	v4 := e.dial("3")
	if p := next(t, v4); p != "40" {
		t.Fatalf("v4 connect %q", p)
	}
	e.socket()
	v5 := e.dial("4")
	_ = v5.SendText("40")
	readConnect(t, v5)
	e.socket()
	_ = e.io.Of("/").Emit("n", 1)
	if p := next(t, v4); p != `42["n",1]` {
		t.Fatalf("v4 got %q", p)
	}
	if ev := parseEvent(t, next(t, v5)); ev.offset == "" {
		t.Fatal("v5 got no offset")
	}
	// Volatile and ack broadcasts are not stored: no offset for anyone.
	_ = e.io.Of("/").Except().Volatile().Emit("v")
	if p := next(t, v5); p != `42["v"]` {
		t.Fatalf("volatile %q", p)
	}
}

// With recovery off nothing changes: no pid, no offsets.
func TestRecoveryOff(t *testing.T) {
	e := newEnv(t, socketio.Config{}, nil)
	c := e.dial("4")
	_ = c.SendText("40")
	if r := readConnect(t, c); r.Pid != "" {
		t.Fatalf("pid %q with recovery off", r.Pid)
	}
	_ = e.io.Of("/").Emit("n", 1)
	if p := next(t, c); p != `42["n",1]` {
		t.Fatalf("got %q", p)
	}
	plain := func(_ string, local adapter.Local) (adapter.Adapter, error) {
		return struct{ adapter.Adapter }{adapter.NewMemory(local)}, nil
	}
	if _, err := socketio.New(socketio.Config{Recovery: &socketio.Recovery{}, Adapter: plain}); err == nil {
		t.Fatal("an adapter without recovery accepted")
	}
}

// streamCheck follows what a client got of numbered broadcasts from several
// senders: each sender's numbers must come once each, in order, and the
// offsets must grow.
type streamCheck struct {
	next   map[string]int
	offset string
	seen   []string
}

func (sc *streamCheck) add(t *testing.T, p string) {
	t.Helper()
	sc.seen = append(sc.seen, p)
	if len(sc.seen) > 12 {
		sc.seen = sc.seen[1:]
	}
	ev := parseEvent(t, p)
	var i int
	if ev.offset == "" || len(ev.args) != 1 || json.Unmarshal(ev.args[0], &i) != nil {
		t.Fatalf("unexpected packet %q", p)
	}
	if sc.offset != "" && cmpOffsets(ev.offset, sc.offset) <= 0 {
		t.Fatalf("%q: offset not after %s; last packets:\n%s", p, sc.offset, strings.Join(sc.seen, "\n"))
	}
	sc.offset = ev.offset
	if want := sc.next[ev.name]; i != want {
		t.Fatalf("%s: got %d, want %d (lost or twice)", ev.name, i, want)
	}
	sc.next[ev.name]++
}

// The transport dies while two goroutines broadcast: the client gets every
// packet once, in order, across the recovery, whatever came live, was
// missed, or was broadcast while the missed packets were being replayed.
func TestRecoveryExactlyOnceUnderBroadcasts(t *testing.T) {
	e := newRecoveryEnv(t, socketio.Recovery{}, nil)
	nsp := e.io.Of("/")
	c := e.dial("4")
	_ = c.SendText("40")
	first := readConnect(t, c)
	e.socket()
	const total = 1500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer wg.Wait()
	defer close(stop)
	for _, name := range []string{"a", "b"} {
		wg.Go(func() {
			for i := range total {
				select {
				case <-stop:
					return
				default:
				}
				if err := nsp.Emit(name, i); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 49 {
					time.Sleep(time.Millisecond) // let the client keep up
				}
			}
		})
	}
	sc := &streamCheck{next: map[string]int{}}
	for sc.next["a"]+sc.next["b"] < 200 {
		sc.add(t, next(t, c))
	}
	c.Close()
	e.gone(first.Sid)
	c2, replayed, r := e.reconnect(first.Pid, sc.offset)
	if r != first {
		t.Fatalf("reply %+v, want %+v", r, first)
	}
	sc.seen = append(sc.seen, "--- reconnected")
	for _, p := range replayed {
		sc.add(t, p)
	}
	sc.seen = append(sc.seen, "--- connect reply")
	for sc.next["a"] < total || sc.next["b"] < total {
		sc.add(t, next(t, c2))
	}
	if !e.socket().Recovered() {
		t.Fatal("not recovered")
	}
}

// redisRecoveryCluster is redisCluster with recovery on; it also returns a
// client of its Redis.
func redisRecoveryCluster(t *testing.T, size int) ([]*recoveryEnv, *redis.Client) {
	rs := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	out := make([]*recoveryEnv, size)
	for i := range out {
		client := redis.NewClient(&redis.Options{Addr: rs.Addr})
		bus, err := redisadapter.New(redisadapter.Config{Client: client, RequestTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close(); _ = client.Close() })
		conns := make(chan *socketio.Socket, 16)
		e := newEnv(t, socketio.Config{Adapter: bus.Factory(), Recovery: &socketio.Recovery{}}, func(io *socketio.Server) {
			clusterSetup(i, io)
			io.Of("/").OnConnection(func(s *socketio.Socket) { conns <- s })
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = bus.WaitUp(ctx)
		cancel()
		if err != nil {
			t.Fatalf("node %d not on the bus: %v", i, err)
		}
		out[i] = &recoveryEnv{env: e, conns: conns}
	}
	return out, rc
}

// A client that dropped from one node recovers on another: same id, rooms
// and data, and every packet once, in order, while both nodes broadcast.
func TestRecoveryAcrossNodes(t *testing.T) {
	nodes, rc := redisRecoveryCluster(t, 2)
	c := nodes[0].dial("4")
	_ = c.SendText("40")
	first := readConnect(t, c)
	nodes[0].socket()
	call(t, c, 1, "join", `"r"`)
	call(t, c, 2, "data", `{"user":7}`)
	const total = 600
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer wg.Wait()
	defer close(stop)
	for i, name := range []string{"a", "b"} {
		nsp := nodes[i].io.Of("/")
		wg.Go(func() {
			for j := range total {
				select {
				case <-stop:
					return
				default:
				}
				if err := nsp.To("r").Emit(name, j); err != nil {
					t.Error(err)
					return
				}
				if j%20 == 19 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	sc := &streamCheck{next: map[string]int{}}
	for sc.next["a"]+sc.next["b"] < 100 {
		sc.add(t, next(t, c))
	}
	c.Close()
	nodes[0].gone(first.Sid)
	// The session is written in the background (a client waits a second or
	// so before it reconnects).
	waitFor(t, "the session in Redis", func() bool {
		n, err := rc.Exists(t.Context(), "sio:session:"+first.Pid).Result()
		return err == nil && n == 1
	})
	c2, replayed, r := nodes[1].reconnect(first.Pid, sc.offset)
	if r != first {
		t.Fatalf("reply %+v, want %+v (replayed %d)", r, first, len(replayed))
	}
	sc.seen = append(sc.seen, "--- reconnected")
	for _, p := range replayed {
		sc.add(t, p)
	}
	for sc.next["a"] < total || sc.next["b"] < total {
		sc.add(t, next(t, c2))
	}
	s := nodes[1].socket()
	if !s.Recovered() || !slices.Contains(s.Rooms(), "r") {
		t.Fatalf("recovered %v rooms %v", s.Recovered(), s.Rooms())
	}
	checkJSONEqual(t, "data", s.Data(), `{"user":7}`)
}
