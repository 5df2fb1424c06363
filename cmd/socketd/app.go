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
}

func newApp(cfg nodejsconfig.Config, dev bool, logger *slog.Logger) (*app, error) {
	ec, err := engineConfig(cfg)
	if err != nil {
		return nil, err
	}
	ec.Logger = logger
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

// serve serves ln until ctx ends, then shuts down: new requests are refused,
// clients are told the server is going away, the bridge stops its timers.
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
		a.log.Info("socketd shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.bridge.Close()
	a.admin.Close()
	// A polling client fetches its close packet with the GET it always has
	// held; one that has not within a second is gone or reconnecting, and
	// waiting longer for it only delays the exit.
	cctx, ccancel := context.WithTimeout(sctx, pollCloseWait)
	_ = a.io.Close(cctx)
	ccancel()
	a.nodes.leave()
	a.cluster.close()
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// pollCloseWait bounds how long shutting down waits for polling clients to
// fetch their close packet.
const pollCloseWait = time.Second

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
