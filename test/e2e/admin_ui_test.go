package e2e

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The socket.io admin UI as an operator uses it: socketd (with the adminUI key,
// basic auth on a bcrypt hash) serves the UI at /admin/; headless Chromium opens
// it (browser/admin-ui.mjs), logs in through the UI's form, sees the Drupal
// clients' sockets and a Drupal channel as a room, and disconnects one socket from
// the page, which really disconnects it: its socket.io client hears "io server
// disconnect", while the other socket still gets what Drupal publishes.

const adminUIScriptTimeout = 2 * time.Minute

func TestBrowserAdminUI(t *testing.T) {
	requireChromium(t)
	node := requireNode(t, "playwright-core", "sio4")
	hash, err := bcrypt.GenerateFromPassword([]byte("e2e-admin-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	drupal := newFakeDrupal(t, map[string]drupalUser{
		"tok-stays": {UID: 11, Channels: []string{"newsroom"}},
		"tok-goes":  {UID: 12, Channels: []string{"newsroom"}},
	})
	srv := startSocketdWith(t, drupal.srv.URL, "4", map[string]any{
		"adminUI": map[string]any{
			"auth": map[string]any{"type": "basic", "username": "operator", "password": string(hash)},
		},
	})
	clients := startDrupalClients(t, node, "sio4", srv.URL)
	t.Cleanup(func() { clients.closeAndWait(browserCloseTimeout) })
	stays, _ := clients.connect(t, "stays", "tok-stays")
	goes, _ := clients.connect(t, "goes", "tok-goes")

	p := startNodeScript(t, node, adminUIScriptTimeout, "../browser/admin-ui.mjs",
		"--url", srv.URL+"/admin/", "--user-data-dir", t.TempDir(), "--executable", chromiumPath,
		"--timeout", strconv.Itoa(int(adminUIScriptTimeout/time.Millisecond)),
		"--username", "operator", "--password", "e2e-admin-password",
		"--sockets", stays+","+goes, "--room", "channel:newsroom", "--disconnect", goes)
	page := watchClientEvents(p)
	t.Cleanup(func() { page.closeAndWait(browserCloseTimeout) })
	defer func() {
		if t.Failed() {
			t.Logf("browser events:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	}()

	step := func(ev string) clientEvent {
		t.Helper()
		e, _ := page.next(t, "page", adminUIScriptTimeout, ev, func(e clientEvent) bool { return e.Ev == ev || e.Ev == "pageerror" })
		if e.Ev == "pageerror" {
			t.Fatalf("the admin page failed: %s", e.line)
		}
		return e
	}
	form := step("login_form")
	var f struct {
		ServerURL string `json:"serverUrl"`
	}
	_ = json.Unmarshal([]byte(form.line), &f)
	if f.ServerURL != srv.URL {
		t.Errorf("the UI's server URL is %q, want the serving origin %s", f.ServerURL, srv.URL)
	}
	step("logged_in")
	for _, id := range []string{stays, goes} {
		if e := step("socket_listed"); e.ID != id {
			t.Errorf("listed socket %s, want %s", e.ID, id)
		}
	}
	step("room_listed")
	step("disconnect_clicked")

	// The socket really went: its client was told by the server.
	d, _ := clients.next(t, "goes", drupalEventTimeout, "disconnect", func(e clientEvent) bool { return e.Ev == "disconnect" })
	if d.Reason != "io server disconnect" {
		t.Errorf("the disconnected client's reason %q, want io server disconnect", d.Reason)
	}
	step("socket_gone")
	step("steps_done")
	// The page loaded everything from socketd (the icons of its buttons too).
	page.mu.Lock()
	for _, e := range page.events {
		if e.Ev == "requestfailed" {
			t.Errorf("the admin page: %s", e.line)
		}
	}
	page.mu.Unlock()

	// The other one is still there: a publish to the channel reaches it alone.
	msg := `{"channel":"newsroom","callback":"afterAdmin","data":{"body":"still here"}}`
	srv.publish(t, msg, 1)
	got, skipped := clients.message(t, "stays", "still here")
	if got.Raw != msg {
		t.Errorf("the remaining client got %s, want %s", got.Raw, msg)
	}
	for _, e := range skipped {
		if e.Ev == "disconnect" {
			t.Errorf("the remaining client: %s", e.line)
		}
	}

	p.send(t, "done")
	if res := p.result(t, nil); !res.OK {
		t.Fatalf("admin UI script failed: %s\nstderr:\n%s", res.Line, res.Stderr)
	}
}
