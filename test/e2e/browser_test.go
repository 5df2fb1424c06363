package e2e

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The browser path of a Drupal site: headless Chromium (Debian's chromium package,
// driven by playwright-core from npm through browser/run.mjs; no browser is ever
// downloaded) opens a page served from another origin than socketd's. The page
// loads socketd's /socket.io/socket.io.js with a <script> tag and connects the way
// the module's nodejs.js does (browser/drupal-nodejs.js): default transports, so it
// starts on polling and must upgrade to websocket, emits "authenticate", and
// dispatches "message" events to Drupal.Nodejs callbacks. It runs once with
// socketd's socket.io-client 2.x bundle and once with the 4.x one.

const (
	chromiumPath         = "/usr/bin/chromium"
	browserScriptTimeout = 2 * time.Minute
	browserStartTimeout  = 60 * time.Second // launching Chromium and loading the page
	browserCloseTimeout  = 20 * time.Second
)

// requireChromium skips the test (fails it with CI=true) when Debian's chromium is
// not installed (`make e2e-deps` installs it as root).
func requireChromium(t testing.TB) {
	t.Helper()
	if st, err := os.Stat(chromiumPath); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		skipOrFail(t, "%s not found: install Debian's chromium package (apt-get install chromium)", chromiumPath)
	}
}

func TestBrowserDrupalPage(t *testing.T) {
	requireChromium(t)
	node := requireNode(t, "playwright-core")
	for _, bundle := range []struct {
		name   string
		eio    string // the Engine.IO protocol the bundle speaks: 3 (2.x) or 4 (4.x)
		scheme string // how socketd serves: https with the e2e certificate (tls_test.go)
	}{
		{"2", "3", "http"},
		{"4", "4", "http"},
		{"2", "3", "https"},
	} {
		name := "bundle" + bundle.name
		if bundle.scheme == "https" {
			name += "-tls"
		}
		t.Run(name, func(t *testing.T) {
			drupal := newFakeDrupal(t, map[string]drupalUser{"tok-browser": {UID: 7, Channels: []string{"nodejs_user_7"}}})
			srv := startSocketdScheme(t, drupal.srv.URL, bundle.name, bundle.scheme)
			checkClientBundle(t, srv.URL+"/socket.io/socket.io.js")
			page := startDrupalPage(t, srv.URL, "tok-browser")

			args := []string{"--url", page.URL + "/", "--user-data-dir", t.TempDir(), "--executable", chromiumPath,
				"--timeout", strconv.Itoa(int(browserScriptTimeout / time.Millisecond))}
			if bundle.scheme == "https" {
				// Chromium trusts the e2e server key, not every certificate.
				args = append(args, "--trust-spki", e2eTLS.pair.SPKIHash())
			}
			p := startNodeScript(t, node, browserScriptTimeout, "../browser/run.mjs", args...)
			c := watchClientEvents(p)
			// Let the script close Chromium itself (playwright-core ends the browser
			// it launched) before the cleanup of startNodeScript kills the script
			// and t.TempDir removes the profile.
			t.Cleanup(func() { c.closeAndWait(browserCloseTimeout) })
			defer func() {
				if t.Failed() {
					t.Logf("browser events:\n%s\nstderr:\n%s", p.stdout, p.stderr)
				}
			}()

			loaded, _ := c.next(t, "page", browserStartTimeout, "the page running drupal-nodejs.js", func(e clientEvent) bool {
				return e.Ev == "loaded" || e.Ev == "no_io"
			})
			if loaded.Ev == "no_io" {
				t.Fatalf("the page has no io: %s/socket.io/socket.io.js did not load", srv.URL)
			}
			open, _ := c.next(t, "page", drupalEventTimeout, "Engine.IO open", func(e clientEvent) bool { return e.Ev == "open" })
			var info struct {
				EIO string `json:"eio"`
			}
			_ = json.Unmarshal([]byte(open.line), &info)
			if info.EIO != bundle.eio {
				t.Errorf("the page speaks EIO=%s, want EIO=%s (socket.io-client %s.x bundle)", info.EIO, bundle.eio, bundle.name)
			}
			if open.Transport != "polling" {
				t.Errorf("first transport %q, want polling", open.Transport)
			}
			conn, _ := c.next(t, "page", drupalEventTimeout, "connect", func(e clientEvent) bool { return e.Ev == "connect" })
			auth, _ := c.next(t, "page", drupalEventTimeout, "clientAuthenticated", func(e clientEvent) bool {
				return e.Ev == "message" && e.callback() == "clientAuthenticated"
			})
			if !strings.Contains(auth.Raw, `"clientId":"`+conn.ID+`"`) || !strings.Contains(auth.Raw, `"uid":7`) {
				t.Errorf("clientAuthenticated %s, want uid 7 and clientId %s", auth.Raw, conn.ID)
			}
			m := drupal.waitMessage(t, drupalEventTimeout, "authenticate from the page", backendMessage("authenticate", "authToken", "tok-browser"))
			if m["clientId"] != conn.ID {
				t.Errorf("Drupal was asked about clientId %v, the page's socket.id is %s", m["clientId"], conn.ID)
			}
			// 4.x may finish the upgrade before the connect event, 2.x after it.
			up := c.find(t, "page", drupalEventTimeout, "upgrade", func(e clientEvent) bool { return e.Ev == "upgrade" })
			if up.Transport != "websocket" {
				t.Errorf("upgraded to %q, want websocket", up.Transport)
			}

			msg := `{"channel":"nodejs_user_7","callback":"e2eBrowser","data":{"subject":"Grüße","body":"from <b>Drupal</b>"}}`
			srv.publish(t, msg, 1)
			got, skipped := c.message(t, "page", "Grüße")
			if got.Raw != msg {
				t.Errorf("the page's callback got %s, want %s", got.Raw, msg)
			}
			if got.Transport != "websocket" {
				t.Errorf("message received on %q, want websocket", got.Transport)
			}
			for _, e := range append(skipped, got) {
				if e.Ev == "disconnect" || e.Ev == "connect_error" || e.Ev == "pageerror" {
					t.Errorf("page: %s", e.line)
				}
			}

			p.send(t, "done")
			res := p.result(t, nil)
			if !res.OK {
				t.Fatalf("browser script failed: %s\nstderr:\n%s", res.Line, res.Stderr)
			}
			t.Logf("bundle %s: opened on %s, upgraded to %s, message received on %s", bundle.name, open.Transport, up.Transport, got.Transport)
		})
	}
}

// checkClientBundle fetches socketd's client bundle as the page's <script> tag will.
func checkClientBundle(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(body) < 1000 {
		t.Fatalf("GET %s: %s, %d bytes; build the bundles with `make client-js`", url, resp.Status, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("GET %s: Content-Type %q, want JavaScript", url, ct)
	}
}

// startDrupalPage serves browser/index.html (the Drupal page, pointing at socketd)
// and browser/drupal-nodejs.js from an origin of its own on 127.0.0.1.
func startDrupalPage(t *testing.T, socketdURL, authToken string) *httptest.Server {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("browser", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("browser", "drupal-nodejs.js"))
	if err != nil {
		t.Fatal(err)
	}
	scheme, rest, _ := strings.Cut(socketdURL, "://")
	host, portStr, _ := strings.Cut(rest, ":")
	port, _ := strconv.Atoi(portStr)
	data := struct {
		Scheme     string
		Secure     bool
		Host       string
		Port       int
		AuthToken  string
		SocketIOJS string
	}{scheme, scheme == "https", host, port, authToken, socketdURL + "/socket.io/socket.io.js"}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := tmpl.Execute(w, data); err != nil {
			t.Errorf("page template: %v", err)
		}
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/drupal-nodejs.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(script)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	if s.URL == socketdURL {
		t.Fatalf("the page must be on another origin than socketd (%s)", s.URL)
	}
	return s
}
