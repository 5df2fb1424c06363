package main

import (
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/go-chi/chi/v5"

	clientjs "github.com/socketd/socketd/client_js"
	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/server/adminui"
)

// adminUIPath is where the admin UI's page is served.
const adminUIPath = "/admin/"

// newAdminUI makes the admin UI's server side from the adminUI key, or nil
// when the key is absent. Without a login (auth: false) it must listen on
// loopback only: anyone who reaches it could disconnect every user.
func newAdminUI(cfg nodejsconfig.Config, logger *slog.Logger) (*adminui.Admin, error) {
	c := cfg.AdminUI
	if c == nil {
		return nil, nil
	}
	opts := adminui.Options{
		NamespaceName: c.NamespaceName,
		Readonly:      c.Readonly,
		ServerID:      c.ServerID,
		Production:    c.Mode == "production",
		SocketPath:    cfg.SocketPath(),
		Logger:        logger,
	}
	if c.Auth.Disabled {
		if !isLoopbackHost(cfg.Host) {
			return nil, errors.New("adminUI.auth is false (no login) but socketd listens on " + cfg.Host + ": that is allowed on loopback only (host 127.0.0.1, ::1 or localhost); give basic credentials with a bcrypt hash")
		}
		logger.Warn("admin UI WITHOUT LOGIN (adminUI.auth is false): whoever reaches this port on this machine, a local reverse proxy included, can see every socket and disconnect users",
			slog.String("page", adminUIPath))
	} else {
		opts.Auth = &adminui.BasicAuth{Username: c.Auth.Username, Password: c.Auth.Password}
	}
	return adminui.New(opts)
}

// isLoopbackHost reports whether the listen host is a loopback address.
func isLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mountAdminUI serves the UI's page at /admin/.
func mountAdminUI(r chi.Router, cfg nodejsconfig.Config, logger *slog.Logger) {
	nsp := cfg.AdminUI.NamespaceName
	if nsp == "" {
		nsp = "/admin"
	}
	h := clientjs.AdminUIHandler(clientjs.AdminUIConfig{Prefix: adminUIPath, SocketPath: cfg.SocketPath(), Namespace: nsp})
	r.Handle(adminUIPath+"*", h)
	r.Handle(strings.TrimSuffix(adminUIPath, "/"), h)
	if clientjs.AdminUIVersion() == "" {
		logger.Warn("socket.io admin UI not built into this binary: run make client-js", slog.String("page", adminUIPath))
	}
}
