package e2e

import (
	"strings"
	"testing"
	"time"
)

// blipTimeout bounds each wait of TestDrupalBlip: a client reconnects after
// socket.io-client's backoff (about 1 s at first, at most 5 s).
const blipTimeout = 30 * time.Second

// waitCount waits, at most within, until n received messages match.
func (d *fakeDrupal) waitCount(t testing.TB, within time.Duration, what string, n int, match func(map[string]any) bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		msgs, changed := d.messages, d.changed
		d.mu.Unlock()
		got := 0
		for _, m := range msgs {
			if match(m) {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("stand-in Drupal: %d %s within %v, want %d", got, what, within, n)
		}
	}
}

// A Drupal blip: pages that connect while Drupal cannot answer their
// authentication (503) keep trying by themselves and are authenticated once it
// answers again, without a reload; the outage is logged once, not per page.
func TestDrupalBlip(t *testing.T) {
	node := requireNode(t, "sio2", "sio4")
	for _, client := range []string{"sio2", "sio4"} {
		t.Run(client, func(t *testing.T) {
			drupal := newFakeDrupal(t, drupalFlowTokens)
			drupal.down.Store(true)
			srv := startSocketd(t, drupal.srv.URL, "2")
			c := startDrupalClients(t, node, client, srv.URL)
			pages := map[string]string{"A": "tok-a", "B": "tok-b"}
			for name, token := range pages {
				c.cmd(t, map[string]any{"cmd": "connect", "name": name, "token": token})
			}
			// Each page tries twice while Drupal is down: after the first
			// failure it came back by itself.
			for _, token := range pages {
				drupal.waitCount(t, blipTimeout, "authenticate calls for "+token, 2, backendMessage("authenticate", "authToken", token))
			}
			drupal.down.Store(false)
			for name := range pages {
				_, skipped := c.next(t, name, blipTimeout, "clientAuthenticated after Drupal came back", func(e clientEvent) bool {
					return e.Ev == "message" && e.callback() == "clientAuthenticated"
				})
				connects, closes := 0, 0
				for _, e := range skipped {
					switch {
					case e.Ev == "connect":
						connects++
					case e.Ev == "disconnect" && e.Reason == "transport close":
						closes++
					case e.Ev == "disconnect":
						t.Errorf("page %s: disconnected with %q, want only transport closes", name, e.Reason)
					}
				}
				if connects < 3 || closes < 2 {
					t.Errorf("page %s: %d connects and %d transport closes before it was authenticated, want at least 3 and 2:\n%s",
						name, connects, closes, eventLines(skipped))
				}
			}
			// Authenticated for real: the user's channel reaches the page.
			srv.publish(t, `{"channel":"nodejs_user_1","callback":"blip","data":{"after":"outage"}}`, 1)
			c.message(t, "A", `"after":"outage"`)

			out := srv.output.String()
			if n := strings.Count(out, `msg="drupal: backend unavailable`); n != 1 {
				t.Errorf("%d outage warnings, want 1; log:\n%s", n, out)
			}
			if n := strings.Count(out, `msg="drupal: backend answering again"`); n != 1 {
				t.Errorf("%d recovery lines, want 1; log:\n%s", n, out)
			}
			if strings.Contains(out, "disconnecting client") {
				t.Errorf("a page was told to stay away; log:\n%s", out)
			}
			c.cmd(t, map[string]any{"cmd": "done"})
			if res := c.p.result(t, nil); !res.OK {
				t.Fatalf("client script failed: %s\nstderr:\n%s", res.Line, res.Stderr)
			}
		})
	}
}
