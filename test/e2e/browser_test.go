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
// the module's nodejs.js does (browser/drupal-nodejs.js, as D7 7.x-1.13 or D8
// 8.x-1.3 write it, spec §5): default transports, so it starts on polling and must
// upgrade to websocket, emits "authenticate" with the page's content tokens, and
// dispatches "message" events to Drupal.Nodejs callbacks. The D7 page runs with
// socketd's socket.io-client 2.x bundle, the D8 page with the 4.x one, on one node
// and on a cluster of two behind the round-robin proxy (drupal_cluster_test.go),
// the module's calls going to each node in turn.

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
	for _, run := range []struct {
		drupal  string // the page's module: "d7" or "d8"
		bundle  string // socketd's client bundle: 2 or 4
		eio     string // the Engine.IO protocol the bundle speaks: 3 (2.x) or 4 (4.x)
		scheme  string // how socketd serves: https with the e2e certificate (tls_test.go)
		cluster bool   // two nodes behind the round-robin proxy
	}{
		{"d7", "2", "3", "http", false},
		{"d8", "4", "4", "http", false},
		{"d7", "2", "3", "https", false},
		{"d7", "2", "3", "http", true},
		{"d8", "4", "4", "http", true},
	} {
		name := run.drupal + "-bundle" + run.bundle
		if run.scheme == "https" {
			name += "-tls"
		}
		if run.cluster {
			name = "cluster-" + name
		}
		t.Run(name, func(t *testing.T) {
			drupal := newFakeDrupal(t, map[string]drupalUser{"tok-browser": {UID: 7, Channels: []string{"nodejs_user_7"}}})
			var api drupalAPI
			var socketdURL string
			if run.cluster {
				cl := startDrupalCluster(t, drupal, map[string]any{"clientBundle": run.bundle})
				api, socketdURL = cl.api, cl.proxy.srv.URL
				defer cl.checkProxied(t)
			} else {
				srv := startSocketdScheme(t, drupal.srv.URL, run.bundle, run.scheme)
				api, socketdURL = srv, srv.URL
			}
			checkClientBundle(t, socketdURL+"/socket.io/socket.io.js")
			// Drupal made a content token for the page it renders; the
			// page brings it with its authentication.
			api.post(t, "content/token", `{"channel":"node_7","token":"ct-page","notifyOnDisconnect":false}`)
			page := startDrupalPage(t, socketdURL, drupalPage{Drupal: run.drupal, AuthToken: "tok-browser",
				ContentTokens: map[string]string{"node_7": "ct-page"}})

			args := []string{"--url", page.URL + "/", "--user-data-dir", t.TempDir(), "--executable", chromiumPath,
				"--timeout", strconv.Itoa(int(browserScriptTimeout / time.Millisecond))}
			if run.scheme == "https" {
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
				t.Fatalf("the page has no io: %s/socket.io/socket.io.js did not load", socketdURL)
			}
			var info struct {
				Drupal string `json:"drupal"`
				EIO    string `json:"eio"`
			}
			_ = json.Unmarshal([]byte(loaded.line), &info)
			if info.Drupal != run.drupal {
				t.Errorf("the page ran as %q, want %q", info.Drupal, run.drupal)
			}
			open, _ := c.next(t, "page", drupalEventTimeout, "Engine.IO open", func(e clientEvent) bool { return e.Ev == "open" })
			_ = json.Unmarshal([]byte(open.line), &info)
			if info.EIO != run.eio {
				t.Errorf("the page speaks EIO=%s, want EIO=%s (socket.io-client %s.x bundle)", info.EIO, run.eio, run.bundle)
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
			drupal.waitMessage(t, drupalEventTimeout, "userOnline for the page's user", backendMessage("userOnline", "uid", 7))
			// 4.x may finish the upgrade before the connect event, 2.x after it.
			up := c.find(t, "page", drupalEventTimeout, "upgrade", func(e clientEvent) bool { return e.Ev == "upgrade" })
			if up.Transport != "websocket" {
				t.Errorf("upgraded to %q, want websocket", up.Transport)
			}

			// The user's channel, a broadcast, the content token channel the
			// page joined with its token: each reaches the page's callback.
			msgs := []string{
				`{"channel":"nodejs_user_7","callback":"e2eBrowser","data":{"subject":"Grüße","body":"from <b>Drupal</b>"}}`,
				`{"broadcast":true,"channel":"nodejs_notify","callback":"e2eBrowser","data":{"subject":"to all"}}`,
			}
			for _, msg := range msgs {
				api.publish(t, msg, 1)
			}
			content := `{"channel":"node_7","callback":"e2eBrowser","data":{"subject":"node 7 changed"}}`
			api.post(t, "content/token/message", content)
			msgs = append(msgs, content)
			var got clientEvent
			for _, msg := range msgs {
				var skipped []clientEvent
				got, skipped = c.next(t, "page", drupalEventTimeout, "message "+msg, func(e clientEvent) bool {
					return e.Ev == "message" && e.callback() == "e2eBrowser"
				})
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
			}

			// Drupal logs the session out: the page is disconnected and does
			// not come back; its user goes offline after the grace period.
			api.post(t, "user/logout/tok-browser", "")
			if r := c.disconnected(t, "page", drupalEventTimeout); r != "io server disconnect" {
				t.Errorf("logged-out page: disconnect reason %q, want %q", r, "io server disconnect")
			}
			drupal.waitMessage(t, drupalOfflineTimeout, "userOffline for the page's user", backendMessage("userOffline", "uid", 7))
			drupal.checkTransitions(t, 1, 1, 7)

			p.send(t, "done")
			res := p.result(t, nil)
			if !res.OK {
				t.Fatalf("browser script failed: %s\nstderr:\n%s", res.Line, res.Stderr)
			}
			t.Logf("%s page, bundle %s: opened on %s, upgraded to %s, messages received on %s", run.drupal, run.bundle, open.Transport, up.Transport, got.Transport)
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

// drupalPage is what Drupal renders into the page.
type drupalPage struct {
	Drupal        string // "d7" (Drupal.settings.nodejs) or "d8" (drupalSettings.nodejs)
	AuthToken     string
	ContentTokens map[string]string // channel -> token, or nil
}

// startDrupalPage serves browser/index.html (the Drupal page, pointing at socketd)
// and browser/drupal-nodejs.js from an origin of its own on 127.0.0.1.
func startDrupalPage(t *testing.T, socketdURL string, page drupalPage) *httptest.Server {
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
	tokens := page.ContentTokens
	if tokens == nil {
		tokens = map[string]string{}
	}
	data := struct {
		D8            bool
		Scheme        string
		Secure        bool
		Host          string
		Port          int
		AuthToken     string
		ContentTokens map[string]string
		SocketIOJS    string
	}{page.Drupal == "d8", scheme, scheme == "https", host, port, page.AuthToken, tokens, socketdURL + "/socket.io/socket.io.js"}
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
