package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/internal/clientip"
	psocketio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// Version is the drupal-node.js version socketd reports in health/check.
// Drupal refuses to talk to a server whose major version differs from 1 or
// that is older than 1.0.8 (D8) / 1.0.9 (D7), so this is the version socketd
// is a replacement for, not socketd's own.
const Version = "1.0.13"

// tokenLeaveGrace is how long a content token channel waits before telling
// its members that a user left (notifyOnDisconnect, spec §4.4): a page reload
// does not announce a departure.
const tokenLeaveGrace = 2 * time.Second

// Options are what New needs besides the configuration. The zero value works.
type Options struct {
	// Logger receives the bridge's log; nil discards it.
	Logger *slog.Logger
	// HTTPClient calls Drupal; nil means one built from Config (backend.strictSSL,
	// no redirects). Calls are bounded by Config.AuthTimeout either way.
	HTTPClient *http.Client
	// Extensions are the Go extensions (Extension), in order.
	Extensions []Extension
	// Store keeps Drupal's data (auth cache, channel registry, presence,
	// content tokens). Nil means a store.Memory: one node, as drupal-node.js.
	// A shared store (Redis) lets several nodes serve one site. The bridge
	// starts it, and closes it in Close.
	Store store.Store
	// Now replaces time.Now (tests).
	Now func() time.Time

	clock store.Clock // tests: timers too
}

// Bridge connects Drupal to the Socket.IO server: it authenticates sockets
// against Drupal, puts them in the rooms of their Drupal audiences (rooms.go),
// and serves the HTTP API Drupal calls (Routes).
//
// Who is in which audience is the adapter's alone: every Drupal operation
// (publish, kick, logout, channel changes, presence notifications) is an
// operation on rooms, so with a cluster adapter it reaches every node and its
// counts are the cluster's. Drupal's own data is the store's. The bridge keeps
// only where each local socket is in the authentication flow.
type Bridge struct {
	cfg       nodejsconfig.Config
	log       *slog.Logger
	io        *socketio.Server
	nsp       *socketio.Namespace
	backend   *Backend
	store     store.Store
	clock     store.Clock
	exts      []Extension
	authCount authCounters
	bodyLimit int64
	// trusted are the proxies in front (cfg.TrustedProxies): the API's log
	// lines name the caller they forwarded for.
	trusted clientip.Trusted
	debug   atomic.Bool
	// inline: the store answers from memory, so socket events call it on
	// their reading side instead of on a goroutine of their own.
	inline bool
	// storeWarned is when storeFailed last warned (unix nanoseconds).
	storeWarned atomic.Int64
	outage      outage // Drupal's availability, for the log
	keyLog      keyLog // API calls refused for their service key, for the log

	ctx    context.Context // cancelled by Close; parent of backend calls
	cancel context.CancelFunc
	wg     sync.WaitGroup // background calls
	// stopping: Shutdown closed the store; its errors are not news.
	stopping  atomic.Bool
	storeOnce sync.Once
	// later counts the count-offs of sockets a drain closed, held back
	// (forgetLater) until dropLater is closed.
	later     sync.WaitGroup
	dropLater chan struct{}
	dropOnce  sync.Once

	mu          sync.Mutex
	closed      bool
	sockets     map[string]*conn // every socket of "/" on this node, by id
	tokenTimers map[tokenKey]*graceTimer
}

// connState is where a socket is in the authentication flow.
type connState uint8

const (
	statePending        connState = iota // connected, not authenticated
	stateAuthenticating                  // waiting for Drupal or the store
	stateAuthenticated
	stateGone // disconnected
)

// conn is the bridge's record of one local socket. There is one per
// connected socket, so its size counts: 32 bytes.
type conn struct {
	s *socketio.Socket
	// auth is the authentication applied (set with stateAuthenticated): the
	// cache's at the time, shared; the socket keeps it when the cache entry
	// expires or is replaced.
	auth *store.Auth
	// cancel stops what the socket waits on: while pending, the handshake
	// deadline (the socket must send authenticate within HandshakeTimeout);
	// while authenticating, the call to Drupal.
	cancel func()
	state  connState
}

// id is the socket id.
func (c *conn) id() string { return c.s.ID() }

// New builds the bridge and registers its handlers on io's "/" namespace. cfg
// gets its defaults applied here; it must be valid (Config.Validate).
func New(cfg nodejsconfig.Config, sio *socketio.Server, opts Options) (*Bridge, error) {
	if sio == nil {
		return nil, errors.New("drupal: nil socketio.Server")
	}
	cfg = cfg.WithDefaults()
	limit, err := cfg.BodyLimit()
	if err != nil {
		return nil, fmt.Errorf("drupal: %w", err)
	}
	trusted, err := clientip.Parse(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("drupal: trustedProxies: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clk := opts.clock
	if clk == nil {
		clk = realClock{now: opts.Now}
	}
	st := opts.Store
	if st == nil {
		st = store.NewMemory(store.MemoryConfig{Clock: clk})
	}
	_, inline := st.(*store.Memory)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{
		cfg:         cfg,
		log:         log,
		io:          sio,
		nsp:         sio.Of("/"),
		backend:     NewBackend(cfg, opts.HTTPClient),
		store:       st,
		clock:       clk,
		exts:        append([]Extension(nil), opts.Extensions...),
		bodyLimit:   limit,
		trusted:     trusted,
		inline:      inline,
		ctx:         ctx,
		cancel:      cancel,
		dropLater:   make(chan struct{}),
		sockets:     make(map[string]*conn),
		tokenTimers: make(map[tokenKey]*graceTimer),
	}
	b.debug.Store(cfg.Debug)
	if err := st.Start(storeHandler{b}); err != nil {
		cancel()
		return nil, fmt.Errorf("drupal: store: %w", err)
	}
	for _, ext := range b.exts {
		if err := ext.Setup(b); err != nil {
			cancel()
			_ = st.Close()
			return nil, fmt.Errorf("drupal: extension %T: %w", ext, err)
		}
	}
	b.nsp.OnConnection(b.onConnection)
	b.nsp.OnDisconnecting(b.onDisconnecting)
	b.nsp.OnRecover(b.onRecover)
	b.nsp.On("authenticate", b.onAuthenticate)
	b.nsp.On("join-token-channel", b.onJoinTokenChannel)
	b.nsp.On("message", b.onClientMessage)
	return b, nil
}

// Close stops the bridge's timers, waits for its calls to Drupal and the
// store to end (they are cancelled) and closes the store. Sockets are left to
// the socketio.Server.
func (b *Bridge) Close() {
	if !b.markClosed() {
		return
	}
	b.dropLaterCountOffs()
	b.later.Wait()
	b.cancel()
	b.wg.Wait()
	b.closeStore()
	b.closeIdle()
}

// Shutdown is Close at the end of a drain, once the sockets are gone (the
// socketio.Server drained and closed). The count-offs of the sockets the
// drain closed are held back by reconnectAllowance (forgetLater): Shutdown
// waits for them, so that their users' grace periods start as late as
// intended. Then the store is closed, before the bridge stops taking work,
// so that no presence decision is dropped (with a shared store the node
// leaves it, and its users with no socket elsewhere go offline after the
// grace period, decided by another node). Then the calls under way (a
// userOffline notification to Drupal) are given until ctx ends to finish
// before they are cancelled.
func (b *Bridge) Shutdown(ctx context.Context) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return
	}
	if !waitGroupOrDone(ctx, &b.later) {
		b.log.Warn("drupal: count-offs of drained sockets still held back at the drain's deadline are left to the store's leaving")
		b.dropLaterCountOffs()
		b.later.Wait()
	}
	b.stopping.Store(true)
	b.closeStore()
	if !b.markClosed() {
		return
	}
	if !waitGroupOrDone(ctx, &b.wg) {
		b.log.Warn("drupal: calls to Drupal or the store still under way at the drain's deadline are cancelled")
	}
	b.dropLaterCountOffs()
	b.cancel()
	b.wg.Wait()
	b.closeIdle()
}

// waitGroupOrDone waits for wg, or for ctx to end (false). Nothing may Add to
// wg from zero meanwhile.
func waitGroupOrDone(ctx context.Context, wg *sync.WaitGroup) bool {
	idle := make(chan struct{})
	go func() {
		wg.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		select {
		case <-idle: // both ready: nothing was left
			return true
		default:
			return false
		}
	}
}

// markClosed stops the bridge taking new work: its timers, its calls to
// start. It reports false if the bridge was closed already.
func (b *Bridge) markClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.closed = true
	for _, t := range b.tokenTimers {
		t.t.Stop()
	}
	for _, c := range b.sockets {
		if c.cancel != nil {
			c.cancel()
		}
	}
	return true
}

func (b *Bridge) closeStore() {
	b.storeOnce.Do(func() {
		if err := b.store.Close(); err != nil {
			b.log.Warn("drupal: closing the store", slog.String("error", err.Error()))
		}
	})
}

// closeIdle lets Drupal's server free its keep-alive workers once no call is
// left (only for the client the bridge built, not a caller's).
func (b *Bridge) closeIdle() {
	if b.backend.rt != nil {
		b.backend.rt.CloseIdleConnections()
	}
}

// Backend is the client of Drupal's message endpoint, for extensions that send
// their own message types (sendMessageToBackend).
func (b *Bridge) Backend() *Backend { return b.backend }

// Namespace is the "/" namespace the bridge serves.
func (b *Bridge) Namespace() *socketio.Namespace { return b.nsp }

// Debug reports whether debug logging is on (config debug, debug/toggle).
func (b *Bridge) Debug() bool { return b.debug.Load() }

// logDebug logs verbose details: at Info when debug is on (drupal-node.js's
// debug mode printed them), at Debug otherwise.
func (b *Bridge) logDebug(msg string, args ...any) {
	if b.debug.Load() {
		b.log.Info(msg, args...)
		return
	}
	b.log.Debug(msg, args...)
}

// goBackground runs f on its own goroutine unless the bridge is closed; Close
// waits for it. f gets a context cancelled by Close.
func (b *Bridge) goBackground(f func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.goBackgroundLocked(f)
}

func (b *Bridge) goBackgroundLocked(f func(ctx context.Context)) bool {
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f(b.ctx)
	}()
	return true
}

// notifyBackend posts msg to Drupal in the background, logging failures
// (userOnline, userOffline, forwarded client messages).
func (b *Bridge) notifyBackend(msg any) {
	b.goBackground(func(ctx context.Context) { b.postBackend(ctx, msg) })
}

// postBackend posts msg to Drupal and waits for the answer, logging a failure
// (not one caused by the bridge closing).
func (b *Bridge) postBackend(ctx context.Context, msg any) {
	_, err := b.backend.Post(ctx, msg)
	if err != nil && ctx.Err() != nil {
		return
	}
	b.noteBackendResult(err)
}

// onConnection registers a new socket of "/" (pre-auth: it gets nothing
// published until it authenticates).
func (b *Bridge) onConnection(s *socketio.Socket) {
	c := &conn{s: s}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.sockets[s.ID()] = c
	// Drupal's page sends authenticate as soon as it is connected. A socket
	// that has not by the deadline is no Drupal page: it would hold its
	// connection and receive nothing.
	t := b.clock.AfterFunc(time.Duration(b.cfg.HandshakeTimeout), func() { b.handshakeExpired(c) })
	c.cancel = func() { t.Stop() }
	b.mu.Unlock()
	b.logDebug("drupal: client connected", slog.String("sid", s.ID()), slog.Bool("recovered", s.Recovered()))
	for _, ext := range b.exts {
		ext.OnConnect(s)
	}
	if s.Recovered() {
		b.resume(c)
	}
}

// handshakeExpired closes the connection of a socket that has not sent
// authenticate within HandshakeTimeout. Closing the Engine.IO session (not
// a Socket.IO disconnect) lets a real client reconnect and try again, as
// socket.io's own connectTimeout does.
func (b *Bridge) handshakeExpired(c *conn) {
	b.mu.Lock()
	pending := c.state == statePending && b.sockets[c.id()] == c && !b.closed
	if pending {
		c.cancel = nil
	}
	b.mu.Unlock()
	if pending {
		b.logDebug("drupal: no authenticate within handshakeTimeout; closing the connection",
			slog.String("sid", c.id()), slog.String("client", c.s.Session().ClientIP().String()))
		c.s.Session().CloseWithReason(engine.ReasonHandshakeTimeout)
	}
}

// onDisconnecting forgets a socket: presence and content token channels
// (spec §4.4). It runs while the socket is still in its rooms; the adapter
// takes it out of them after.
func (b *Bridge) onDisconnecting(s *socketio.Socket, reason socketio.DisconnectReason) {
	b.mu.Lock()
	c := b.sockets[s.ID()]
	if c == nil || c.s != s {
		b.mu.Unlock()
		return
	}
	delete(b.sockets, s.ID())
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	authed := c.state == stateAuthenticated
	c.state = stateGone
	b.mu.Unlock()
	if authed {
		b.authCount.sockets.Add(-1)
		// The content token channels are read from the rooms now, while the
		// socket is still in them.
		var contents []string
		for _, r := range s.Rooms() {
			if name, ok := strings.CutPrefix(r, ContentRoomPrefix); ok {
				contents = append(contents, name)
			}
		}
		a, id := c.auth, s.ID()
		forget := func(ctx context.Context) { b.forgetAuthenticated(ctx, id, a, contents) }
		if reason == socketio.ReasonServerShuttingDown && !b.inline {
			b.forgetLater(forget)
		} else {
			b.storeCall(forget)
		}
	}
	b.logDebug("drupal: client disconnected", slog.String("sid", s.ID()), slog.String("reason", string(reason)))
	for _, ext := range b.exts {
		ext.OnDisconnect(s)
	}
}

// reconnectAllowance is how much later than its close a socket closed by a
// drain (the node is stopping, its page was told to reconnect) is counted
// off a shared store: the longest first reconnection delay of
// socket.io-client with its defaults (reconnectionDelay 1 s ×
// (1 + randomizationFactor 0.5), 2.x and 4.x alike), plus 1.5 s for the
// page's handshake and authentication on a node busy taking the drained
// node's clients (TestDrain, 1,000 clients on a loaded 2-core machine: up to
// 4.1 s from close to authenticated again; with 1.5 s alone 55 users were
// reported offline and online again). So its user's grace period starts
// about when the page is back on another node, not when it left, and a page
// back within the grace after that is never reported offline. Alone
// (store.Memory), a node has nowhere to send its clients, and counts them
// off at once.
const reconnectAllowance = 3 * time.Second

// forgetLater runs forget (a count-off) reconnectAllowance from now, on a
// goroutine the drain waits for (Shutdown); Close, or Shutdown past its
// context, drops it: the store's leaving counts off what is left.
func (b *Bridge) forgetLater(forget func(ctx context.Context)) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.later.Add(1)
	b.mu.Unlock()
	due := make(chan struct{})
	t := b.clock.AfterFunc(reconnectAllowance, func() { close(due) })
	go func() {
		defer b.later.Done()
		select {
		case <-due:
			forget(b.ctx)
		case <-b.dropLater:
			t.Stop()
		}
	}()
}

// dropLaterCountOffs ends the waits of forgetLater.
func (b *Bridge) dropLaterCountOffs() {
	b.dropOnce.Do(func() { close(b.dropLater) })
}

// forgetAuthenticated tells the store an authenticated socket left (its user
// may go offline after the grace period) and takes it out of the members of
// its content token channels, starting their notifyOnDisconnect timers.
func (b *Bridge) forgetAuthenticated(ctx context.Context, id string, a *store.Auth, contents []string) {
	if err := b.store.Disconnected(ctx, a); err != nil {
		b.storeFailed("disconnected", err)
	}
	for _, name := range contents {
		notify, err := b.store.LeaveContentChannel(ctx, name, id)
		if err != nil {
			b.storeFailed("leave content channel", err)
			continue
		}
		if notify {
			b.scheduleTokenLeave(tokenKeyOf(name, a), id)
		}
	}
}

// storeCall runs f with the bridge's context: at once when the store answers
// from memory, else on a goroutine of its own, since a shared store's calls
// cross the network and a socket's reading side must not wait for them.
func (b *Bridge) storeCall(f func(ctx context.Context)) {
	if b.inline {
		f(b.ctx)
		return
	}
	b.goBackground(f)
}

// storeWarnEvery bounds the warnings about a store that does not answer: while
// Redis is away every call fails.
const storeWarnEvery = 10 * time.Second

// storeFailed logs a store call that failed; the bridge goes on with what it
// knows locally. One warning per storeWarnEvery, the others at debug level.
func (b *Bridge) storeFailed(op string, err error) {
	if b.ctx.Err() != nil || b.stopping.Load() {
		return // closing
	}
	level := slog.LevelDebug
	now := time.Now().UnixNano()
	if last := b.storeWarned.Load(); now-last >= int64(storeWarnEvery) && b.storeWarned.CompareAndSwap(last, now) {
		level = slog.LevelWarn
	}
	b.log.Log(context.Background(), level, "drupal: store unavailable, serving with local reach", slog.String("op", op), slog.String("error", err.Error()))
}

// disconnect ends a socket's membership of "/" from the server side, with the
// reason logged. The client is told (io server disconnect) and, as with
// drupal-node.js, does not reconnect by itself. It must not be called with b.mu
// held (the socket's disconnect hooks take it).
func (b *Bridge) disconnect(s *socketio.Socket, level slog.Level, reason string, args ...any) {
	b.log.Log(context.Background(), level, "drupal: disconnecting client: "+reason, append([]any{slog.String("sid", s.ID())}, args...)...)
	s.Disconnect(false)
}

// push sends one message event carrying msg (a JSON object) to a socket.
func push(s *socketio.Socket, msg json.RawMessage) {
	_ = s.EmitArgs("message", messageArgs(msg))
}

// messageArgs are the arguments of a message event carrying msg, a JSON value
// the bridge built or validated.
func messageArgs(msg json.RawMessage) psocketio.Args {
	var a psocketio.Args
	a.AddJSON(msg)
	return a
}

// emit sends msg to the sockets op targets, in the cluster's order (Ordered:
// Drupal's calls, made one after another through any node, reach each socket
// in that order), and returns how many sockets it was written to, on every
// node that reported before ctx ended.
func (b *Bridge) emit(ctx context.Context, op socketio.BroadcastOperator, msg json.RawMessage) int {
	n, err := op.Ordered().EmitCount(ctx, "message", messageArgs(msg))
	if err != nil && ctx.Err() == nil {
		b.log.Warn("drupal: broadcast failed", slog.String("error", err.Error()))
	}
	return n
}

// except is op without the socket clientSocketID names, if it can only name
// a socket.
func except(op socketio.BroadcastOperator, clientSocketID string) socketio.BroadcastOperator {
	if socketRoom(clientSocketID) {
		return op.Except(clientSocketID)
	}
	return op
}

// storeHandler receives the store's presence decisions.
type storeHandler struct{ b *Bridge }

// UserOffline implements store.Handler: the user's presence list is told,
// then Drupal (userOffline).
func (h storeHandler) UserOffline(uid int64, list []int64) {
	b := h.b
	b.logDebug("drupal: user offline", slog.Int64("uid", uid))
	b.notifyPresence(b.ctx, uid, list, "offline")
	b.notifyBackend(json.RawMessage(`{"uid":` + strconv.FormatInt(uid, 10) + `,"messageType":"userOffline"}`))
}

// UserOnline implements store.Handler (a user announced late by a shared
// store): as for a user who authenticated.
func (h storeHandler) UserOnline(uid int64, list []int64) {
	b := h.b
	b.logDebug("drupal: user online", slog.Int64("uid", uid))
	b.notifyPresence(b.ctx, uid, list, "online")
	b.notifyBackend(json.RawMessage(`{"uid":` + strconv.FormatInt(uid, 10) + `,"messageType":"userOnline"}`))
}
