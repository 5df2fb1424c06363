package clientjs

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// adminDist holds admin_ui/dist as copied by `make client-js` (the socket.io
// admin UI's built files, from the npm package @socket.io/admin-ui), or only
// the committed placeholder admin_ui/dist/.keep on a fresh clone.
//
//go:embed all:admin_ui/dist
var adminDist embed.FS

const adminNotBuilt = "socket.io admin UI not built: run `make client-js`"

// AdminUIConfig says where the UI finds socketd.
type AdminUIConfig struct {
	// Prefix is where the handler is mounted, with its trailing slash
	// ("/admin/"); requests for Prefix without the slash are redirected.
	Prefix string
	// SocketPath is socketd's Socket.IO path ("/socket.io").
	SocketPath string
	// Namespace is the admin namespace ("/admin").
	Namespace string
}

// AdminUIVersion is the npm version of the embedded admin UI, or "" when it
// was not built into this binary.
func AdminUIVersion() string {
	raw, err := fs.ReadFile(adminDist, "admin_ui/dist/VERSION")
	if err != nil {
		return ""
	}
	if _, err := fs.Stat(adminDist, "admin_ui/dist/index.html"); err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// AdminUIHandler serves the socket.io admin UI under cfg.Prefix. The page is
// the package's own, plus one script (socketd-config.js, loaded before the
// UI's) that points the UI at this server: its origin, cfg.SocketPath and
// cfg.Namespace, unless the browser kept other settings from an earlier
// visit. Without the embedded UI every path answers 503.
func AdminUIHandler(cfg AdminUIConfig) http.Handler {
	h := &adminHandler{cfg: cfg, version: AdminUIVersion()}
	if h.version != "" {
		if index, err := fs.ReadFile(adminDist, "admin_ui/dist/index.html"); err == nil {
			_, err := fs.Stat(adminDist, "admin_ui/dist/"+mdiCSS)
			h.index = rewritePage(index, err == nil)
		}
	}
	h.config = adminConfigScript(cfg)
	return h
}

type adminHandler struct {
	cfg     AdminUIConfig
	version string
	index   []byte // index.html with socketd-config.js
	config  []byte
}

// mdiCSS is the icon font's stylesheet as make client-js copies it.
const mdiCSS = "mdi/css/materialdesignicons.min.css"

// rewritePage is the package's index.html with socketd-config.js loaded
// before the UI's first script (a file rather than an inline script, so that
// a Content-Security-Policy without 'unsafe-inline' can be put in front), and
// with what it asks of CDNs served from here or left out: the icon font
// (the UI's action buttons are icons only) when it was built in, and the
// Roboto web font (the browser's sans-serif stands in), so that the page works
// without internet and tells no third party it was opened.
func rewritePage(index []byte, localIcons bool) []byte {
	s := string(index)
	for _, link := range linkTags(s) {
		switch {
		case strings.Contains(link, "fonts.googleapis.com"):
			s = strings.Replace(s, link, "", 1)
		case localIcons && strings.Contains(link, "materialdesignicons"):
			s = strings.Replace(s, link, `<link rel="stylesheet" href="`+mdiCSS+`">`, 1)
		}
	}
	tag := `<script src="socketd-config.js"></script>`
	if i := strings.Index(s, "<script"); i >= 0 {
		return []byte(s[:i] + tag + s[i:])
	}
	return []byte(strings.Replace(s, "</body>", tag+"</body>", 1))
}

// linkTags returns the <link ...> tags of an HTML page.
func linkTags(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "<link ")
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return out
		}
		out = append(out, s[i:i+j+1])
		s = s[i+j+1:]
	}
}

// adminConfigScript sets the UI's connection settings (the keys the UI reads
// from localStorage) when the browser has none for this origin.
func adminConfigScript(cfg AdminUIConfig) []byte {
	return fmt.Appendf(nil, `// socketd: the admin UI connects to the server that serves it.
(function () {
  try {
    var s = window.localStorage;
    if (!s.getItem("server_url")) {
      s.setItem("server_url", window.location.origin);
      s.setItem("path", %s);
      s.setItem("namespace", %s);
    }
  } catch (e) {}
})();
`, strconv.Quote(cfg.SocketPath), strconv.Quote(cfg.Namespace))
}

func (h *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(h.cfg.Prefix, "/") {
		http.Redirect(w, r, h.cfg.Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, h.cfg.Prefix)
	if !ok || strings.Contains(name, "..") {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	// The page has buttons that disconnect users: no framing by other sites.
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if h.index == nil {
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, adminNotBuilt, http.StatusServiceUnavailable)
		return
	}
	switch name {
	case "", "index.html":
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(h.index))
		return
	case "socketd-config.js":
		hdr.Set("Content-Type", "application/javascript; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(h.config))
		return
	case "VERSION":
		http.NotFound(w, r)
		return
	}
	f, err := adminDist.Open(path.Join("admin_ui/dist", name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	rs, seekable := f.(io.ReadSeeker)
	if err != nil || st.IsDir() || !seekable {
		http.NotFound(w, r)
		return
	}
	// The UI's js/, css/ and img/ names carry a hash of their content.
	if strings.HasPrefix(name, "js/") || strings.HasPrefix(name, "css/") || strings.HasPrefix(name, "img/") {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "public, max-age=0")
		hdr.Set("ETag", `"`+h.version+`"`)
	}
	http.ServeContent(w, r, name, time.Time{}, rs)
}
