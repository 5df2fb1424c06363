package nodejsconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Config is the drupal-node.js configuration (nodejs.config.js `settings`),
// spec §1a, plus what socketd adds. Field names follow the JavaScript keys; the
// zero value of every field means the default written beside it, which is
// drupal-node.js 1.0.13's.
type Config struct {
	// Scheme "http" (default) or "https"; https needs SSLKeyPath and SSLCertPath.
	Scheme string `json:"scheme"`
	// Host to listen on. Default "localhost".
	Host string `json:"host"`
	// Port to listen on (HTTP routes and Socket.IO share it). Default 8080.
	Port int `json:"port"`
	// ServiceKey is the shared secret Drupal sends in the NodejsServiceKey header
	// and socketd sends to Drupal. Empty means every request passes the check,
	// as in 1.0.13.
	ServiceKey string `json:"serviceKey"`
	// Debug logs at debug level; it can be switched at run time (debug/toggle).
	Debug bool `json:"debug"`
	// BodyParserJSONLimit bounds Drupal's request bodies: "1mb" (default),
	// "100kb", or a number of bytes.
	BodyParserJSONLimit string `json:"bodyParserJsonLimit"`
	// BaseAuthPath prefixes the Drupal-facing routes; it starts and ends with
	// "/". Default "/nodejs/".
	BaseAuthPath string `json:"baseAuthPath"`
	// Extensions names Node extensions; socketd cannot run JavaScript
	// extensions and refuses to start when any is listed (see Extension).
	Extensions []string `json:"extensions"`
	// Backend is how socketd reaches Drupal.
	Backend BackendConfig `json:"backend"`
	// SSLKeyPath, SSLCertPath, SSLCAPath, SSLPassPhrase configure https.
	SSLKeyPath    string `json:"sslKeyPath"`
	SSLCertPath   string `json:"sslCertPath"`
	SSLCAPath     string `json:"sslCAPath"`
	SSLPassPhrase string `json:"sslPassPhrase"`
	// SocketOptions are socket.io 2.x server options; those socketd has an
	// equivalent for are honoured (path, pingInterval, pingTimeout,
	// transports, maxHttpBufferSize, cookie, origins, serveClient,
	// allowEIO3), others are reported as ignored. Values have JSON types
	// (float64, bool, string, []any, map[string]any); Load has checked the
	// honoured ones (numbers are float64 even when the file quoted them).
	SocketOptions map[string]any `json:"socketOptions"`
	// Resource is the 1.0.10 socket path key ("/socket.io"), honoured when
	// SocketOptions has no path.
	Resource string `json:"resource"`
	// Transports is the 1.0.10 transports key, honoured when SocketOptions has
	// none.
	Transports []string `json:"transports"`
	// ClientsCanWriteToChannels and ClientsCanWriteToClients bring back the
	// 1.0.10 client-to-server messages (off by default).
	ClientsCanWriteToChannels bool `json:"clientsCanWriteToChannels"`
	ClientsCanWriteToClients  bool `json:"clientsCanWriteToClients"`

	// socketd additions.

	// AuthTimeout bounds the authenticate call to Drupal. Default 5s.
	AuthTimeout Duration `json:"authTimeout"`
	// AuthCacheTTL is how long a successful authentication is reused without
	// asking Drupal again. Default 1h; the reference kept entries forever.
	AuthCacheTTL Duration `json:"authCacheTTL"`
	// ClientBundle selects the socket.io browser client served at
	// <path>/socket.io.js: "2" (default, what drupal-node.js served) or "4".
	ClientBundle string `json:"clientBundle"`
	// CORSOrigins lists the origins allowed to use the socket cross-origin.
	// Default ["*"]: any origin, reflected with credentials, as drupal-node.js
	// (socket.io 2.x) did; the page is on Drupal's origin and the socket on
	// another port, so cross-origin is the normal deployment.
	CORSOrigins []string `json:"corsOrigins"`
	// Redis is the URL of the Redis server that joins socketd nodes (and Node
	// socket.io nodes on @socket.io/redis-adapter) into one cluster:
	// redis:// or rediss://, with password and DB. Empty: a single node.
	// RedisPrefix prefixes its channels; empty means "socket.io", the Node
	// adapter's default. cmd/socketd reads both.
	Redis       string `json:"redis"`
	RedisPrefix string `json:"redisPrefix"`
	// Advertise is where the other nodes of a cluster reach this one
	// (http://host:port or https://host:port), announced in Redis so that a
	// request for this node's session landing on another is forwarded here.
	// Empty: derived from host and port. cmd/socketd reads it.
	Advertise string `json:"advertise"`
	// ConnectionStateRecovery is socket.io 4.6+'s option of that name: nil
	// (absent or false) means off; true or an object turns it on. With a
	// cluster (redis) sessions and missed packets are kept in Redis, so a
	// client recovers on any node.
	ConnectionStateRecovery *RecoveryConfig `json:"connectionStateRecovery"`

	// HTTP server bounds, for what a client holds before it has sent a whole
	// request (held long-polling GETs and WebSockets are not affected).

	// KeepAliveTimeout closes a kept-alive connection idle for this long.
	// Default 5s, Node's keepAliveTimeout.
	KeepAliveTimeout Duration `json:"keepAliveTimeout"`
	// HeadersTimeout bounds reading a request's head (and a TLS handshake).
	// Default 10s.
	HeadersTimeout Duration `json:"headersTimeout"`
	// BodyTimeout bounds reading a request's body once its head is in.
	// Default 30s (Node's requestTimeout is 300s).
	BodyTimeout Duration `json:"bodyTimeout"`
	// MaxHalfOpenConnections caps the connections that have not delivered a
	// complete request (new, kept-alive idle, head or body still coming);
	// past it new connections are closed at once. Default 4096.
	MaxHalfOpenConnections int `json:"maxHalfOpenConnections"`

	// Limits on what clients may open and send (docs/OPERATIONS.md,
	// "Limits"); cmd/socketd reads them, the bridge HandshakeTimeout too.

	// MaxConnections caps the clients (Engine.IO sessions) connected at
	// once; a handshake past it gets HTTP 503. Zero means the default that
	// cmd/socketd works out: the open-file limit less 1,024 (at least three
	// quarters of it), so that clients cannot starve Drupal's API calls and
	// the cluster's connections of descriptors. -1: no cap.
	MaxConnections int `json:"maxConnections"`
	// MaxConnectionsPerIP caps the clients one address may have connected;
	// past it HTTP 429. Zero (the default): no cap, since many users may
	// share an address (an office, a school, a carrier's NAT).
	MaxConnectionsPerIP int `json:"maxConnectionsPerIP"`
	// HandshakeRatePerIP is how many connections per second one address
	// may open on average, HandshakeBurstPerIP how many at once (zero
	// means ten seconds' worth); past it HTTP 429 with Retry-After. Zero
	// (the default): no limit, for the same reason.
	HandshakeRatePerIP  float64 `json:"handshakeRatePerIP"`
	HandshakeBurstPerIP int     `json:"handshakeBurstPerIP"`
	// MaxMessagesPerSecond bounds the messages a client may send: that
	// many a second on average, and at once; a client past it is
	// disconnected. Default 100 (Drupal's client sends a few per page);
	// -1: no limit.
	MaxMessagesPerSecond float64 `json:"maxMessagesPerSecond"`
	// HandshakeTimeout is how long a client has to complete its handshake:
	// to connect to the namespace (a socket.io 3.x/4.x client; 2.x
	// clients are in it at once), then, counted from there, to send
	// authenticate. Past it the connection is closed. Default 45s,
	// socket.io's connectTimeout.
	HandshakeTimeout Duration `json:"handshakeTimeout"`
	// TrustedProxies lists the proxies in front of socketd (addresses or
	// CIDRs, e.g. ["10.0.0.0/8"]) whose X-Forwarded-For is believed: a
	// client behind them is known by the right-most address there that is
	// not a trusted proxy, in the limits and the logs. Default none: the
	// client is the address the connection comes from.
	TrustedProxies []string `json:"trustedProxies"`

	// AdminUI turns on the socket.io admin UI (cmd/socketd serves it at
	// /admin/); nil, the key absent, means off.
	AdminUI *AdminUI `json:"adminUI"`

	// Operations (docs/OPERATIONS.md); cmd/socketd reads both.

	// MetricsAddr is the address of the operator's listener, serving
	// /metrics (Prometheus), /healthz and /readyz, e.g. "127.0.0.1:9090".
	// Empty (the default): off. Keep it private: it tells how many clients
	// the server has and what fails.
	MetricsAddr string `json:"metricsAddr"`
	// LogFormat is "text" (the default, log/slog's key=value lines) or
	// "json" (one JSON object per line, for log collectors).
	LogFormat string `json:"logFormat"`
	// DrainTimeout bounds a graceful stop (SIGTERM): the process exits
	// within it, having closed its clients spread out so that they
	// reconnect elsewhere (docs/OPERATIONS.md). Default 10s.
	DrainTimeout Duration `json:"drainTimeout"`

	// Ignored lists keys read from the file that socketd accepts but does not
	// use; the loader fills it so the caller can warn once.
	Ignored []string `json:"-"`
}

// RecoveryConfig is connectionStateRecovery's object, with socket.io's keys
// and defaults.
type RecoveryConfig struct {
	// MaxDisconnectionDuration is how long a client may stay away and still
	// recover. Default 120000 ms.
	MaxDisconnectionDuration Duration `json:"maxDisconnectionDuration"`
	// SkipMiddlewares skips the connect middlewares for a recovered socket.
	// Default true.
	SkipMiddlewares *bool `json:"skipMiddlewares"`
}

// BackendConfig is how socketd reaches Drupal (spec §3.4).
type BackendConfig struct {
	// Host of Drupal. Default "localhost".
	Host string `json:"host"`
	// Port of Drupal. Default 80.
	Port int `json:"port"`
	// Scheme "http" (default) or "https".
	Scheme string `json:"scheme"`
	// BasePath is concatenated with MessagePath as is. Default "/".
	BasePath string `json:"basePath"`
	// MessagePath default "nodejs/message".
	MessagePath string `json:"messagePath"`
	// StrictSSL verifies Drupal's certificate. Default false, as in 1.0.13.
	StrictSSL bool `json:"strictSSL"`
	// HTTPAuth "user:pass" adds basic auth to calls to Drupal.
	HTTPAuth string `json:"httpAuth"`
}

// AdminUI has the shape of @socket.io/admin-ui's instrument() options.
type AdminUI struct {
	// Auth is required: basic credentials or false (no login).
	Auth AdminUIAuth `json:"auth"`
	// Readonly refuses the UI's commands (disconnect, join, leave, emit).
	Readonly bool `json:"readonly"`
	// NamespaceName is the admin namespace. Default "/admin".
	NamespaceName string `json:"namespaceName"`
	// ServerID names this node in the UI. Default: the host name.
	ServerID string `json:"serverId"`
	// Mode is "development" (default: sockets, rooms and events are shown)
	// or "production" (only the server stats).
	Mode string `json:"mode"`
}

// AdminUIAuth is instrument()'s auth option: false, or {"type": "basic",
// "username": ..., "password": <bcrypt hash>}.
type AdminUIAuth struct {
	Set      bool // the key was given (instrument() requires it)
	Disabled bool // auth: false
	Type     string
	Username string
	Password string // a bcrypt hash
}

type adminUIBasic struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// UnmarshalJSON reads false or the basic credentials object.
func (a *AdminUIAuth) UnmarshalJSON(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "null":
		return nil
	case "false":
		*a = AdminUIAuth{Set: true, Disabled: true}
		return nil
	}
	var v adminUIBasic
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New(`adminUI.auth: want false or {"type": "basic", "username": ..., "password": <bcrypt hash>}`)
	}
	*a = AdminUIAuth{Set: true, Type: v.Type, Username: v.Username, Password: v.Password}
	return nil
}

// MarshalJSON writes what UnmarshalJSON reads.
func (a AdminUIAuth) MarshalJSON() ([]byte, error) {
	switch {
	case !a.Set:
		return []byte("null"), nil
	case a.Disabled:
		return []byte("false"), nil
	}
	return json.Marshal(adminUIBasic{Type: a.Type, Username: a.Username, Password: a.Password})
}

// Duration is a time.Duration read from JSON as milliseconds (a number, as the
// Node settings use) or a Go duration string ("5s").
type Duration time.Duration

// Defaults of drupal-node.js 1.0.13 and socketd.
const (
	DefaultPort         = 8080
	DefaultBaseAuthPath = "/nodejs/"
	DefaultBodyLimit    = 1 << 20
	DefaultAuthTimeout  = 5 * time.Second
	DefaultAuthCacheTTL = time.Hour
	DefaultSocketPath   = "/socket.io"

	DefaultKeepAliveTimeout       = 5 * time.Second
	DefaultHeadersTimeout         = 10 * time.Second
	DefaultBodyTimeout            = 30 * time.Second
	DefaultMaxHalfOpenConnections = 4096

	DefaultMaxMessagesPerSecond = 100
	DefaultHandshakeTimeout     = 45 * time.Second
	DefaultDrainTimeout         = 10 * time.Second
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Scheme == "" {
		c.Scheme = "http"
	}
	if c.Host == "" {
		c.Host = "localhost"
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.BodyParserJSONLimit == "" {
		c.BodyParserJSONLimit = "1mb"
	}
	if c.BaseAuthPath == "" {
		c.BaseAuthPath = DefaultBaseAuthPath
	}
	if c.Backend.Host == "" {
		c.Backend.Host = "localhost"
	}
	if c.Backend.Port == 0 {
		c.Backend.Port = 80
	}
	if c.Backend.Scheme == "" {
		c.Backend.Scheme = "http"
	}
	if c.Backend.BasePath == "" {
		c.Backend.BasePath = "/"
	}
	if c.Backend.MessagePath == "" {
		c.Backend.MessagePath = "nodejs/message"
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = Duration(DefaultAuthTimeout)
	}
	if c.AuthCacheTTL == 0 {
		c.AuthCacheTTL = Duration(DefaultAuthCacheTTL)
	}
	if c.ClientBundle == "" {
		c.ClientBundle = "2"
	}
	if c.CORSOrigins == nil {
		c.CORSOrigins = []string{"*"}
	}
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = Duration(DefaultKeepAliveTimeout)
	}
	if c.HeadersTimeout == 0 {
		c.HeadersTimeout = Duration(DefaultHeadersTimeout)
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = Duration(DefaultBodyTimeout)
	}
	if c.MaxHalfOpenConnections == 0 {
		c.MaxHalfOpenConnections = DefaultMaxHalfOpenConnections
	}
	if c.MaxMessagesPerSecond == 0 {
		c.MaxMessagesPerSecond = DefaultMaxMessagesPerSecond
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = Duration(DefaultHandshakeTimeout)
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	return c
}

var sizeRE = regexp.MustCompile(`^(?i)\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$`)

// validProxy reports whether p is an IP address or a CIDR.
func validProxy(p string) bool {
	if _, err := netip.ParsePrefix(p); err == nil {
		return true
	}
	_, err := netip.ParseAddr(p)
	return err == nil
}

// BodyLimit parses BodyParserJSONLimit the way the bytes npm package does
// ("1mb" = 1048576).
func (c Config) BodyLimit() (int64, error) {
	s := c.BodyParserJSONLimit
	if s == "" {
		return DefaultBodyLimit, nil
	}
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("bodyParserJsonLimit %q: want a size like 1mb or 100kb", s)
	}
	var n float64
	_, _ = fmt.Sscan(m[1], &n)
	switch strings.ToLower(m[2]) {
	case "kb":
		n *= 1 << 10
	case "mb":
		n *= 1 << 20
	case "gb":
		n *= 1 << 30
	}
	return int64(n), nil
}

// SocketPath is the Socket.IO path: socketOptions.path, else resource, else
// "/socket.io". It has no trailing slash.
func (c Config) SocketPath() string {
	p, _ := c.SocketOptions["path"].(string)
	if p == "" {
		p = c.Resource
	}
	if p == "" {
		p = DefaultSocketPath
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return strings.TrimRight(p, "/")
}

// Validate reports the first problem with a configuration (defaults applied).
func (c Config) Validate() error {
	var errs []error
	if c.Scheme != "http" && c.Scheme != "https" {
		errs = append(errs, fmt.Errorf("scheme %q: want http or https", c.Scheme))
	}
	if c.Scheme == "https" && (c.SSLKeyPath == "" || c.SSLCertPath == "") {
		errs = append(errs, errors.New("scheme https needs sslKeyPath and sslCertPath"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", c.Port))
	}
	if !strings.HasPrefix(c.BaseAuthPath, "/") || !strings.HasSuffix(c.BaseAuthPath, "/") {
		errs = append(errs, fmt.Errorf("baseAuthPath %q must start and end with /", c.BaseAuthPath))
	}
	if c.Backend.Scheme != "http" && c.Backend.Scheme != "https" {
		errs = append(errs, fmt.Errorf("backend.scheme %q: want http or https", c.Backend.Scheme))
	}
	if c.Backend.Port < 0 || c.Backend.Port > 65535 {
		errs = append(errs, fmt.Errorf("backend.port %d out of range", c.Backend.Port))
	}
	if _, err := c.BodyLimit(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Extensions) > 0 {
		errs = append(errs, fmt.Errorf("extensions %v: JavaScript extensions cannot run in socketd; port them to a Go drupal.Extension", c.Extensions))
	}
	if c.KeepAliveTimeout < 0 || c.HeadersTimeout < 0 || c.BodyTimeout < 0 || c.MaxHalfOpenConnections < 0 {
		errs = append(errs, errors.New("keepAliveTimeout, headersTimeout, bodyTimeout and maxHalfOpenConnections must not be negative"))
	}
	if r := c.ConnectionStateRecovery; r != nil && r.MaxDisconnectionDuration < 0 {
		errs = append(errs, errors.New("connectionStateRecovery.maxDisconnectionDuration must not be negative"))
	}
	if c.MaxConnections < -1 || c.MaxConnectionsPerIP < 0 || c.HandshakeRatePerIP < 0 || c.HandshakeBurstPerIP < 0 ||
		(c.MaxMessagesPerSecond < 0 && c.MaxMessagesPerSecond != -1) || c.HandshakeTimeout < 0 {
		errs = append(errs, errors.New("maxConnections and maxMessagesPerSecond must be -1 (no limit) or not negative; maxConnectionsPerIP, handshakeRatePerIP, handshakeBurstPerIP and handshakeTimeout must not be negative"))
	}
	for _, p := range c.TrustedProxies {
		if !validProxy(p) {
			errs = append(errs, fmt.Errorf("trustedProxies: %q is not an address or a CIDR", p))
		}
	}
	if c.ClientBundle != "2" && c.ClientBundle != "4" {
		errs = append(errs, fmt.Errorf("clientBundle %q: want 2 or 4", c.ClientBundle))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, errors.New("drainTimeout must not be negative"))
	}
	if c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("logFormat %q: want text or json", c.LogFormat))
	}
	if a := c.AdminUI; a != nil {
		switch {
		case !a.Auth.Set:
			errs = append(errs, errors.New(`adminUI.auth is required: {"type": "basic", "username": ..., "password": <bcrypt hash>}, or false for no login`))
		case !a.Auth.Disabled && (a.Auth.Type != "basic" || a.Auth.Username == "" || a.Auth.Password == ""):
			errs = append(errs, errors.New(`adminUI.auth: want type "basic" with a username and a password (a bcrypt hash)`))
		}
		if a.Mode != "" && a.Mode != "development" && a.Mode != "production" {
			errs = append(errs, fmt.Errorf("adminUI.mode %q: want development or production", a.Mode))
		}
	}
	return errors.Join(errs...)
}
