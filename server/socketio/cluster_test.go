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

	"github.com/socketd/socketd/internal/testutil"
	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
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
	_, nodes := cluster(t, 2, clusterSetup)
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
	if err := r.Join(ctx, "extra"); err != nil {
		t.Fatal(err)
	}
	local, _ := nodes[0].io.Of("/").Socket(sid)
	if !slices.Contains(local.Rooms(), "extra") {
		t.Fatalf("after RemoteSocket.Join: rooms %v", local.Rooms())
	}
	if err := r.Leave(ctx, "extra", "room"); err != nil {
		t.Fatal(err)
	}
	if got := local.Rooms(); !slices.Equal(got, []string{sid}) {
		t.Fatalf("after RemoteSocket.Leave: rooms %v", got)
	}
	if err := r.Disconnect(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := next(t, a); got != "41" {
		t.Fatalf("RemoteSocket.Disconnect: client got %q, want 41", got)
	}
	if found, err := b.FetchSockets(ctx); err != nil || len(found) != 0 {
		t.Fatalf("after the disconnect: %v, %v", found, err)
	}
}

// SocketsJoin, SocketsLeave and DisconnectSockets act on the targeted sockets of
// every node and on no others.
func TestClusterSocketOperations(t *testing.T) {
	_, nodes := cluster(t, 3, clusterSetup)
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

	if err := op.In("r").SocketsJoin(ctx, "x", "y"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if got := slices.Contains(roomsOf(i), "x") && slices.Contains(roomsOf(i), "y"); got != want {
			t.Fatalf("node %d: in x and y = %v, want %v (rooms %v)", i, got, want, roomsOf(i))
		}
	}
	if err := op.Except("r").SocketsJoin(ctx, "z"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(roomsOf(1), "z") || slices.Contains(roomsOf(0), "z") {
		t.Fatalf("Except: rooms %v / %v", roomsOf(0), roomsOf(1))
	}
	if err := op.SocketsLeave(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if slices.Contains(roomsOf(i), "x") {
			t.Fatalf("node %d still in x after SocketsLeave: %v", i, roomsOf(i))
		}
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
	// DisconnectSockets(true): connection closed.
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
	if left, _ := op.FetchSockets(ctx); len(left) != 1 || left[0].ID != sids[1] {
		t.Fatalf("sockets left %v", left)
	}
}

func TestClusterServerSideEmit(t *testing.T) {
	received := make(chan string, 4)
	bus, nodes := cluster(t, 3, func(i int, io *socketio.Server) {
		io.Of("/").OnServerSideEmit("hello", func(args psio.Args) (psio.Args, bool) {
			var who string
			_ = args.Arg(0, &who)
			received <- who
			answer, _ := socketio.ToArgs("node", i, []byte{byte(i)})
			return answer, true
		})
	})
	ctx := t.Context()
	nsp := nodes[0].io.Of("/")

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
		var n int
		var bin []byte
		if err := a.Arg(1, &n); err != nil || a.Arg(2, &bin) != nil || !slices.Equal(bin, []byte{byte(n)}) {
			t.Fatalf("answer %+v", a)
		}
		from = append(from, n)
	}
	slices.Sort(from)
	if !slices.Equal(from, []int{1, 2}) {
		t.Fatalf("answers from nodes %v, want 1 and 2 (not the sender)", from)
	}
	for range 2 {
		<-received
	}

	// A node that does not answer: the others' answers come back with the
	// adapter's error once ctx ends.
	bus.mu.Lock()
	bus.nodes["/"][2].mute = true
	bus.mu.Unlock()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	answers, err = nsp.ServerSideEmitWithAck(short, "hello", "ask")
	if !errors.Is(err, errMissingAnswers) || len(answers) != 1 {
		t.Fatalf("with a dead node: %v, %v", answers, err)
	}
	<-received

	if err := nsp.ServerSideEmit(ctx, "disconnect"); !errors.Is(err, socketio.ErrReservedEvent) {
		t.Fatalf("reserved event: %v", err)
	}
	// An event nobody handles is not answered.
	if answers, err := nsp.ServerSideEmitWithAck(short, "nobody"); err == nil || len(answers) != 0 {
		t.Fatalf("unhandled event: %v, %v", answers, err)
	}
}

// A broadcast with acks waits for the clients of every node, as many as the
// nodes report, and returns at its bound with what arrived.
func TestClusterEmitWithAck(t *testing.T) {
	bus, nodes := cluster(t, 3, clusterSetup)
	var clients []*testutil.WSClient
	for i := range 3 {
		c := nodes[i].dial("4")
		connectV5(t, c, "/", "")
		call(t, c, 1, "join", `"r"`)
		clients = append(clients, c)
	}
	nsp := nodes[0].io.Of("/")
	type result struct {
		res []socketio.AckResponse
		err error
	}
	emit := func(op socketio.BroadcastOperator) chan result {
		ch := make(chan result, 1)
		go func() {
			res, err := op.EmitWithAck(context.Background(), "ask", "q")
			ch <- result{res, err}
		}()
		return ch
	}
	answer := func(c *testutil.WSClient, value string) {
		q := next(t, c)
		if !strings.HasPrefix(q, "42") || !strings.HasSuffix(q, `["ask","q"]`) {
			t.Fatalf("question %q", q)
		}
		_ = c.SendText("43" + q[2:strings.IndexByte(q, '[')] + "[" + value + "]")
	}

	done := emit(nsp.To("r").Timeout(10 * time.Second))
	for i, c := range clients {
		answer(c, itoa(i))
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
	done = emit(nsp.To("r").Timeout(200 * time.Millisecond))
	answer(clients[0], "0")
	answer(clients[1], "1")
	_ = next(t, clients[2])
	if r := <-done; !errors.Is(r.err, socketio.ErrAckTimeout) || len(r.res) != 2 {
		t.Fatalf("one silent client: %v, %v", r.res, r.err)
	}

	// Local: only this node's clients are asked and counted.
	done = emit(nsp.Local().To("r").Timeout(10 * time.Second))
	answer(clients[0], "0")
	if r := <-done; r.err != nil || len(r.res) != 1 {
		t.Fatalf("local: %v, %v", r.res, r.err)
	}

	if _, err := nsp.To("r").EmitWithAck(context.Background(), "ask"); !errors.Is(err, socketio.ErrAckUnbounded) {
		t.Fatalf("without a bound: %v", err)
	}

	// The bus is down: this node's client answers, and the bus's error comes
	// with it as soon as that answer is in, not at the bound.
	bus.mu.Lock()
	bus.down = true
	bus.mu.Unlock()
	done = emit(nsp.To("r").Timeout(time.Hour))
	answer(clients[0], "0")
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
