package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	nodetable "github.com/socketd/socketd/server/cluster"
	"github.com/socketd/socketd/server/engine"
)

// devConfig is the embedded default of -dev: everything on loopback, Drupal's
// auth callback answered by the built-in stand-in mounted at devBackendPath.
func devConfig() nodejsconfig.Config {
	return nodejsconfig.Config{
		Host:       "127.0.0.1",
		Port:       8080,
		ServiceKey: "dev-service-key",
		Backend: nodejsconfig.BackendConfig{
			Host:        "127.0.0.1",
			Port:        8080,
			BasePath:    "/",
			MessagePath: strings.TrimPrefix(devBackendPath, "/"),
		},
	}
}

const devBackendPath = "/dev/drupal/nodejs/message"

// devIgnoresFile says whether -dev leaves a ./nodejs.config.js unread, for
// the log: dev mode is the same everywhere, so trying it in a Drupal
// checkout does not quietly pick up that site's backend.
func devIgnoresFile(f flags, exists func(string) bool) bool {
	return f.dev && f.config == "" && exists("nodejs.config.js")
}

// loadConfig builds the configuration: file (or the dev default), then the
// NODE_* environment, then flags, then defaults and validation.
func loadConfig(f flags, getenv func(string) string, exists func(string) bool) (nodejsconfig.Config, error) {
	var cfg nodejsconfig.Config
	path := f.config
	switch {
	case f.dev && path != "":
		return cfg, fmt.Errorf("-dev runs socketd on its own configuration, with a stand-in for Drupal; it does not read %s (drop -dev to use the file)", path)
	case f.dev && f.backend != "":
		return cfg, errors.New("-dev answers Drupal's auth callback itself (a stand-in that accepts every token); -backend cannot be used with it (drop -dev to use a real Drupal)")
	case path == "" && !f.dev && exists("nodejs.config.js"):
		// drupal-node.js reads ./nodejs.config.js when given no argument;
		// -dev does not (see devIgnoresFile).
		path = "nodejs.config.js"
	}
	switch {
	case path != "":
		c, err := nodejsconfig.Load(path)
		if err != nil {
			return cfg, err
		}
		cfg = c
	case f.dev:
		cfg = devConfig()
	default:
		return cfg, errors.New("no configuration: give the nodejs.config.js path (socketd /path/to/nodejs.config.js), or -dev to try socketd locally")
	}
	if err := nodejsconfig.ApplyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	if v := getenv("SOCKETD_REDIS_URL"); v != "" {
		cfg.Redis = v
	}
	if f.redis != "" {
		cfg.Redis = f.redis
	}
	if f.redisPrefix != "" {
		cfg.RedisPrefix = f.redisPrefix
	}
	if cfg.Redis != "" {
		if _, err := redisOptions(cfg.Redis); err != nil {
			return cfg, err
		}
	}
	if f.host != "" {
		cfg.Host = f.host
	}
	if f.port != 0 {
		cfg.Port = f.port
	}
	if f.serviceKey != "" {
		cfg.ServiceKey = f.serviceKey
	}
	if f.clientBundle != "" {
		cfg.ClientBundle = f.clientBundle
	}
	if f.keepAlive != 0 {
		cfg.KeepAliveTimeout = nodejsconfig.Duration(f.keepAlive)
	}
	if f.headers != 0 {
		cfg.HeadersTimeout = nodejsconfig.Duration(f.headers)
	}
	if f.body != 0 {
		cfg.BodyTimeout = nodejsconfig.Duration(f.body)
	}
	if f.maxHalfOpen != 0 {
		cfg.MaxHalfOpenConnections = f.maxHalfOpen
	}
	if f.metricsAddr != "" {
		cfg.MetricsAddr = f.metricsAddr
	}
	if f.maxConns != 0 {
		cfg.MaxConnections = f.maxConns
	}
	if f.maxConnsPerIP != 0 {
		cfg.MaxConnectionsPerIP = f.maxConnsPerIP
	}
	if f.handshakeRate != 0 {
		cfg.HandshakeRatePerIP = f.handshakeRate
	}
	if f.maxMessages != 0 {
		cfg.MaxMessagesPerSecond = f.maxMessages
	}
	if f.handshakeTO != 0 {
		cfg.HandshakeTimeout = nodejsconfig.Duration(f.handshakeTO)
	}
	if f.trustedProxies != "" {
		cfg.TrustedProxies = strings.Split(f.trustedProxies, ",")
		for i, p := range cfg.TrustedProxies {
			cfg.TrustedProxies[i] = strings.TrimSpace(p)
		}
	}
	if f.logFormat != "" {
		cfg.LogFormat = f.logFormat
	}
	if f.drainTimeout != 0 {
		cfg.DrainTimeout = nodejsconfig.Duration(f.drainTimeout)
	}
	if f.backend != "" {
		if err := applyBackendURL(&cfg.Backend, f.backend); err != nil {
			return cfg, err
		}
	}
	if v := getenv("SOCKETD_ADVERTISE"); v != "" {
		cfg.Advertise = v
	}
	if f.advertise != "" {
		cfg.Advertise = f.advertise
	}
	if cfg.Advertise != "" {
		if err := nodetable.CheckURL(cfg.Advertise); err != nil {
			return cfg, fmt.Errorf("advertise: %w", err)
		}
	}
	if f.dev {
		// The dev stand-in is served by socketd itself, on whatever address
		// it got; NODE_BACKEND_* variables cannot send it elsewhere.
		cfg.Backend = devConfig().Backend
		cfg.Backend.Host, cfg.Backend.Port = cfg.Host, cfg.Port
		// The admin UI, without a login, where that is allowed.
		if isLoopbackHost(cfg.Host) {
			cfg.AdminUI = &nodejsconfig.AdminUI{Auth: nodejsconfig.AdminUIAuth{Set: true, Disabled: true}}
		}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func applyBackendURL(b *nodejsconfig.BackendConfig, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("-backend %q: want a URL like http://drupal.local/", raw)
	}
	b.Scheme = u.Scheme
	b.Host = u.Hostname()
	b.Port = 80
	if u.Scheme == "https" {
		b.Port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("-backend %q: bad port", raw)
		}
		b.Port = n
	}
	b.BasePath = u.Path
	if b.BasePath == "" {
		b.BasePath = "/"
	}
	return nil
}

// engineConfig maps the configuration onto the Engine.IO options, honouring the
// socket.io 2.x socketOptions socketd has an equivalent for.
func engineConfig(cfg nodejsconfig.Config) (engine.Config, error) {
	ec := engine.Config{
		CORS: engine.CORSConfig{AllowedOrigins: cfg.CORSOrigins},
		// socket.io 2.x (drupal-node.js) set the sticky-session cookie by default.
		Cookie: &engine.CookieConfig{Name: "io", HTTPOnly: true, SameSite: 3 /* http.SameSiteStrictMode */},
	}
	if err := applyLimits(&ec, cfg, openFileLimit()); err != nil {
		return ec, err
	}
	opts := cfg.SocketOptions
	ms := func(key string) (time.Duration, error) {
		v, ok := opts[key]
		if !ok {
			return 0, nil
		}
		n, ok := v.(float64)
		if !ok || n <= 0 {
			return 0, fmt.Errorf("socketOptions.%s: want a positive number of milliseconds", key)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	var err error
	if ec.PingInterval, err = ms("pingInterval"); err != nil {
		return ec, err
	}
	if ec.PingTimeout, err = ms("pingTimeout"); err != nil {
		return ec, err
	}
	if v, ok := opts["maxHttpBufferSize"].(float64); ok && v > 0 {
		ec.MaxHTTPBufferSize = int64(v)
	}
	transports := cfg.Transports
	if list, ok := opts["transports"].([]any); ok {
		transports = nil
		for _, t := range list {
			if s, ok := t.(string); ok {
				transports = append(transports, s)
			}
		}
	}
	for _, t := range transports {
		switch t {
		case "polling", "xhr-polling", "jsonp-polling":
			ec.Transports = appendOnce(ec.Transports, engine.Polling)
		case "websocket":
			ec.Transports = appendOnce(ec.Transports, engine.WebSocket)
		}
	}
	if len(transports) > 0 && len(ec.Transports) == 0 {
		return ec, fmt.Errorf("transports %v: none of them is polling or websocket", transports)
	}
	switch v := opts["cookie"].(type) {
	case bool:
		if !v {
			ec.Cookie = nil
		}
	case string:
		ec.Cookie.Name = v
	}
	switch v := opts["origins"].(type) {
	case string:
		if v != "*:*" && v != "*" {
			ec.CORS.AllowedOrigins = strings.Fields(strings.ReplaceAll(v, ",", " "))
		}
	case []any:
		ec.CORS.AllowedOrigins = nil
		for _, o := range v {
			if s, ok := o.(string); ok {
				ec.CORS.AllowedOrigins = append(ec.CORS.AllowedOrigins, s)
			}
		}
	}
	return ec, nil
}

func appendOnce(ts []engine.Transport, t engine.Transport) []engine.Transport {
	for _, x := range ts {
		if x == t {
			return ts
		}
	}
	return append(ts, t)
}
