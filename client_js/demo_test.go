package clientjs

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestDemoHandler(t *testing.T) {
	script, err := os.ReadFile("demo/drupal-nodejs-demo.js")
	if err != nil {
		t.Fatal(err)
	}
	h := DemoHandler(DemoConfig{SocketPath: "/socket.io", APIPath: "/api/", ServiceKey: `k"ey`})
	tests := []struct {
		name         string
		method       string
		target       string
		wantStatus   int
		wantType     string
		wantContains []string
		wantLocation string
	}{
		{"page at the mount point with a slash", http.MethodGet, "/demo/", http.StatusOK, "text/html; charset=utf-8",
			[]string{`<script src="/socket.io/socket.io.js"></script>`, `<script src="drupal-nodejs-demo.js"></script>`,
				`data-socket-path="/socket.io"`, `data-api-path="/api/"`, `data-service-key="k&#34;ey"`, `id="curl-broadcast"`, `id="messages"`}, ""},
		{"page as index.html", http.MethodGet, "/demo/index.html", http.StatusOK, "text/html; charset=utf-8",
			[]string{`<script src="/socket.io/socket.io.js"></script>`}, ""},
		{"script beside the page", http.MethodGet, "/demo/drupal-nodejs-demo.js", http.StatusOK,
			"application/javascript; charset=utf-8", []string{string(script)}, ""},
		{"mount point without a slash redirects, keeping the query", http.MethodGet, "/demo?authToken=user-3",
			http.StatusMovedPermanently, "", nil, "/demo/?authToken=user-3"},
		{"HEAD", http.MethodHead, "/demo/", http.StatusOK, "text/html; charset=utf-8", nil, ""},
		{"other files", http.MethodGet, "/demo/favicon.ico", http.StatusNotFound, "", nil, ""},
		{"POST", http.MethodPost, "/demo/", http.StatusMethodNotAllowed, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, tt.method, tt.target, nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantType != "" && rec.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.wantType)
			}
			for _, want := range tt.wantContains {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("body lacks %.80q", want)
				}
			}
			if tt.wantLocation != "" && rec.Header().Get("Location") != tt.wantLocation {
				t.Errorf("Location %q, want %q", rec.Header().Get("Location"), tt.wantLocation)
			}
		})
	}
}

func TestDemoHandlerSocketPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{{"", "/socket.io"}, {"/rt/", "/rt"}, {"/a/b", "/a/b"}} {
		body := serve(DemoHandler(DemoConfig{SocketPath: tc.in}), http.MethodGet, "/demo/", nil).Body.String()
		if !strings.Contains(body, `<script src="`+tc.want+`/socket.io.js">`) || !strings.Contains(body, `data-socket-path="`+tc.want+`"`) {
			t.Errorf("socket path %q: page does not use %q", tc.in, tc.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("DemoHandler with socket path \"socket.io\" did not panic")
		}
	}()
	DemoHandler(DemoConfig{SocketPath: "socket.io"})
}

// TestDemoScript checks what the newcomer copies from the page and, when node
// is installed, that the script parses.
func TestDemoScript(t *testing.T) {
	script, err := os.ReadFile("demo/drupal-nodejs-demo.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`socket.emit('authenticate', {authToken: authToken, contentTokens: contentTokens})`,
		`{timeout: 5000, path: socketPath}`,
		`(serviceKey ? ' -H ' + shellQuote('NodejsServiceKey: ' + serviceKey) : '')`,
		`shellQuote(location.origin + apiPath + 'publish')`,
		`broadcast: true, channel: 'nodejs_notify', callback: 'nodejsNotify',`,
		`data: {subject: 'Hi', body: 'from curl'}`,
	} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("script lacks %q", want)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: syntax not checked")
	}
	if out, err := exec.Command(node, "--check", "demo/drupal-nodejs-demo.js").CombinedOutput(); err != nil {
		t.Errorf("node --check: %v\n%s", err, out)
	}
}
