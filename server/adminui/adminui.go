package adminui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/socketio"
)

// Options are instrument()'s options. The zero value is "/admin" without
// authentication, in development mode, not read-only.
type Options struct {
	// NamespaceName is the admin namespace. Empty means "/admin".
	NamespaceName string
	// Auth is the basic authentication the UI's login form answers. Nil means
	// none (instrument()'s auth: false): then only connections made to a
	// loopback address (the Host header) are admitted, and from a browser
	// only by a page of that same origin, so that a web page the operator
	// visits cannot reach the namespace (cross-origin, or by DNS rebinding).
	Auth *BasicAuth
	// Readonly refuses every command: the UI only shows.
	Readonly bool
	// ServerID names this node in the UI. Empty means the host name, with
	// "#pid" when two nodes could share it (see serverID).
	ServerID string
	// Production is instrument()'s mode "production": only the server stats
	// are sent (no sockets, rooms or connection events). The zero value is
	// "development", instrument()'s default without NODE_ENV.
	Production bool
	// SocketPath is the Socket.IO path, shown in the handshake url of each
	// socket. Empty means "/socket.io".
	SocketPath string
	// StatsInterval is how often server_stats is sent. Zero means 2s, as
	// instrument() does.
	StatsInterval time.Duration
	// SessionTTL is how long a login session (the sessionId the UI keeps to
	// reconnect without asking for the password again) stays valid on the
	// node that issued it. Zero means 24h (the default of the package's
	// Redis store; its in-memory store never expires them).
	SessionTTL time.Duration
	// Logger receives the admin actions (logins, refused logins, commands).
	// Nil discards them.
	Logger *slog.Logger
}

// BasicAuth is instrument()'s auth option of type "basic".
type BasicAuth struct {
	Username string
	// Password is the bcrypt hash of the password ($2a$, $2b$ or $2y$), as
	// instrument() takes it.
	Password string
}

const (
	defaultNamespace     = "/admin"
	defaultStatsInterval = 2 * time.Second
	defaultSessionTTL    = 24 * time.Hour
	// maxSessions bounds the login sessions kept; the oldest goes first.
	maxSessions = 1000
	// opTimeout bounds a command or a FetchSockets across the cluster.
	opTimeout = 5 * time.Second
	// eventQueueLen bounds the events waiting to be sent to the admins;
	// past it events are dropped (counted, logged once a minute).
	eventQueueLen = 4096
	// presentEvent is what a node with admins connected sends the other
	// nodes (serverSideEmit) each stats interval, so that they report to it.
	presentEvent = "socketd:admin-ui-present"
	// concurrentHashes bounds the bcrypt comparisons running at once: each
	// costs tens of milliseconds of CPU, and a flood of logins must not take
	// every core from the clients.
	concurrentHashes = 2
)

// Features, as the UI knows them (typed-events.ts).
var (
	commandFeatures = []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"}
)

// Admin is the admin UI's server side for one socketio.Server.
type Admin struct {
	opts      Options
	log       *slog.Logger
	hash      []byte // bcrypt hash of the password; nil without Auth
	features  []string
	serverID  string
	hostname  string
	started   time.Time
	hashSlots chan struct{}

	srv       *socketio.Server
	adminName string

	// admins is the number of admin sockets connected to this node;
	// remoteSeen the time (UnixNano) another node last said it has some.
	admins     atomic.Int64
	remoteSeen atomic.Int64

	mu        sync.Mutex
	attached  bool
	nsps      map[string]*socketio.Namespace // every namespace, hooked
	adapters  map[string]*roomWatch          // by namespace name, as the factory made them
	sessions  map[string]time.Time           // login session id -> expiry
	upgrading []pendingUpgrade               // sockets reported on polling, until they upgrade

	events  chan event
	dropped atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  sync.Once
}

// event is one message for the admins, encoded.
type event struct {
	name string
	args psio.Args
}

// New checks the options. Wrap the adapter factory with Adapter before
// creating the server, then call Attach.
func New(opts Options) (*Admin, error) {
	if opts.NamespaceName == "" {
		opts.NamespaceName = defaultNamespace
	}
	if !strings.HasPrefix(opts.NamespaceName, "/") {
		opts.NamespaceName = "/" + opts.NamespaceName
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = defaultStatsInterval
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = defaultSessionTTL
	}
	if opts.SocketPath == "" {
		opts.SocketPath = "/socket.io"
	}
	ad := &Admin{
		opts:      opts,
		log:       opts.Logger,
		started:   time.Now(),
		adminName: opts.NamespaceName,
		hashSlots: make(chan struct{}, concurrentHashes),
		nsps:      make(map[string]*socketio.Namespace),
		adapters:  make(map[string]*roomWatch),
		sessions:  make(map[string]time.Time),
		events:    make(chan event, eventQueueLen),
		stop:      make(chan struct{}),
	}
	if ad.log == nil {
		ad.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a := opts.Auth; a != nil {
		if _, err := bcrypt.Cost([]byte(a.Password)); err != nil {
			return nil, fmt.Errorf("adminui: the password must be a bcrypt hash (e.g. htpasswd -nbBC 10 '' PASSWORD | cut -d: -f2): %w", err)
		}
		ad.hash = []byte(a.Password)
	}
	if !opts.Readonly {
		ad.features = append(ad.features, commandFeatures...)
	}
	ad.features = append(ad.features, "AGGREGATED_EVENTS")
	if !opts.Production {
		ad.features = append(ad.features, "ALL_EVENTS")
	}
	ad.hostname, _ = os.Hostname()
	ad.serverID = opts.ServerID
	if ad.serverID == "" {
		ad.serverID = ad.hostname
	}
	return ad, nil
}

// Adapter wraps the server's adapter factory (nil means
// adapter.MemoryFactory) so that the admins hear of room changes. Give the
// result to socketio.Config.Adapter.
func (ad *Admin) Adapter(f adapter.Factory) adapter.Factory {
	if f == nil {
		f = adapter.MemoryFactory
	}
	return func(nsp string, local adapter.Local) (adapter.Adapter, error) {
		a, err := f(nsp, local)
		if err != nil {
			return nil, err
		}
		w := &roomWatch{Adapter: a, ad: ad, nsp: nsp}
		ad.mu.Lock()
		ad.adapters[nsp] = w
		ad.mu.Unlock()
		return w, nil
	}
}

// Attach creates the admin namespace on srv, hooks every namespace (those
// made later too) and starts sending stats. srv must have been made with the
// factory Adapter returned, and must not have the admin namespace yet (its
// authentication has to be in place before any client can reach it).
func (ad *Admin) Attach(srv *socketio.Server) error {
	ad.mu.Lock()
	if ad.attached {
		ad.mu.Unlock()
		return errors.New("adminui: already attached")
	}
	ad.attached = true
	ad.srv = srv
	ad.mu.Unlock()
	for _, n := range srv.Namespaces() {
		if n.Name() == ad.adminName {
			return fmt.Errorf("adminui: namespace %s exists already", ad.adminName)
		}
		ad.mu.Lock()
		w, ok := ad.adapters[n.Name()]
		ad.mu.Unlock()
		if !ok || n.Adapter() != adapter.Adapter(w) {
			return errors.New("adminui: the server's adapter factory is not wrapped by Admin.Adapter")
		}
	}
	srv.OnNewNamespace(ad.hook)
	if _, err := srv.Namespace(ad.adminName); err != nil {
		return err
	}
	for _, n := range srv.Namespaces() {
		ad.hook(n)
	}
	if !ad.opts.Production {
		srv.SetEventObserver(ad)
	}
	ad.wg.Add(2)
	go ad.sendLoop()
	go ad.statsLoop()
	return nil
}

// Close stops the admin's goroutines. The namespace stays; the server's Close
// disconnects its sockets. A nil Admin does nothing.
func (ad *Admin) Close() {
	if ad == nil {
		return
	}
	ad.closed.Do(func() {
		close(ad.stop)
		ad.wg.Wait()
	})
}

// hook sets the admin's hooks on a namespace, once. It runs from
// OnNewNamespace (with the server's namespace table locked) or from Attach.
func (ad *Admin) hook(n *socketio.Namespace) {
	ad.mu.Lock()
	if _, done := ad.nsps[n.Name()]; done {
		ad.mu.Unlock()
		return
	}
	ad.nsps[n.Name()] = n
	ad.mu.Unlock()
	if n.Name() == ad.adminName {
		ad.setupAdminNamespace(n)
	}
	n.OnConnection(ad.onConnection)
	n.OnDisconnect(ad.onDisconnect)
}

// namespace returns a hooked namespace by name, without creating one.
func (ad *Admin) namespace(name string) (*socketio.Namespace, bool) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	n, ok := ad.nsps[name]
	return n, ok
}

// namespaceList returns the hooked namespaces.
func (ad *Admin) namespaceList() []*socketio.Namespace {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	out := make([]*socketio.Namespace, 0, len(ad.nsps))
	for _, n := range ad.nsps {
		out = append(out, n)
	}
	return out
}

// watched reports whether some admin, on this node or another, is connected.
func (ad *Admin) watched() bool {
	if ad.admins.Load() > 0 {
		return true
	}
	seen := ad.remoteSeen.Load()
	return seen != 0 && time.Since(time.Unix(0, seen)) < 3*ad.opts.StatsInterval
}

// reporting reports whether socket and room events are to be sent now.
func (ad *Admin) reporting() bool { return !ad.opts.Production && ad.watched() }

// queue hands an event for the admins to the sending goroutine. It never
// blocks: past eventQueueLen waiting events it drops the event.
func (ad *Admin) queue(name string, args ...any) {
	a, err := socketio.ToArgs(args...)
	if err != nil {
		ad.log.Error("admin UI: encoding an event", slog.String("event", name), slog.String("error", err.Error()))
		return
	}
	select {
	case ad.events <- event{name: name, args: a}:
	default:
		ad.dropped.Add(1)
	}
}

// sendLoop sends the queued events to the admins, in order. With admins only
// on this node the events stay on it; when another node has some, they go
// through the adapter to every node.
func (ad *Admin) sendLoop() {
	defer ad.wg.Done()
	nsp, _ := ad.namespace(ad.adminName)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ad.stop:
			return
		case <-tick.C:
			if n := ad.dropped.Swap(0); n > 0 {
				ad.log.Warn("admin UI: events dropped: the admins could not be sent them fast enough", slog.Int64("dropped", n))
			}
		case ev := <-ad.events:
			var err error
			if ad.remoteAdmins() {
				err = nsp.EmitArgs(ev.name, ev.args)
			} else {
				err = nsp.Local().EmitArgs(ev.name, ev.args)
			}
			if err != nil {
				ad.log.Debug("admin UI: sending an event", slog.String("event", ev.name), slog.String("error", err.Error()))
			}
		}
	}
}

// remoteAdmins reports whether another node said lately that it has admins.
func (ad *Admin) remoteAdmins() bool {
	seen := ad.remoteSeen.Load()
	return seen != 0 && time.Since(time.Unix(0, seen)) < 3*ad.opts.StatsInterval
}

// announce tells the other nodes that this one has admins connected.
func (ad *Admin) announce(nsp *socketio.Namespace) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := nsp.ServerSideEmit(ctx, presentEvent); err != nil {
		ad.log.Debug("admin UI: announcing to the other nodes", slog.String("error", err.Error()))
	}
}

// timestamp is JavaScript's JSON form of a Date, as instrument() sends it.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ackResult answers a command's acknowledgement, when the UI asked for one.
func ackResult(e *socketio.Event, err error) {
	if !e.WantsAck() {
		return
	}
	if err != nil {
		_ = e.Ack(map[string]any{"ok": false, "error": err.Error()})
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

// objectOrEmpty is raw, or {} when raw is empty.
func objectOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}
