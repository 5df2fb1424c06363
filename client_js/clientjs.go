package clientjs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// dist holds dist/v2 and dist/v4 as copied by `make client-js`, or only the
// committed placeholder dist/.keep on a fresh clone ("all:" lets the
// placeholder alone satisfy the pattern).
//
//go:embed all:dist
var dist embed.FS

// notBuilt is the 503 body (plus a newline) when the bundle was not embedded.
const notBuilt = "socket.io client bundle not built: run `make client-js`"

var errNotBuilt = errors.New("clientjs: socket.io client bundle not built")

// Names returns the file names Handler serves, relative to where it is
// mounted: mount the handler at <socketPath>/<name> for each.
func Names() []string {
	return []string{"socket.io.js", "socket.io.min.js", "socket.io.js.map", "socket.io.min.js.map"}
}

// sourceFile maps a served name to the file in dist/v<major>. socket.io-client
// 2.x ships no .min.js: its dist/socket.io.js is already minified (it is what
// socket.io 2.x servers hand out), so both names give the same bytes.
func sourceFile(major, name string) (string, bool) {
	switch name {
	case "socket.io.js", "socket.io.js.map":
		return name, true
	case "socket.io.min.js", "socket.io.min.js.map":
		if major == "2" {
			return strings.Replace(name, ".min", "", 1), true
		}
		return name, true
	}
	return "", false
}

// validMajor reports whether major names a bundle this package knows.
func validMajor(major string) bool { return major == "2" || major == "4" }

// Available reports whether the socket.io-client bundle of that major version
// ("2" or "4") was embedded, i.e. `make client-js` ran before the build.
func Available(major string) bool {
	_, err := check(dist, major)
	return err == nil
}

// Version returns the npm version of the embedded socket.io-client of that
// major version ("2.5.0" for "2"), or "" when it is not available.
func Version(major string) string {
	version, _ := check(dist, major)
	return version
}

// Handler serves the socket.io-client bundle of that major version, "2" or
// "4" (any other value is a programmer error and panics). It answers GET and
// HEAD for the names in Names, looking only at the last element of the request
// path, so it works at any prefix with or without http.StripPrefix; other names
// get 404, other methods 405. Without the embedded bundle every name gets 503.
func Handler(major string) http.Handler {
	return newHandler(dist, major)
}

// bundle is one major version's files, read once.
type bundle struct {
	version string            // npm version, from VERSION
	files   map[string][]byte // by name in dist/v<major>
}

// check reads dist/v<major>/VERSION and makes sure every file sourceFile can
// name is there, without reading them.
func check(fsys fs.FS, major string) (version string, err error) {
	if !validMajor(major) {
		return "", fmt.Errorf("clientjs: unknown socket.io-client major version %q", major)
	}
	dir := "dist/v" + major
	raw, err := fs.ReadFile(fsys, dir+"/VERSION")
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNotBuilt, err)
	}
	if version = strings.TrimSpace(string(raw)); version == "" {
		return "", fmt.Errorf("%w: empty %s/VERSION", errNotBuilt, dir)
	}
	for _, name := range Names() {
		src, _ := sourceFile(major, name)
		if _, err := fs.Stat(fsys, dir+"/"+src); err != nil {
			return "", fmt.Errorf("%w: %w", errNotBuilt, err)
		}
	}
	return version, nil
}

// load checks the bundle and reads its files once.
func load(fsys fs.FS, major string) (*bundle, error) {
	version, err := check(fsys, major)
	if err != nil {
		return nil, err
	}
	b := &bundle{version: version, files: make(map[string][]byte)}
	for _, name := range Names() {
		src, _ := sourceFile(major, name)
		if _, ok := b.files[src]; ok {
			continue
		}
		if b.files[src], err = fs.ReadFile(fsys, "dist/v"+major+"/"+src); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotBuilt, err)
		}
	}
	return b, nil
}

// handler serves one bundle; b is nil when it was not built.
type handler struct {
	major string
	b     *bundle
	etag  string
}

func newHandler(fsys fs.FS, major string) *handler {
	if !validMajor(major) {
		panic(fmt.Sprintf("clientjs: unknown socket.io-client major version %q (want \"2\" or \"4\")", major))
	}
	h := &handler{major: major}
	if b, err := load(fsys, major); err == nil {
		h.b = b
		h.etag = `"` + b.version + `"`
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Base(r.URL.Path)
	src, ok := sourceFile(h.major, name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if h.b == nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, notBuilt, http.StatusServiceUnavailable)
		return
	}
	hdr := w.Header()
	hdr.Set("ETag", h.etag)
	hdr.Set("Cache-Control", "public, max-age=0")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(name, ".map") {
		hdr.Set("Content-Type", "application/json; charset=utf-8")
	} else {
		hdr.Set("Content-Type", "application/javascript; charset=utf-8")
	}
	// ServeContent answers If-None-Match against the ETag set above with 304
	// (as the socket.io server does), HEAD without a body, and Range.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(h.b.files[src]))
}
