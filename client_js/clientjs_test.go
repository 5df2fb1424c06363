package clientjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// serve runs one request through h.
func serve(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// pinnedVersion reads the exact version package.json pins for an npm alias:
// "npm:socket.io-client@2.5.0" gives "2.5.0".
func pinnedVersion(t *testing.T, alias string) string {
	t.Helper()
	raw, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	version, ok := strings.CutPrefix(pkg.Dependencies[alias], "npm:socket.io-client@")
	if !ok {
		t.Fatalf("package.json: %s is %q, want npm:socket.io-client@<exact version>", alias, pkg.Dependencies[alias])
	}
	return version
}

// requireBuilt skips when `make client-js` did not run before the build; the
// make targets that run these tests build the bundles first.
func requireBuilt(t *testing.T) {
	t.Helper()
	if !Available("2") || !Available("4") {
		t.Skip("socket.io client bundles not embedded: run `make client-js` first")
	}
}

// TestEmbedMatchesDisk guards the //go:embed pattern: whatever `make
// client-js` left in dist/ must have been embedded.
func TestEmbedMatchesDisk(t *testing.T) {
	for _, major := range []string{"2", "4"} {
		_, diskErr := check(os.DirFS("."), major)
		if onDisk := diskErr == nil; onDisk != Available(major) {
			t.Errorf("major %s: complete on disk %v (%v), but Available %v", major, onDisk, diskErr, Available(major))
		}
	}
}

func TestHandlerServesBundles(t *testing.T) {
	requireBuilt(t)
	const js, mapType = "application/javascript; charset=utf-8", "application/json; charset=utf-8"
	tests := []struct {
		major, name string
		npmFile     string // the file of the npm package it must equal
		contentType string
	}{
		// 2.x's socket.io.js is already minified: .min.js names the same file.
		{"2", "socket.io.js", "socket.io-client-v2/dist/socket.io.js", js},
		{"2", "socket.io.min.js", "socket.io-client-v2/dist/socket.io.js", js},
		{"2", "socket.io.js.map", "socket.io-client-v2/dist/socket.io.js.map", mapType},
		{"2", "socket.io.min.js.map", "socket.io-client-v2/dist/socket.io.js.map", mapType},
		{"4", "socket.io.js", "socket.io-client-v4/dist/socket.io.js", js},
		{"4", "socket.io.min.js", "socket.io-client-v4/dist/socket.io.min.js", js},
		{"4", "socket.io.js.map", "socket.io-client-v4/dist/socket.io.js.map", mapType},
		{"4", "socket.io.min.js.map", "socket.io-client-v4/dist/socket.io.min.js.map", mapType},
	}
	for _, tt := range tests {
		t.Run("v"+tt.major+"/"+tt.name, func(t *testing.T) {
			version := pinnedVersion(t, "socket.io-client-v"+tt.major)
			if got := Version(tt.major); got != version {
				t.Fatalf("Version(%q) = %q, package.json pins %q", tt.major, got, version)
			}
			// Mounted as cmd does it: under the socket path, prefix kept.
			rec := serve(Handler(tt.major), http.MethodGet, "/socket.io/"+tt.name, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
			}
			want, err := os.ReadFile("node_modules/" + tt.npmFile)
			if err != nil {
				t.Fatalf("the npm package's file: %v", err)
			}
			if !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("body (%d bytes) differs from node_modules/%s (%d bytes)", rec.Body.Len(), tt.npmFile, len(want))
			}
			for key, want := range map[string]string{
				"ETag":           `"` + version + `"`,
				"Cache-Control":  "public, max-age=0",
				"Content-Type":   tt.contentType,
				"Content-Length": strconv.Itoa(len(want)),
			} {
				if got := rec.Header().Get(key); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			if tt.contentType == js && !bytes.Contains(rec.Body.Bytes()[:200], []byte("Socket.IO v"+version)) {
				t.Errorf("bundle banner does not name Socket.IO v%s", version)
			}
		})
	}
}

func TestHandlerCachingAndMethods(t *testing.T) {
	requireBuilt(t)
	h := Handler("2")
	etag := `"` + Version("2") + `"`
	size := serve(h, http.MethodGet, "/socket.io/socket.io.js", nil).Body.Len()

	tests := []struct {
		name       string
		method     string
		target     string
		header     http.Header
		wantStatus int
		wantBody   bool
	}{
		{"If-None-Match with the version gives 304", http.MethodGet, "/socket.io/socket.io.js",
			http.Header{"If-None-Match": {etag}}, http.StatusNotModified, false},
		{"If-None-Match on the map too", http.MethodGet, "/socket.io/socket.io.js.map",
			http.Header{"If-None-Match": {etag}}, http.StatusNotModified, false},
		{"another version's ETag gives the new bundle", http.MethodGet, "/socket.io/socket.io.js",
			http.Header{"If-None-Match": {`"2.3.0"`}}, http.StatusOK, true},
		{"HEAD has the headers and no body", http.MethodHead, "/socket.io/socket.io.js", nil, http.StatusOK, false},
		{"HEAD with If-None-Match", http.MethodHead, "/socket.io/socket.io.js",
			http.Header{"If-None-Match": {etag}}, http.StatusNotModified, false},
		{"POST is refused", http.MethodPost, "/socket.io/socket.io.js", nil, http.StatusMethodNotAllowed, true},
		{"unknown name", http.MethodGet, "/socket.io/socket.io.slim.js", nil, http.StatusNotFound, true},
		{"any mount prefix", http.MethodGet, "/custom/path/socket.io.js", nil, http.StatusOK, true},
		{"no prefix (http.StripPrefix)", http.MethodGet, "socket.io.js", nil, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/", nil)
			req.URL.Path = tt.target
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.Len() > 0; got != tt.wantBody {
				t.Errorf("body present %v, want %v (%d bytes)", got, tt.wantBody, rec.Body.Len())
			}
			switch rec.Code {
			case http.StatusOK, http.StatusNotModified:
				if got := rec.Header().Get("ETag"); got != etag {
					t.Errorf("ETag %q, want %q", got, etag)
				}
				if got := rec.Header().Get("Cache-Control"); got != "public, max-age=0" {
					t.Errorf("Cache-Control %q", got)
				}
			case http.StatusMethodNotAllowed:
				if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow %q", got)
				}
			}
			if tt.method == http.MethodHead && rec.Code == http.StatusOK {
				if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(size) {
					t.Errorf("HEAD Content-Length %q, want %d", got, size)
				}
			}
		})
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	fresh := fstest.MapFS{"dist/.keep": {}} // what a fresh clone embeds
	partial := fstest.MapFS{                // VERSION written, a file missing
		"dist/v4/VERSION":          {Data: []byte("4.8.4\n")},
		"dist/v4/socket.io.js":     {Data: []byte("//")},
		"dist/v4/socket.io.min.js": {Data: []byte("//")},
		"dist/v4/socket.io.js.map": {Data: []byte("{}")},
	}
	for _, tc := range []struct {
		name  string
		fsys  fstest.MapFS
		major string
	}{{"fresh clone v2", fresh, "2"}, {"fresh clone v4", fresh, "4"}, {"missing map", partial, "4"}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := check(tc.fsys, tc.major); !errors.Is(err, errNotBuilt) {
				t.Errorf("check: %v, want errNotBuilt", err)
			}
			h := newHandler(tc.fsys, tc.major)
			rec := serve(h, http.MethodGet, "/socket.io/socket.io.js", nil)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", rec.Code)
			}
			if got, want := rec.Body.String(), "socket.io client bundle not built: run `make client-js`\n"; got != want {
				t.Errorf("body %q, want %q", got, want)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
				t.Errorf("Content-Type %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if rec := serve(h, http.MethodGet, "/socket.io/other.js", nil); rec.Code != http.StatusNotFound {
				t.Errorf("unknown name: status %d, want 404", rec.Code)
			}
			if rec := serve(h, http.MethodPut, "/socket.io/socket.io.js", nil); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("PUT: status %d, want 405", rec.Code)
			}
		})
	}
}

func TestUnknownMajor(t *testing.T) {
	for _, major := range []string{"", "3", "v2", "2.5.0"} {
		if Available(major) || Version(major) != "" {
			t.Errorf("major %q reported available", major)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(%q) did not panic", major)
				}
			}()
			Handler(major)
		}()
	}
}
