package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/internal/testutil"
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/redisadapter"
	"github.com/socketd/socketd/server/socketio"
)

// fakeBus joins the namespaces of several in-process servers into a cluster
// without a network: each node keeps its own sockets in an adapter.Memory and
// reaches the other nodes' by calling their adapters directly, on goroutines of
// their own for the operations that answer (as replies from a bus would come).
// It tests server/socketio's cluster API; the Redis adapter's own behaviour is
// adaptertest's and the cluster end-to-end tests' to check.
type fakeBus struct {
	mu    sync.Mutex
	nodes map[string][]*fakeNode // by namespace
	// down makes the bus unreachable: operations act on the calling node
	// only and fail with errBusDown.
	down bool
}

var errBusDown = errors.New("fake bus: down")

func (b *fakeBus) isDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}

type fakeNode struct {
	*adapter.Memory
	bus   *fakeBus
	nsp   string
	local adapter.Local
	// mute makes the node a dead one: it takes no part in requests.
	mute bool
}

func newFakeBus() *fakeBus { return &fakeBus{nodes: map[string][]*fakeNode{}} }

func (b *fakeBus) factory(nsp string, local adapter.Local) (adapter.Adapter, error) {
	n := &fakeNode{Memory: adapter.NewMemory(local), bus: b, nsp: nsp, local: local}
	b.mu.Lock()
	b.nodes[nsp] = append(b.nodes[nsp], n)
	b.mu.Unlock()
	return n, nil
}

// peers are the other live nodes of n's namespace.
func (n *fakeNode) peers() []*fakeNode {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	var out []*fakeNode
	for _, p := range n.bus.nodes[n.nsp] {
		if p != n && !p.mute {
			out = append(out, p)
		}
	}
	return out
}

func (n *fakeNode) Broadcast(ctx context.Context, pkt *psio.Packet, opts adapter.BroadcastOptions) error {
	if err := n.Memory.Broadcast(ctx, pkt, opts); err != nil || opts.Flags.Local {
		return err
	}
	for _, p := range n.peers() {
		_ = p.Memory.Broadcast(ctx, pkt, opts)
	}
	return nil
}

func (n *fakeNode) BroadcastWithAck(ctx context.Context, pkt *psio.Packet, opts adapter.BroadcastOptions, expect func(int), ack adapter.AckFunc) error {
	if err := n.Memory.BroadcastWithAck(ctx, pkt, opts, expect, ack); err != nil || opts.Flags.Local {
		return err
	}
	if n.bus.isDown() {
		return errBusDown
	}
	for _, p := range n.peers() {
		go func() { _ = p.Memory.BroadcastWithAck(ctx, pkt, opts, expect, ack) }()
	}
	return nil
}

func (n *fakeNode) FetchSockets(ctx context.Context, opts adapter.BroadcastOptions) ([]adapter.SocketInfo, error) {
	out, err := n.Memory.FetchSockets(ctx, opts)
	for _, p := range n.peers() {
		more, _ := p.Memory.FetchSockets(ctx, opts)
		out = append(out, more...)
	}
	return out, err
}

func (n *fakeNode) AddSockets(ctx context.Context, opts adapter.BroadcastOptions, rooms []adapter.Room) error {
	for _, p := range append(n.peers(), n) {
		_ = p.Memory.AddSockets(ctx, opts, rooms)
	}
	return nil
}

func (n *fakeNode) DelSockets(ctx context.Context, opts adapter.BroadcastOptions, rooms []adapter.Room) error {
	for _, p := range append(n.peers(), n) {
		_ = p.Memory.DelSockets(ctx, opts, rooms)
	}
	return nil
}

func (n *fakeNode) DisconnectSockets(ctx context.Context, opts adapter.BroadcastOptions, close bool) error {
	for _, p := range append(n.peers(), n) {
		_ = p.Memory.DisconnectSockets(ctx, opts, close)
	}
	return nil
}

var errMissingAnswers = errors.New("fake bus: answers missing")

func (n *fakeNode) ServerSideEmit(ctx context.Context, event string, args psio.Args, wantAnswers bool) ([]psio.Args, error) {
	others, _ := n.ServerCount(ctx)
	others-- // dead nodes are counted, as PUBSUB NUMSUB counts them until their connection drops
	answers := make(chan psio.Args, others)
	for _, p := range n.peers() {
		go func() {
			if a, ok := p.local.ServerSideEmit(event, args); ok && wantAnswers {
				answers <- a
			}
		}()
	}
	if !wantAnswers {
		return nil, nil
	}
	var out []psio.Args
	for len(out) < others {
		select {
		case a := <-answers:
			out = append(out, a)
		case <-ctx.Done():
			return out, errMissingAnswers
		}
	}
	return out, nil
}

func (n *fakeNode) ServerCount(context.Context) (int, error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if n.bus.down {
		return 0, errBusDown
	}
	return len(n.bus.nodes[n.nsp]), nil
}

// cluster starts size servers on one fakeBus, each set up by setup(node index).
func cluster(t *testing.T, size int, setup func(i int, io *socketio.Server)) (*fakeBus, []*env) {
	bus := newFakeBus()
	envs := make([]*env, size)
	for i := range envs {
		envs[i] = newEnv(t, socketio.Config{Adapter: bus.factory}, func(io *socketio.Server) {
			if setup != nil {
				setup(i, io)
			}
		})
	}
	return bus, envs
}

// redisCluster starts size servers on the Redis adapter, one redis-server
// between them, and waits until each node is on the bus.
func redisCluster(t *testing.T, size int, setup func(i int, io *socketio.Server)) []*env {
	rs := redistest.Start(t)
	envs := make([]*env, size)
	for i := range envs {
		client := redis.NewClient(&redis.Options{Addr: rs.Addr})
		bus, err := redisadapter.New(redisadapter.Config{Client: client, RequestTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		// Registered before newEnv's: runs after the server closed.
		t.Cleanup(func() { _ = bus.Close(); _ = client.Close() })
		envs[i] = newEnv(t, socketio.Config{Adapter: bus.Factory()}, func(io *socketio.Server) {
			if setup != nil {
				setup(i, io)
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = bus.WaitUp(ctx)
		cancel()
		if err != nil {
			t.Fatalf("node %d not on the bus: %v", i, err)
		}
	}
	return envs
}

// clusterKinds are the clusters the API tests run on: the in-process fake
// (operations applied at once) and the Redis adapter (remote operations
// applied when the bus delivers them, so checks of remote state poll).
var clusterKinds = []struct {
	name  string
	start func(t *testing.T, size int, setup func(i int, io *socketio.Server)) []*env
}{
	{"fake", func(t *testing.T, size int, setup func(i int, io *socketio.Server)) []*env {
		_, envs := cluster(t, size, setup)
		return envs
	}},
	{"redis", redisCluster},
}

// eventually polls cond (bounded) until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clusterSetup gives every node the handlers the cluster tests use: "join"
// joins the rooms given and acks, "ok" acks (a round trip that orders the
// client's earlier packets), and "data" sets the socket's data.
func clusterSetup(_ int, io *socketio.Server) {
	n := io.Of("/")
	n.On("join", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		_ = e.Arg(0, &room)
		s.Join(room)
		_ = e.Ack()
	})
	n.On("data", func(s *socketio.Socket, e *socketio.Event) {
		_ = s.SetData(e.Args.Values[0])
		_ = e.Ack()
	})
	n.On("ok", func(s *socketio.Socket, e *socketio.Event) { _ = e.Ack() })
}

// call sends event with an ack id and waits for the ack, skipping other packets.
func call(t *testing.T, c *testutil.WSClient, id int, event string, args ...string) {
	t.Helper()
	payload := append([]string{`"` + event + `"`}, args...)
	_ = c.SendText("42" + itoa(id) + "[" + strings.Join(payload, ",") + "]")
	want := "43" + itoa(id) + "[]"
	for range 20 {
		if got := next(t, c); got == want {
			return
		}
	}
	t.Fatalf("no ack %s to %s", want, event)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestClusterFetchSocketsAndRemoteSocket(t *testing.T) {
	for _, kind := range clusterKinds {
		t.Run(kind.name, func(t *testing.T) { testFetchSocketsAndRemoteSocket(t, kind.start(t, 2, clusterSetup)) })
	}
}

func testFetchSocketsAndRemoteSocket(t *testing.T, nodes []*env) {
	a := nodes[0].dialQuery("4", "k=v&k=w&one=1")
	sid := connectV5(t, a, "/", `{"token":"t1"}`)
	call(t, a, 1, "join", `"room"`)
	call(t, a, 2, "data", `{"user":7}`)

	b := nodes[1].io.Of("/")
	ctx := t.Context()
	found, err := b.In("room").FetchSockets(ctx)
	if err != nil || len(found) != 1 {
		t.Fatalf("FetchSockets from the other node: %v, %v", found, err)
	}
	r := found[0]
	if r.ID != sid {
		t.Fatalf("id %q, want %q", r.ID, sid)
	}
	rooms := slices.Sorted(slices.Values(r.Rooms))
	if want := slices.Sorted(slices.Values([]string{sid, "room"})); !slices.Equal(rooms, want) {
		t.Fatalf("rooms %v, want %v", rooms, want)
	}
	checkJSONEqual(t, "data", r.Data, `{"user":7}`)
	checkJSONEqual(t, "auth", r.Handshake.Auth, `{"token":"t1"}`)
	if got := r.Handshake.Query["k"]; !slices.Equal(got, []string{"v", "w"}) || r.Handshake.Query.Get("one") != "1" {
		t.Fatalf("query %v", r.Handshake.Query)
	}
	if r.Handshake.Host == "" || r.Handshake.Headers.Get("Host") != r.Handshake.Host || r.Handshake.Time.IsZero() {
		t.Fatalf("handshake %+v", r.Handshake)
	}

	// Every operation of a remote socket reaches it on its own node.
	if err := r.Emit("hello", 1); err != nil {
		t.Fatal(err)
	}
	if got := next(t, a); got != `42["hello",1]` {
		t.Fatalf("RemoteSocket.Emit: %q", got)
	}
	local, _ := nodes[0].io.Of("/").Socket(sid)
	if err := r.Join(ctx, "extra"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RemoteSocket.Join", func() bool { return slices.Contains(local.Rooms(), "extra") })
	if err := r.Leave(ctx, "extra", "room"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RemoteSocket.Leave", func() bool { return slices.Equal(local.Rooms(), []string{sid}) })
	if err := r.Disconnect(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := next(t, a); got != "41" {
		t.Fatalf("RemoteSocket.Disconnect: client got %q, want 41", got)
	}
	eventually(t, "the disconnected socket gone", func() bool {
		found, err := b.FetchSockets(ctx)
		return err == nil && len(found) == 0
	})
}

// SocketsJoin, SocketsLeave and DisconnectSockets act on the targeted sockets of
// every node and on no others.
func TestClusterSocketOperations(t *testing.T) {
	for _, kind := range clusterKinds {
		t.Run(kind.name, func(t *testing.T) { testSocketOperations(t, kind.start(t, 3, clusterSetup)) })
	}
}

func testSocketOperations(t *testing.T, nodes []*env) {
	var clients []*testutil.WSClient
	var sids []string
	for i := range 3 {
		c := nodes[i].dial("4")
		sids = append(sids, connectV5(t, c, "/", ""))
		clients = append(clients, c)
	}
	call(t, clients[0], 1, "join", `"r"`)
	call(t, clients[2], 1, "join", `"r"`)
	ctx := t.Context()
	op := nodes[1].io.Of("/")
	roomsOf := func(i int) []string {
		s, ok := nodes[i].io.Of("/").Socket(sids[i])
		if !ok {
			return nil
		}
		return s.Rooms()
	}
	in := func(i int, rooms ...string) bool {
		for _, r := range rooms {
			if !slices.Contains(roomsOf(i), r) {
				return false
			}
		}
		return true
	}

	if err := op.In("r").SocketsJoin(ctx, "x", "y"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SocketsJoin on nodes 0 and 2", func() bool { return in(0, "x", "y") && in(2, "x", "y") })
	if err := op.Except("r").SocketsJoin(ctx, "z"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SocketsJoin except r", func() bool { return in(1, "z") })
	if err := op.SocketsLeave(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SocketsLeave everywhere", func() bool {
		return !slices.Contains(roomsOf(0), "x") && !slices.Contains(roomsOf(2), "x")
	})
	// The join of z was applied everywhere before the leave of x, which is
	// now applied everywhere: only node 1's socket is in z, and y was kept.
	if in(0, "z") || in(2, "z") || in(1, "x") || in(1, "y") || !in(0, "y") || !in(2, "y") {
		t.Fatalf("rooms %v / %v / %v", roomsOf(0), roomsOf(1), roomsOf(2))
	}
	// A broadcast to the joined room reaches both members, on their nodes.
	if err := op.To("y").Emit("to-y"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if got := next(t, clients[i]); got != `42["to-y"]` {
			t.Fatalf("client %d got %q", i, got)
		}
	}

	// DisconnectSockets(false): DISCONNECT packet, connection kept;
	// DisconnectSockets(true): DISCONNECT packet, then the connection closed.
	if err := op.In("y").Except(sids[2]).DisconnectSockets(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := next(t, clients[0]); got != "41" {
		t.Fatalf("client 0 got %q, want 41", got)
	}
	if err := op.In(sids[2]).DisconnectSockets(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := next(t, clients[2]); got != "41" {
		t.Fatalf("client 2 got %q, want 41 before the close", got)
	}
	clients[2].ReadClose(t)
	// Client 1 was never targeted and still answers.
	call(t, clients[1], 2, "ok")
	eventually(t, "only client 1 left", func() bool {
		left, err := op.FetchSockets(ctx)
		return err == nil && len(left) == 1 && left[0].ID == sids[1]
	})
}

func TestClusterServerSideEmit(t *testing.T) {
	for _, kind := range clusterKinds {
		t.Run(kind.name, func(t *testing.T) {
			received := make(chan string, 4)
			nodes := kind.start(t, 3, func(i int, io *socketio.Server) { serverSideSetup(i, io, received) })
			testServerSideEmit(t, nodes[0].io.Of("/"), received)
		})
	}
}

// serverSideSetup answers the server-side event "hello" with {"node": index},
// after reporting its first argument on received.
func serverSideSetup(i int, io *socketio.Server, received chan<- string) {
	io.Of("/").OnServerSideEmit("hello", func(args psio.Args) (psio.Args, bool) {
		var who string
		_ = args.Arg(0, &who)
		received <- who
		answer, _ := socketio.ToArgs(map[string]int{"node": i})
		return answer, true
	})
}

func testServerSideEmit(t *testing.T, nsp *socketio.Namespace, received chan string) {
	ctx := t.Context()
	if err := nsp.ServerSideEmit(ctx, "hello", "fire"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := <-received; got != "fire" {
			t.Fatalf("received %q", got)
		}
	}
	answers, err := nsp.ServerSideEmitWithAck(ctx, "hello", "ask")
	if err != nil || len(answers) != 2 {
		t.Fatalf("answers %v, %v", answers, err)
	}
	var from []int
	for _, a := range answers {
		var v struct{ Node int }
		if err := a.Arg(0, &v); err != nil {
			t.Fatalf("answer %+v: %v", a, err)
		}
		from = append(from, v.Node)
	}
	slices.Sort(from)
	if !slices.Equal(from, []int{1, 2}) {
		t.Fatalf("answers from nodes %v, want 1 and 2 (not the sender)", from)
	}
	for range 2 {
		<-received
	}
	if err := nsp.ServerSideEmit(ctx, "disconnect"); !errors.Is(err, socketio.ErrReservedEvent) {
		t.Fatalf("reserved event: %v", err)
	}
	// An event nobody handles is not answered: the wait ends at the bound.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if answers, err := nsp.ServerSideEmitWithAck(short, "nobody"); err == nil || len(answers) != 0 {
		t.Fatalf("unhandled event: %v, %v", answers, err)
	}
}

// A node that does not answer: the others' answers come back with the
// adapter's error once ctx ends.
func TestFakeClusterDeadNode(t *testing.T) {
	received := make(chan string, 4)
	bus, nodes := cluster(t, 3, func(i int, io *socketio.Server) { serverSideSetup(i, io, received) })
	bus.mu.Lock()
	bus.nodes["/"][2].mute = true
	bus.mu.Unlock()
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	answers, err := nodes[0].io.Of("/").ServerSideEmitWithAck(short, "hello", "ask")
	if !errors.Is(err, errMissingAnswers) || len(answers) != 1 {
		t.Fatalf("with a dead node: %v, %v", answers, err)
	}
	<-received
}

// A broadcast with acks waits for the clients of every node, as many as the
// nodes report, and returns at its bound with what arrived.
func TestClusterEmitWithAck(t *testing.T) {
	for _, kind := range clusterKinds {
		t.Run(kind.name, func(t *testing.T) {
			nodes := kind.start(t, 3, clusterSetup)
			var clients []*testutil.WSClient
			for i := range 3 {
				c := nodes[i].dial("4")
				connectV5(t, c, "/", "")
				call(t, c, 1, "join", `"r"`)
				clients = append(clients, c)
			}
			testEmitWithAck(t, nodes[0].io.Of("/"), clients)
		})
	}
}

type ackResult struct {
	res []socketio.AckResponse
	err error
}

// emitWithAck runs op.EmitWithAck("ask", "q") on a goroutine of its own.
func emitWithAck(op socketio.BroadcastOperator) chan ackResult {
	ch := make(chan ackResult, 1)
	go func() {
		res, err := op.EmitWithAck(context.Background(), "ask", "q")
		ch <- ackResult{res, err}
	}()
	return ch
}

// answerAsk reads the "ask" question on c and answers it with value.
func answerAsk(t *testing.T, c *testutil.WSClient, value string) {
	t.Helper()
	q := next(t, c)
	if !strings.HasPrefix(q, "42") || !strings.HasSuffix(q, `["ask","q"]`) {
		t.Fatalf("question %q", q)
	}
	_ = c.SendText("43" + q[2:strings.IndexByte(q, '[')] + "[" + value + "]")
}

func testEmitWithAck(t *testing.T, nsp *socketio.Namespace, clients []*testutil.WSClient) {
	done := emitWithAck(nsp.To("r").Timeout(10 * time.Second))
	for i, c := range clients {
		answerAsk(t, c, itoa(i))
	}
	r := <-done
	if r.err != nil || len(r.res) != 3 {
		t.Fatalf("all answered: %v, %v", r.res, r.err)
	}
	var got []int
	for _, a := range r.res {
		var n int
		_ = a.Args.Arg(0, &n)
		got = append(got, n)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("answers %v", got)
	}

	// One client does not answer: the others' answers and ErrAckTimeout.
	done = emitWithAck(nsp.To("r").Timeout(time.Second))
	answerAsk(t, clients[0], "0")
	answerAsk(t, clients[1], "1")
	_ = next(t, clients[2])
	if r := <-done; !errors.Is(r.err, socketio.ErrAckTimeout) || len(r.res) != 2 {
		t.Fatalf("one silent client: %v, %v", r.res, r.err)
	}

	// Local: only this node's clients are asked and counted.
	done = emitWithAck(nsp.Local().To("r").Timeout(10 * time.Second))
	answerAsk(t, clients[0], "0")
	if r := <-done; r.err != nil || len(r.res) != 1 {
		t.Fatalf("local: %v, %v", r.res, r.err)
	}

	if _, err := nsp.To("r").EmitWithAck(context.Background(), "ask"); !errors.Is(err, socketio.ErrAckUnbounded) {
		t.Fatalf("without a bound: %v", err)
	}
}

// The bus is down: this node's client answers, and the bus's error comes with
// it as soon as that answer is in, not at the bound.
func TestFakeClusterEmitWithAckBusDown(t *testing.T) {
	bus, nodes := cluster(t, 2, clusterSetup)
	c := nodes[0].dial("4")
	connectV5(t, c, "/", "")
	call(t, c, 1, "join", `"r"`)
	bus.mu.Lock()
	bus.down = true
	bus.mu.Unlock()
	done := emitWithAck(nodes[0].io.Of("/").To("r").Timeout(time.Hour))
	answerAsk(t, c, "0")
	if r := <-done; !errors.Is(r.err, errBusDown) || len(r.res) != 1 {
		t.Fatalf("bus down: %v, %v", r.res, r.err)
	}
}

// With the in-memory adapter the same API acts on the one node.
func TestSingleNodeClusterAPI(t *testing.T) {
	e := newEnv(t, socketio.Config{}, func(io *socketio.Server) { clusterSetup(0, io) })
	a, b := e.dial("4"), e.dial("4")
	sa := connectV5(t, a, "/", "")
	connectV5(t, b, "/", "")
	call(t, a, 1, "join", `"r"`)
	ctx := t.Context()
	nsp := e.io.Of("/")

	all, err := nsp.FetchSockets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("FetchSockets: %v, %v", all, err)
	}
	inR, _ := nsp.In("r").FetchSockets(ctx)
	if len(inR) != 1 || inR[0].ID != sa || inR[0].Data != nil {
		t.Fatalf("In(r).FetchSockets: %+v", inR)
	}
	if err := nsp.In("r").SocketsJoin(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := nsp.To("s").Emit("to-s"); err != nil {
		t.Fatal(err)
	}
	if got := next(t, a); got != `42["to-s"]` {
		t.Fatalf("to-s: %q", got)
	}
	if answers, err := nsp.ServerSideEmitWithAck(ctx, "x"); err != nil || answers != nil {
		t.Fatalf("ServerSideEmitWithAck on one node: %v, %v", answers, err)
	}
	if err := nsp.DisconnectSockets(ctx, true); err != nil {
		t.Fatal(err)
	}
	a.ReadClose(t)
	b.ReadClose(t)
}

func TestSocketData(t *testing.T) {
	e := newEnv(t, socketio.Config{}, nil)
	c := e.dial("4")
	sid := connectV5(t, c, "/", "")
	s, _ := e.io.Of("/").Socket(sid)
	if s.Data() != nil {
		t.Fatalf("data before SetData: %s", s.Data())
	}
	if err := s.SetData(json.RawMessage(`{"a":`)); err == nil {
		t.Fatal("invalid JSON accepted")
	}
	if err := s.SetData(json.RawMessage(`[1,2]`)); err != nil || string(s.Data()) != `[1,2]` {
		t.Fatalf("SetData: %v, %s", err, s.Data())
	}
	if err := s.SetData(nil); err != nil || s.Data() != nil {
		t.Fatalf("SetData(nil): %v, %s", err, s.Data())
	}
}

func checkJSONEqual(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s: %v", what, got, err)
	}
	_ = json.Unmarshal([]byte(want), &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}
