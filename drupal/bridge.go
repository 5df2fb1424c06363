package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketd/socketd/server/socketio"
)

// Version is the drupal-node.js version socketd reports in health/check.
// Drupal refuses to talk to a server whose major version differs from 1 or
// that is older than 1.0.8 (D8) / 1.0.9 (D7), so this is the version socketd
// is a replacement for, not socketd's own.
const Version = "1.0.13"

// Timings of drupal-node.js 1.0.13.
const (
	// offlineGrace is how long a user with no socket left stays online (spec
	// §4.4): a page reload does not flap presence.
	offlineGrace = 2 * time.Second
	// tokenLeaveGrace is the same for a content token channel.
	tokenLeaveGrace = 2 * time.Second
	// sweepInterval is how often expired auth cache entries and unused
	// content tokens are dropped.
	sweepInterval = time.Minute
)

// Rooms of the "/" namespace. Socket ids never contain ':', so these cannot
// collide with a socket's own room.
const (
	roomAuthenticated = "drupal:authenticated"
	channelPrefix     = "channel:"
	tokenPrefix       = "token:"
)

// Options are what New needs besides the configuration. The zero value works.
type Options struct {
	// Logger receives the bridge's log; nil discards it.
	Logger *slog.Logger
	// HTTPClient calls Drupal; nil means one built from Config (backend.strictSSL,
	// no redirects). Calls are bounded by Config.AuthTimeout either way.
	HTTPClient *http.Client
	// Extensions are the Go extensions (Extension), in order.
	Extensions []Extension
	// Now replaces time.Now (tests).
	Now func() time.Time

	clock clock // tests: timers too
}

// Bridge connects Drupal to the Socket.IO server: it authenticates sockets
// against Drupal, maps Drupal channels, users and content tokens onto rooms of
// the "/" namespace, and serves the HTTP API Drupal calls (Routes).
//
// Its state (who is authenticated, channels, presence, tokens) lives in this
// process, as drupal-node.js kept it in its Node process; with a cluster
// adapter the messages reach other nodes' sockets but counts are local.
type Bridge struct {
	cfg       Config
	log       *slog.Logger
	io        *socketio.Server
	nsp       *socketio.Namespace
	backend   *Backend
	clock     clock
	exts      []Extension
	authCount authCounters
	bodyLimit int64
	debug     atomic.Bool

	epoch  time.Time       // New's time; auth cache expiries count from it
	ctx    context.Context // cancelled by Close; parent of backend calls
	cancel context.CancelFunc
	wg     sync.WaitGroup // background backend calls

	mu            sync.Mutex
	closed        bool
	sockets       map[string]*conn // every socket of "/", by id
	authed        int              // authenticated sockets
	channels      map[string]*channel
	anon          connList              // authenticated sockets of uid 0; the others' are in online
	online        map[int64]*presence   // online users (uid != 0), with their sockets
	cache         map[string]*authEntry // by auth token
	tokenChannels map[string]*tokenChannel
	tokenTimers   map[tokenKey]*graceTimer
	sweeper       stopper
}

// connState is where a socket is in the authentication flow.
type connState uint8

const (
	statePending        connState = iota // connected, not authenticated
	stateAuthenticating                  // waiting for Drupal
	stateAuthenticated
	stateGone // disconnected
)

// conn is the bridge's record of one socket. There is one per connected
// socket, so its size counts: 64 bytes, a size class the fields fill (the id
// is the socket's, the token and reply the auth cache entry's, the small
// fields share the last word).
type conn struct {
	s   *socketio.Socket
	uid int64
	// auth is the authentication applied (auth token and reply), the cache
	// entry's at the time; the socket keeps it when the entry expires or is
	// replaced.
	auth       *authEntry
	rooms      roomSet            // channels and token channels
	cancelAuth context.CancelFunc // while authenticating: stops the call to Drupal
	idx        int32              // position in its user's connList
	state      connState
}

// id is the socket id.
func (c *conn) id() string { return c.s.ID() }

// channel is a Drupal channel: a room plus the sockets the bridge put in it.
// It exists until channel/remove, even when empty (spec §9.10).
type channel struct {
	// members are the sockets, in no order; each knows its position (the
	// idx of its roomRef), so leaving is O(1) by swapping with the last. A
	// map cost about 45 bytes per member in a channel of ten and 150 in a
	// channel of one (a user's own channel, nodejs_user_<uid>), a slice 8
	// to 16. Whether a socket is a member is in its roomSet.
	members []*conn
	// room is channelPrefix + the name, built once: members join it, list it
	// in conn.rooms and the adapter keys its room set by it, all one string.
	room           string
	clientWritable bool
}

func newChannel(name string, clientWritable bool) *channel {
	return &channel{room: channelPrefix + name, clientWritable: clientWritable}
}

// add makes c a member unless it is one. It reports whether it was added.
func (ch *channel) add(c *conn) bool {
	if !c.rooms.add(ch.room, int32(len(ch.members))) {
		return false
	}
	ch.members = append(ch.members, c)
	return true
}

// remove takes c, whose roomSet entry for ch is r, out of the members (not
// out of its roomSet).
func (ch *channel) remove(c *conn, r roomRef) {
	i := int(r.idx)
	if i >= len(ch.members) || ch.members[i] != c {
		return // cannot happen: conn.rooms and members agree
	}
	last := len(ch.members) - 1
	if moved := ch.members[last]; moved != c {
		ch.members[i] = moved
		if r := moved.rooms.find(ch.room); r != nil {
			r.idx = int32(i)
		}
	}
	ch.members[last] = nil
	ch.members = ch.members[:last]
	if last == 0 {
		ch.members = nil
	}
}

// authEntry is a cached successful authentication: Drupal's reply as it came
// (AuthReply.Raw), parsed again when used. The cache holds an entry per auth
// token for an hour by default, usually one per socket; keeping the parsed
// AuthReply too cost each one about 150 bytes (the struct, its lists and
// strings), to spare a parse of a few hundred bytes of JSON on a reconnect
// that the cache already spares a call to Drupal. Entries are shared with
// the sockets (conn.auth) and never changed: an edit replaces them.
type authEntry struct {
	token string          // the client's auth token, the cache key
	raw   json.RawMessage // pushed in clientAuthenticated
	uid   int64
	// expires is a time since Bridge.epoch, 8 bytes where a time.Time takes
	// 24; monotonic like a time.Time's comparison.
	expires time.Duration
}

// New builds the bridge and registers its handlers on io's "/" namespace. cfg
// gets its defaults applied here; it must be valid (Config.Validate).
func New(cfg Config, sio *socketio.Server, opts Options) (*Bridge, error) {
	if sio == nil {
		return nil, errors.New("drupal: nil socketio.Server")
	}
	cfg = cfg.WithDefaults()
	limit, err := cfg.BodyLimit()
	if err != nil {
		return nil, fmt.Errorf("drupal: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clk := opts.clock
	if clk == nil {
		clk = realClock{now: opts.Now}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{
		cfg:           cfg,
		log:           log,
		io:            sio,
		nsp:           sio.Of("/"),
		backend:       NewBackend(cfg, opts.HTTPClient),
		clock:         clk,
		exts:          append([]Extension(nil), opts.Extensions...),
		bodyLimit:     limit,
		epoch:         clk.Now(),
		ctx:           ctx,
		cancel:        cancel,
		sockets:       make(map[string]*conn),
		channels:      make(map[string]*channel),
		online:        make(map[int64]*presence),
		cache:         make(map[string]*authEntry),
		tokenChannels: make(map[string]*tokenChannel),
		tokenTimers:   make(map[tokenKey]*graceTimer),
	}
	b.debug.Store(cfg.Debug)
	for _, ext := range b.exts {
		if err := ext.Setup(b); err != nil {
			cancel()
			return nil, fmt.Errorf("drupal: extension %T: %w", ext, err)
		}
	}
	b.mu.Lock()
	b.sweeper = b.clock.AfterFunc(sweepInterval, b.sweepTick)
	b.mu.Unlock()
	b.nsp.OnConnection(b.onConnection)
	b.nsp.OnDisconnecting(b.onDisconnecting)
	b.nsp.On("authenticate", b.onAuthenticate)
	b.nsp.On("join-token-channel", b.onJoinTokenChannel)
	b.nsp.On("message", b.onClientMessage)
	return b, nil
}

// Close stops the bridge's timers and waits for its calls to Drupal to end
// (they are cancelled). Sockets are left to the socketio.Server.
func (b *Bridge) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	if b.sweeper != nil {
		b.sweeper.Stop()
	}
	for _, p := range b.online {
		p.stop()
	}
	for _, t := range b.tokenTimers {
		t.t.Stop()
	}
	for _, c := range b.sockets {
		if c.cancelAuth != nil {
			c.cancelAuth()
		}
	}
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	// No call is left: let Drupal's server free its keep-alive workers now
	// (only for the client the bridge built, not a caller's).
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
	if _, err := b.backend.Post(ctx, msg); err != nil && ctx.Err() == nil {
		b.log.Warn("drupal: message to backend failed", slog.String("error", err.Error()))
	}
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
	b.mu.Unlock()
	b.logDebug("drupal: client connected", slog.String("sid", s.ID()))
	for _, ext := range b.exts {
		ext.OnConnect(s)
	}
}

// onDisconnecting forgets a socket: channels, token channels and presence
// (spec §4.4). It runs while the socket is still in its rooms.
func (b *Bridge) onDisconnecting(s *socketio.Socket, reason socketio.DisconnectReason) {
	b.mu.Lock()
	c := b.sockets[s.ID()]
	if c == nil || c.s != s {
		b.mu.Unlock()
		return
	}
	delete(b.sockets, s.ID())
	if c.cancelAuth != nil {
		c.cancelAuth()
		c.cancelAuth = nil
	}
	if c.state == stateAuthenticated {
		b.forgetAuthenticatedLocked(c)
	}
	c.state = stateGone
	b.mu.Unlock()
	b.logDebug("drupal: client disconnected", slog.String("sid", s.ID()), slog.String("reason", string(reason)))
	for _, ext := range b.exts {
		ext.OnDisconnect(s)
	}
}

// socketsOfUIDLocked is the authenticated sockets of a user. A user's sockets
// are kept with its presence, which every uid but 0 with a socket has: a map
// by uid besides b.online cost each user a map entry (about 80 bytes).
func (b *Bridge) socketsOfUIDLocked(uid int64) connList {
	if uid == 0 {
		return b.anon
	}
	if p := b.online[uid]; p != nil {
		return p.socks
	}
	return nil
}

// forgetAuthenticatedLocked removes an authenticated socket from the tables and
// starts the grace timers of its user and content channels.
func (b *Bridge) forgetAuthenticatedLocked(c *conn) {
	b.authed--
	for name, r := range c.rooms.names(channelPrefix) {
		if ch := b.channels[name]; ch != nil {
			ch.remove(c, r)
		}
	}
	if c.uid == 0 {
		b.anon.remove(c)
	} else if p := b.online[c.uid]; p != nil {
		p.socks.remove(c)
		b.scheduleOfflineLocked(c.uid)
	}
	b.leaveTokenChannelsLocked(c)
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
	_ = s.Emit("message", msg)
}

// emitToSockets sends msg to the listed sockets (by their id rooms).
func (b *Bridge) emitToSockets(ids []string, msg json.RawMessage) {
	if len(ids) == 0 {
		return
	}
	_ = b.nsp.To(ids...).Emit("message", msg)
}

// emitToRoom sends msg to a room, except the socket except (when not "").
func (b *Bridge) emitToRoom(room, except string, msg json.RawMessage) {
	op := b.nsp.To(room)
	if except != "" {
		op = op.Except(except)
	}
	_ = op.Emit("message", msg)
}

// sweepTick drops expired auth cache entries and stale content tokens, then
// re-arms itself.
func (b *Bridge) sweepTick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.sweepLocked(b.sinceEpoch())
	b.sweeper = b.clock.AfterFunc(sweepInterval, b.sweepTick)
}

func (b *Bridge) sweepLocked(now time.Duration) {
	for tok, e := range b.cache {
		if now >= e.expires {
			delete(b.cache, tok)
		}
	}
	b.sweepTokensLocked(b.epoch.Add(now))
}

// sinceEpoch is the clock's time as a duration since New.
func (b *Bridge) sinceEpoch() time.Duration { return b.clock.Now().Sub(b.epoch) }
