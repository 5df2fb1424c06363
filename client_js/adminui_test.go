package clientjs

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func requireAdminUI(t *testing.T) {
	t.Helper()
	if AdminUIVersion() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("socket.io admin UI not embedded: `make client-js` must run before the tests")
		}
		t.Skip("socket.io admin UI not embedded: run `make client-js` first")
	}
}

func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// The embedded UI is the version package.json pins.
func TestAdminUIVersionPinned(t *testing.T) {
	requireAdminUI(t)
	raw, err := os.ReadFile("admin_ui/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	if want := pkg.Dependencies["@socket.io/admin-ui"]; AdminUIVersion() != want {
		t.Errorf("embedded admin UI %q, package.json pins %q", AdminUIVersion(), want)
	}
}

func TestAdminUIHandler(t *testing.T) {
	requireAdminUI(t)
	h := AdminUIHandler(AdminUIConfig{Prefix: "/admin/", SocketPath: "/realtime", Namespace: "/admin"})

	r := get(t, h, "/admin/")
	page := body(t, r)
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin/: %s %s", r.Status, r.Header.Get("Content-Type"))
	}
	if r.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options %q", r.Header.Get("X-Frame-Options"))
	}
	cfg, app := strings.Index(page, `<script src="socketd-config.js">`), strings.Index(page, `<script src="js/app.`)
	if cfg < 0 || app < 0 || cfg > app {
		t.Fatalf("the page does not load socketd-config.js before the UI:\n%s", page)
	}
	// Nothing from other sites: the icon font is served from here.
	if strings.Contains(page, "https://") || !strings.Contains(page, `href="`+mdiCSS+`"`) {
		t.Errorf("the page loads from other sites, or not the local icon font:\n%s", page)
	}
	r = get(t, h, "/admin/"+mdiCSS)
	css := body(t, r)
	if r.StatusCode != http.StatusOK || !strings.Contains(css, "mdi-logout") {
		t.Errorf("GET %s: %s", mdiCSS, r.Status)
	}
	for _, ref := range regexp.MustCompile(`url\("?\.\./fonts/([^?")]+\.woff2)`).FindAllStringSubmatch(css, -1) {
		if r := get(t, h, "/admin/mdi/fonts/"+ref[1]); r.StatusCode != http.StatusOK {
			t.Errorf("GET the icon font %s: %s", ref[1], r.Status)
		}
	}

	r = get(t, h, "/admin/socketd-config.js")
	if js := body(t, r); r.StatusCode != http.StatusOK || !strings.Contains(js, `s.setItem("path", "/realtime")`) || !strings.Contains(js, `s.setItem("namespace", "/admin")`) {
		t.Errorf("socketd-config.js: %s\n%s", r.Status, js)
	}

	// Every file the page names is served, hashed names cached for good.
	for _, ref := range []string{"js/app.", "js/chunk-vendors.", "css/app.", "css/chunk-vendors."} {
		i := strings.Index(page, ref)
		if i < 0 {
			t.Errorf("the page names no %s file", ref)
			continue
		}
		name := page[i : i+strings.IndexAny(page[i:], `"`)]
		r := get(t, h, "/admin/"+name)
		if n := len(body(t, r)); r.StatusCode != http.StatusOK || n < 100 {
			t.Errorf("GET /admin/%s: %s, %d bytes", name, r.Status, n)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET /admin/%s: Cache-Control %q", name, cc)
		}
	}

	for target, status := range map[string]int{
		"/admin":                http.StatusMovedPermanently,
		"/admin/favicon.png":    http.StatusOK,
		"/admin/VERSION":        http.StatusNotFound,
		"/admin/js":             http.StatusNotFound,
		"/admin/nope.js":        http.StatusNotFound,
		"/admin/../clientjs.go": http.StatusNotFound,
		"/other/index.html":     http.StatusNotFound,
	} {
		if r := get(t, h, target); r.StatusCode != status {
			t.Errorf("GET %s: %s, want %d", target, r.Status, status)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admin/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /admin/: %d", rec.Code)
	}
}
