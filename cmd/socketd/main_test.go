package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/server/engine"
)

func noFile(string) bool { return false }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nodejs.config.js")
	js := `settings = { port: 9001, host: "0.0.0.0", serviceKey: "from-file", backend: { host: "drupal.local", port: 8081 }, jsEtag: true };`
	if err := os.WriteFile(file, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	tt := []struct {
		name  string
		flags flags
		env   map[string]string
		check func(t *testing.T, c nodejsconfig.Config)
	}{
		{"file only", flags{config: file}, nil, func(t *testing.T, c nodejsconfig.Config) {
			if c.Port != 9001 || c.ServiceKey != "from-file" || c.Backend.Host != "drupal.local" || c.BaseAuthPath != "/nodejs/" {
				t.Fatalf("%+v", c)
			}
			if len(c.Ignored) != 1 || c.Ignored[0] != "jsEtag" {
				t.Fatalf("ignored %v", c.Ignored)
			}
		}},
		{"env over file", flags{config: file}, map[string]string{"NODE_SERVICE_KEY": "from-env", "NODE_BACKEND_PORT": "8082"}, func(t *testing.T, c nodejsconfig.Config) {
			if c.ServiceKey != "from-env" || c.Backend.Port != 8082 {
				t.Fatalf("%+v", c)
			}
		}},
		{"flags over env", flags{config: file, serviceKey: "from-flag", port: 9002, backend: "https://cms.example:8443/sub/"},
			map[string]string{"NODE_SERVICE_KEY": "from-env"}, func(t *testing.T, c nodejsconfig.Config) {
				b := c.Backend
				if c.ServiceKey != "from-flag" || c.Port != 9002 || b.Scheme != "https" || b.Host != "cms.example" || b.Port != 8443 || b.BasePath != "/sub/" {
					t.Fatalf("%+v", c)
				}
			}},
		{"dev default", flags{dev: true, port: 9100}, nil, func(t *testing.T, c nodejsconfig.Config) {
			if c.Host != "127.0.0.1" || c.Backend.Host != "127.0.0.1" || c.Backend.Port != 9100 || c.Backend.MessagePath != "dev/drupal/nodejs/message" {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.flags, env(tc.env), noFile)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.js")
	_ = os.WriteFile(bad, []byte("settings = { port: "), 0o600)
	ext := filepath.Join(dir, "ext.json")
	_ = os.WriteFile(ext, []byte(`{"extensions":["chat"]}`), 0o600)
	tt := []struct {
		name  string
		flags flags
		env   map[string]string
		want  string
	}{
		{"no config", flags{}, nil, "no configuration"},
		{"syntax error", flags{config: bad}, nil, "bad.js"},
		{"missing file", flags{config: filepath.Join(dir, "nope.js")}, nil, "nope.js"},
		{"extensions refused", flags{config: ext}, nil, "extensions"},
		{"bad env", flags{dev: true}, map[string]string{"NODE_BACKEND_PORT": "abc"}, "NODE_BACKEND_PORT"},
		{"bad backend flag", flags{config: ext, backend: "ftp://x"}, nil, "-backend \"ftp://x\""},
		{"bad bundle", flags{dev: true, clientBundle: "3"}, nil, "clientBundle"},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.flags, env(tc.env), noFile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	f, err := parseFlags([]string{"-port", "1", "/etc/nodejs.config.js"}, io.Discard)
	if err != nil || f.config != "/etc/nodejs.config.js" || f.port != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	if _, err := parseFlags([]string{"a.js", "b.js"}, io.Discard); err == nil {
		t.Fatal("two files accepted")
	}
	if _, err := parseFlags([]string{"-config", "a.js", "b.js"}, io.Discard); err == nil {
		t.Fatal("-config and an argument accepted")
	}
}

func TestEngineConfigFromSocketOptions(t *testing.T) {
	c := nodejsconfig.Config{SocketOptions: map[string]any{
		"pingInterval": float64(10000), "pingTimeout": float64(5000), "transports": []any{"websocket"},
		"maxHttpBufferSize": float64(2e6), "cookie": false, "origins": "https://a.example https://b.example",
	}}.WithDefaults()
	ec, err := engineConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if ec.PingInterval != 10*time.Second || ec.PingTimeout != 5*time.Second || ec.MaxHTTPBufferSize != 2e6 ||
		len(ec.Transports) != 1 || ec.Transports[0] != engine.WebSocket || ec.Cookie != nil ||
		strings.Join(ec.CORS.AllowedOrigins, ",") != "https://a.example,https://b.example" {
		t.Fatalf("%+v", ec)
	}
	c.SocketOptions = map[string]any{"transports": []any{"flashsocket"}}
	if _, err := engineConfig(c); err == nil {
		t.Fatal("no usable transport accepted")
	}
	// Defaults: the 2.x sticky cookie on, every origin.
	ec, _ = engineConfig(nodejsconfig.Config{}.WithDefaults())
	if ec.Cookie == nil || ec.Cookie.Name != "io" || ec.CORS.AllowedOrigins[0] != "*" {
		t.Fatalf("%+v", ec)
	}
}

// TestServeHTTPS starts socketd with scheme https and a passphrase-protected key
// and checks the health route answers over TLS, then shuts down on cancel.
func TestServeHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir, "s3cret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := nodejsconfig.Config{Scheme: "https", Host: "127.0.0.1", Port: port, ServiceKey: "k",
		SSLCertPath: certFile, SSLKeyPath: keyFile, SSLPassPhrase: "s3cret"}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/nodejs/health/check"
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("NodejsServiceKey", "k")
	resp, err := client.Do(req) // the listener is open already: no wait needed
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS == nil || !strings.Contains(string(body), `"version":"1.0.13"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func writeSelfSigned(t *testing.T, dir, pass string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	//nolint:staticcheck // legacy PEM encryption is what sslPassPhrase keys use
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", kder, []byte(pass), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	return certFile, keyFile
}

func TestVersionFlag(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "socketd "+version+" (go") {
		t.Fatalf("-version printed %q", out.String())
	}
}

func TestHTTPLimitsConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nodejs.config.js")
	js := `settings = { keepAliveTimeout: 2000, bodyTimeout: "45s", maxHalfOpenConnections: 100 };`
	if err := os.WriteFile(file, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(flags{config: file, headers: 3 * time.Second}, env(nil), noFile)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: c}
	if got, want := a.httpLimits(), (httpLimits{KeepAlive: 2 * time.Second, Headers: 3 * time.Second, Body: 45 * time.Second, MaxHalfOpen: 100}); got != want {
		t.Fatalf("limits %+v, want %+v", got, want)
	}
	c, err = loadConfig(flags{dev: true, maxHalfOpen: 7}, env(nil), noFile)
	if err != nil {
		t.Fatal(err)
	}
	a = &app{cfg: c}
	if got, want := a.httpLimits(), (httpLimits{KeepAlive: 5 * time.Second, Headers: 10 * time.Second, Body: 30 * time.Second, MaxHalfOpen: 7}); got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if _, err := loadConfig(flags{dev: true, body: -time.Second}, env(nil), noFile); err == nil || !strings.Contains(err.Error(), "bodyTimeout") {
		t.Fatalf("negative body timeout: %v", err)
	}
}

// -dev is the same in every directory: a ./nodejs.config.js (a Drupal
// site's) is not read, NODE_BACKEND_* cannot move the stand-in, and a file
// or -backend given with -dev is refused with a message.
func TestDevModeIgnoresSiteConfig(t *testing.T) {
	dir := t.TempDir()
	js := `settings = { port: 9001, serviceKey: "site-key", backend: { host: "drupal.site", port: 8081 } };`
	if err := os.WriteFile(filepath.Join(dir, "nodejs.config.js"), []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	c, err := loadConfig(flags{}, env(nil), fileExists)
	if err != nil || c.Backend.Host != "drupal.site" || c.ServiceKey != "site-key" {
		t.Fatalf("without -dev ./nodejs.config.js is read: %+v %v", c, err)
	}
	c, err = loadConfig(flags{dev: true}, env(map[string]string{"NODE_BACKEND_HOST": "elsewhere", "NODE_MESSAGE_PATH": "/x"}), fileExists)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Backend
	if c.ServiceKey != "dev-service-key" || c.Port != 8080 || b.Host != "127.0.0.1" || b.Port != 8080 || b.BasePath+b.MessagePath != devBackendPath {
		t.Fatalf("-dev took the site's settings: %+v", c)
	}
	if !devIgnoresFile(flags{dev: true}, fileExists) || devIgnoresFile(flags{}, fileExists) {
		t.Fatal("devIgnoresFile")
	}
	for _, f := range []flags{{dev: true, config: "nodejs.config.js"}, {dev: true, backend: "http://drupal.site/"}} {
		if _, err := loadConfig(f, env(nil), fileExists); err == nil || !strings.Contains(err.Error(), "-dev") {
			t.Errorf("%+v: %v, want a refusal naming -dev", f, err)
		}
	}
}

// -h is a request, not a mistake: the synopsis and flags on stdout, no error
// (exit 0). A wrong flag is an error that names it and gives the synopsis.
func TestHelpFlag(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out, errOut strings.Builder
		if err := run([]string{arg}, &out, &errOut); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if first, _, _ := strings.Cut(out.String(), "\n"); first != synopsis || !strings.Contains(out.String(), "-dev") || errOut.Len() != 0 {
			t.Fatalf("%s: stdout %q stderr %q", arg, out.String(), errOut.String())
		}
	}
	if err := run([]string{"-nope"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-nope") || !strings.Contains(err.Error(), synopsis) {
		t.Fatalf("-nope: %v", err)
	}
}
