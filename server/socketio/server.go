package socketio

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/engine"
)

// Server is a Socket.IO server and the http.Handler of its path.
type Server struct {
	cfg     Config
	log     *slog.Logger
	eng     *engine.Server
	decCfg  [2]psio.DecoderConfig // by revision: [0] v4, [1] v5
	decPool [2]sync.Pool          // of *psio.Decoder, by revision as decCfg
	// pending is the attachment bytes held by clients' incomplete binary
	// packets, all clients together.
	pending atomic.Int64
	// pidKey derives the sockets' private ids (recovery.go); nil while
	// recovery is off.
	pidKey []byte
	// observer is the EventObserver, or nil (SetEventObserver).
	observer atomic.Pointer[observerBox]
	stats    counters
	rate     messageRate

	mu   sync.RWMutex
	nsps map[string]*Namespace
	// onNew run for every namespace created after they were registered
	// (OnNewNamespace); nil for servers nobody observes.
	onNew []func(*Namespace)
}

// New builds a Server with the main namespace "/". Call Close when done.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	srv := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace)}
	if cfg.Recovery != nil {
		srv.pidKey = make([]byte, 32)
		_, _ = rand.Read(srv.pidKey)
	}
	if cfg.MessageRate > 0 {
		interval := max(1, int64(float64(time.Second)/cfg.MessageRate))
		srv.rate = messageRate{epoch: time.Now(), interval: interval, tolerance: int64(cfg.MessageBurst-1) * interval}
	}
	for i, rev := range []psio.Revision{psio.V4, psio.V5} {
		srv.decCfg[i] = psio.DecoderConfig{Revision: rev, MaxAttachments: cfg.MaxAttachments, MaxDepth: cfg.MaxDepth, MaxBufferedBytes: cfg.MaxBufferedBytes}
		if err := srv.decCfg[i].Validate(); err != nil {
			return nil, err
		}
		dc := srv.decCfg[i]
		srv.decPool[i].New = func() any { return psio.NewDecoder(dc) }
	}
	if _, err := srv.Namespace("/"); err != nil {
		return nil, err
	}
	srv.eng, err = engine.New(cfg.Engine, srv.onOpen)
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// ServeHTTP implements http.Handler.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { srv.eng.ServeHTTP(w, r) }

// Engine returns the Engine.IO server underneath.
func (srv *Server) Engine() *engine.Server { return srv.eng }

// Namespace returns the namespace called name, creating it (and its adapter) if
// needed. Names start with "/"; one without is given one.
func (srv *Server) Namespace(name string) (*Namespace, error) {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if strings.ContainsRune(name, ',') {
		return nil, fmt.Errorf("socketio: namespace %q contains a comma", name)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if n, ok := srv.nsps[name]; ok {
		return n, nil
	}
	n := newNamespace(srv, name)
	a, err := srv.cfg.Adapter(name, n.local())
	if err != nil {
		return nil, fmt.Errorf("socketio: adapter for %s: %w", name, err)
	}
	n.adapter = a
	if srv.cfg.Recovery != nil {
		if err := n.enableRecovery(srv.cfg.Recovery); err != nil {
			_ = a.Close()
			return nil, err
		}
	}
	// Before the namespace is in the map no client can reach it, so an
	// observer's hooks are in place before its first socket.
	for _, fn := range srv.onNew {
		fn(n)
	}
	srv.nsps[name] = n
	return n, nil
}

// Namespaces returns the namespaces that exist now, in no particular order.
func (srv *Server) Namespaces() []*Namespace {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	out := make([]*Namespace, 0, len(srv.nsps))
	for _, n := range srv.nsps {
		out = append(out, n)
	}
	return out
}

// OnNewNamespace registers fn to run for every namespace created from now on
// (socket.io's "new_namespace" event), before any client can connect to it;
// Namespaces lists those that exist already. fn runs while the server's
// namespace table is locked: it may set the namespace's hooks (Use,
// OnConnection, ...) but must not create or list namespaces.
func (srv *Server) OnNewNamespace(fn func(*Namespace)) {
	srv.mu.Lock()
	srv.onNew = append(srv.onNew, fn)
	srv.mu.Unlock()
}

// Of is Namespace for static set-up code: it panics if the adapter cannot be made.
func (srv *Server) Of(name string) *Namespace {
	n, err := srv.Namespace(name)
	if err != nil {
		panic(err)
	}
	return n
}

func (srv *Server) lookup(name string) (*Namespace, bool) {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	n, ok := srv.nsps[name]
	return n, ok
}

// Shutdown drains the server before Close (engine.Server.Shutdown): new
// clients are refused and the connected ones are closed spread over the
// engine's DrainSpread, at the Engine.IO level ("server shutting down"), not
// with a Socket.IO DISCONNECT, which tells socket.io-client to stay away:
// the clients reconnect by themselves, through the balancer, to another
// node. The adapters stay, so broadcasts from the application and from other
// nodes reach the sockets still open. It returns when the connections are
// closed or with ctx's error when ctx ends first.
func (srv *Server) Shutdown(ctx context.Context) error { return srv.eng.Shutdown(ctx) }

// Close disconnects every client ("server shutting down") and releases the
// adapters. It returns when the connections are closed or ctx ends.
func (srv *Server) Close(ctx context.Context) error {
	err := srv.eng.Close(ctx)
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	for _, n := range srv.nsps {
		err = errors.Join(err, n.adapter.Close())
	}
	return err
}

// messageRate is Config.MessageRate as the clients' GCRA applies it.
type messageRate struct {
	epoch     time.Time
	interval  int64 // ns between messages at the rate; 0: no limit
	tolerance int64 // how far ahead of now a client's schedule may run: the burst
}

func (srv *Server) onOpen(sess *engine.Session) engine.Handler {
	return newClient(srv, sess)
}
