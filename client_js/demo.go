package clientjs

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed demo/index.html demo/drupal-nodejs-demo.js
var demo embed.FS

// demoScript is the script's name, relative to the page.
const demoScript = "drupal-nodejs-demo.js"

// DemoConfig is what the demo page needs to know of the server.
type DemoConfig struct {
	// SocketPath is the Socket.IO path; the page loads
	// <SocketPath>/socket.io.js and connects there. "/socket.io" when empty.
	SocketPath string
	// APIPath is the Drupal API's prefix (baseAuthPath), for the curl
	// examples. "/nodejs/" when empty.
	APIPath string
	// ServiceKey is put in the curl examples' NodejsServiceKey header, so
	// that they work as shown; empty sends none (the API then accepts any
	// call). The page is for development on loopback: it shows the key to
	// whoever can load it.
	ServiceKey string
}

// DemoHandler serves the demo page and its script, for cmd to mount at /demo
// (and /demo/...).
//
// The page is served at the mount point with a trailing slash (a request
// without one is redirected, so the script's relative URL resolves under the
// mount) and the script beside it; other file names get 404. The page is for
// development: it shows how to publish with curl and, with drupal/devdrupal
// as the backend, authenticates as "user-N".
func DemoHandler(cfg DemoConfig) http.Handler {
	if cfg.SocketPath == "" {
		cfg.SocketPath = "/socket.io"
	}
	if cfg.APIPath == "" {
		cfg.APIPath = "/nodejs/"
	}
	if !strings.HasPrefix(cfg.SocketPath, "/") || !strings.HasPrefix(cfg.APIPath, "/") {
		panic(fmt.Sprintf("clientjs: paths %q and %q must start with /", cfg.SocketPath, cfg.APIPath))
	}
	cfg.SocketPath = strings.TrimRight(cfg.SocketPath, "/")
	if !strings.HasSuffix(cfg.APIPath, "/") {
		cfg.APIPath += "/"
	}
	page := template.Must(template.ParseFS(demo, "demo/index.html"))
	var html bytes.Buffer
	if err := page.Execute(&html, cfg); err != nil {
		panic(err) // the embedded template is ours: a failure is a bug
	}
	script, err := demo.ReadFile("demo/" + demoScript)
	if err != nil {
		panic(err)
	}
	return &demoHandler{page: html.Bytes(), script: script}
}

type demoHandler struct {
	page, script []byte
}

func (h *demoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var body []byte
	switch name := path.Base(r.URL.Path); {
	case name == demoScript:
		w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
		body = h.script
	case name == "index.html" || strings.HasSuffix(r.URL.Path, "/"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		body = h.page
	case !strings.Contains(name, "."):
		// The mount point itself, /demo: redirect to /demo/ so the page's
		// relative script URL stays under the mount.
		target := name + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
