package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	clientjs "github.com/socketd/socketd/client_js"
	"github.com/socketd/socketd/drupal"
	"github.com/socketd/socketd/drupal/devdrupal"
	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/server/adminui"
	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/health"
	"github.com/socketd/socketd/server/socketio"
)

// app is socketd assembled: Socket.IO server, Drupal bridge, HTTP router.
type app struct {
	cfg    nodejsconfig.Config
	dev    bool
	log    *slog.Logger
	io     *socketio.Server
	bridge *drupal.Bridge
	router http.Handler
	tls    *tls.Config
	certs  *certStore // the https key pair, reloaded on SIGHUP (tls.go)
	// cluster is nil on a single node (no redis key).
	cluster *cluster
	// admin is nil without the adminUI key.
	admin *adminui.Admin
	// nodes is nil on a single node: the table of live nodes for forwarding.
	nodes *membership
	// ready is the operator listener's readiness (ops.go), nil without it.
	ready *health.Readiness
}

func newApp(cfg nodejsconfig.Config, dev bool, logger *slog.Logger) (*app, error) {
	ec, err := engineConfig(cfg)
	if err != nil {
		return nil, err
	}
	ec.Logger = logger
	if cfg.Redis != "" {
		// A drain closes the clients over its first part, so that they
		// reconnect to the other nodes gradually; alone, a node closes them
		// at once (the zero value).
		ec.DrainSpread = time.Duration(float64(cfg.DrainTimeout) * drainSpreadShare)
	}
	var cl *cluster
	var nodes *membership
	if cfg.Redis != "" {
		if cl, err = newCluster(cfg, logger); err != nil {
			return nil, err
		}
		if nodes, err = joinNodes(cfg, cl.client, cl.bus.NodeID(), cl.nodesLeft, logger); err != nil {
			cl.close()
			return nil, err
		}
		// The Drupal store follows the table: one notion of which nodes
		// are alive, for forwarding and for presence.
		if err = cl.followNodes(nodes.node, logger); err != nil {
			nodes.leave()
			cl.close()
			return nil, err
		}
		ec.Nodes = nodes.nodes()
	}
	admin, err := newAdminUI(cfg, logger)
	if err != nil {
		nodes.leave()
		cl.close()
		return nil, err
	}
	factory := cl.factory()
	if admin != nil {
		factory = admin.Adapter(factory)
	}
	sio, err := socketio.New(socketio.Config{
		Engine:         ec,
		Logger:         logger,
		Adapter:        factory,
		ConnectTimeout: time.Duration(cfg.HandshakeTimeout),
		MessageRate:    messageRate(cfg),
		// Drupal's client never sends binary; with client messages off
		// nothing would read it, so a binary packet only costs memory.
		DisallowBinary: !cfg.ClientsCanWriteToChannels && !cfg.ClientsCanWriteToClients,
		Recovery:       recoveryConfig(cfg.ConnectionStateRecovery),
	})
	if err != nil {
		nodes.leave()
		cl.close()
		return nil, err
	}
	if admin != nil {
		if err := admin.Attach(sio); err != nil {
			_ = sio.Close(context.Background())
			nodes.leave()
			cl.close()
			return nil, err
		}
	}
	bridge, err := drupal.New(cfg, sio, drupal.Options{Logger: logger, Store: cl.drupalStore()})
	if err != nil {
		admin.Close()
		_ = sio.Close(context.Background())
		nodes.leave()
		cl.close()
		return nil, err
	}
	a := &app{cfg: cfg, dev: dev, log: logger, io: sio, bridge: bridge, cluster: cl, admin: admin, nodes: nodes}
	if cfg.ServiceKey == "" {
		logger.Warn("serviceKey is empty: the Drupal API accepts calls from anyone who can reach it; set serviceKey to Drupal's service key",
			slog.String("drupal_api", cfg.BaseAuthPath))
	}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	path := cfg.SocketPath()
	serveClient, _ := cfg.SocketOptions["serveClient"].(bool)
	if _, set := cfg.SocketOptions["serveClient"]; !set {
		serveClient = true
	}
	if serveClient {
		h := clientjs.Handler(cfg.ClientBundle)
		for _, n := range clientjs.Names() {
			r.Handle(path+"/"+n, h)
		}
		if !clientjs.Available(cfg.ClientBundle) {
			logger.Warn("socket.io client bundle not built into this binary: run make client-js", slog.String("path", path+"/socket.io.js"))
		}
	}
	r.Handle(path+"/*", sio)
	r.Handle(path, sio)
	r.Mount(strings.TrimSuffix(cfg.BaseAuthPath, "/"), bridge.Routes())
	if pub := bridge.PublicRoutes(); pub != nil {
		r.Mount("/", pub)
	}
	if admin != nil {
		mountAdminUI(r, cfg, logger)
	}
	if dev {
		r.Handle(devBackendPath, devdrupal.New(devdrupal.Config{ServiceKey: cfg.ServiceKey, Logger: logger}))
		demo := clientjs.DemoHandler(clientjs.DemoConfig{SocketPath: path, APIPath: cfg.BaseAuthPath, ServiceKey: cfg.ServiceKey})
		r.Handle("/demo", demo)
		r.Handle("/demo/*", demo)
	}
	a.router = r

	if cfg.Scheme == "https" {
		if a.certs, a.tls, err = newTLS(cfg, logger); err != nil {
			admin.Close()
			bridge.Close()
			_ = sio.Close(context.Background())
			nodes.leave()
			cl.close()
			return nil, err
		}
	}
	return a, nil
}

// recoveryConfig is connectionStateRecovery for the Socket.IO server: nil
// (off) when the key is absent or false.
func recoveryConfig(r *nodejsconfig.RecoveryConfig) *socketio.Recovery {
	if r == nil {
		return nil
	}
	return &socketio.Recovery{
		MaxDisconnectionDuration: time.Duration(r.MaxDisconnectionDuration),
		RunMiddlewares:           r.SkipMiddlewares != nil && !*r.SkipMiddlewares,
	}
}

// listen opens the configured address.
func (a *app) listen() (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(a.cfg.Host, strconv.Itoa(a.cfg.Port)))
}

// serve serves ln until ctx ends, then drains (drain) and returns.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	var err error
	hs := newHTTPServer(a.router, a.httpLimits(), a.log)
	hs.TLSConfig = a.tls
	errc := make(chan error, 1)
	go func() {
		if a.tls != nil {
			errc <- hs.Serve(tlsListener(ln, a.tls))
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	base := fmt.Sprintf("%s://%s", a.cfg.Scheme, ln.Addr())
	attrs := []any{slog.String("version", version), slog.String("url", base),
		slog.String("socketio", base+a.cfg.SocketPath()+"/"),
		slog.String("drupal_api", base+a.cfg.BaseAuthPath),
		slog.String("backend", a.bridge.Backend().URL())}
	if a.dev {
		attrs = append(attrs, slog.String("demo", base+"/demo/"))
	}
	if a.admin != nil {
		attrs = append(attrs, slog.String("admin_ui", base+adminUIPath))
	}
	a.log.Info("socketd listening", attrs...)
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	if serr := a.drain(hs); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Shares of drainTimeout (D) in a drain: the clients are closed over the
// first 40% (in a cluster), polling clients fetch their close packet until
// 80%, calls to the Drupal API in flight finish until 90%, the bridge's own
// calls to Drupal until 95%, and the node leaves the cluster in what is left;
// the process is ended at D whatever remains (main.go).
const (
	drainSpreadShare   = 0.4
	drainSessionsShare = 0.8
	drainHTTPShare     = 0.9
	drainCallsShare    = 0.95
)

// pollCloseWait bounds how long, once every client has been told to close,
// the drain waits for polling clients to fetch their close packet: a live
// one has a GET held or sends the next at once; one that has not within a
// second is gone or reconnecting, and waiting longer only delays the exit.
const pollCloseWait = time.Second

// drain stops the node without dropping its users (docs/OPERATIONS.md,
// "Stopping socketd"), within drainTimeout:
//
//  1. readiness answers 503 (balancers stop sending clients);
//  2. new handshakes are refused and the clients are closed, spread out in a
//     cluster so that they reconnect to the other nodes at an even pace (on a
//     single node at once: there is nowhere else to go, and spreading would
//     only delay the restart); the sessions still open are served meanwhile,
//     directly or forwarded by other nodes, the Drupal API answers, and the
//     node stays on the bus, so a publish through any node reaches them;
//  3. the HTTP server stops taking requests and lets those in flight (the
//     Drupal API's) finish (keep-alive is off from the start of the drain,
//     so no connection a balancer holds idle is closed under a request);
//  4. what is left is closed; the Drupal bridge, whose sockets are all gone
//     and counted off by now, leaves the store (with Redis, each user whose
//     page did not come back elsewhere goes offline after the grace period,
//     decided by another node), then the node leaves the table of live nodes
//     and the bus.
func (a *app) drain(hs *http.Server) error {
	d := time.Duration(a.cfg.DrainTimeout)
	start := time.Now()
	at := func(share float64) time.Time { return start.Add(time.Duration(float64(d) * share)) }
	a.markDraining()
	// Every answer from now on closes its connection: a balancer's kept-alive
	// connection is never closed under a request it is sending (a POST
	// from Drupal would not be retried), and none is left to close at the end.
	hs.SetKeepAlivesEnabled(false)
	st := a.io.Engine().Stats()
	a.log.Info("socketd shutting down", slog.Int64("sessions", st.Sessions), slog.Duration("drain_timeout", d))

	sctx, cancel := context.WithDeadline(context.Background(), at(drainSessionsShare))
	window := engine.DrainWindow(sctx, a.io.Engine().Config().DrainSpread, int(st.Sessions+st.Bridges))
	// Stop waiting a little after the last client is told, even if the
	// context allows more (it sets the spread: Shutdown sees its deadline).
	stopWaiting := time.AfterFunc(window+pollCloseWait, cancel)
	if err := a.io.Shutdown(sctx); err != nil {
		a.log.Info("drain: clients not gone in time are cut", slog.Int64("sessions", a.io.Engine().Stats().Sessions))
	}
	stopWaiting.Stop()
	cancel()

	hctx, cancel := context.WithDeadline(context.Background(), at(drainHTTPShare))
	err := hs.Shutdown(hctx)
	cancel()
	if err != nil {
		a.log.Warn("drain: HTTP requests still under way are cut", slog.String("error", err.Error()))
	}

	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.io.Close(done)
	a.admin.Close()
	fctx, cancel := context.WithDeadline(context.Background(), at(drainCallsShare))
	a.bridge.Shutdown(fctx)
	cancel()
	a.nodes.leave()
	a.cluster.close()
	a.log.Info("socketd stopped", slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return err
}

// markDraining turns readiness to 503, before anything closes. The operator
// listener's own watch of the signal (ops.go) does it too; this call makes
// it come first.
func (a *app) markDraining() {
	if a.ready != nil {
		a.ready.Drain()
	}
}

// httpLimits are the HTTP server's bounds from the configuration (defaults
// applied).
func (a *app) httpLimits() httpLimits {
	return httpLimits{
		KeepAlive:   time.Duration(a.cfg.KeepAliveTimeout),
		Headers:     time.Duration(a.cfg.HeadersTimeout),
		Body:        time.Duration(a.cfg.BodyTimeout),
		MaxHalfOpen: a.cfg.MaxHalfOpenConnections,
	}
}
