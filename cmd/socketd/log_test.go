package main

import (
	"strings"
	"testing"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

// The startup line names the URLs to use and the Drupal callback actually
// called; an empty service key is warned about.
func TestStartupLog(t *testing.T) {
	t.Run("dev", func(t *testing.T) {
		a := startTestAppMode(t, devConfig(), true)
		base := "http://" + a.addr
		for _, want := range []string{
			"socketio=" + base + "/socket.io/",
			"drupal_api=" + base + "/nodejs/",
			"demo=" + base + "/demo/",
			"backend=http://127.0.0.1:8080/dev/drupal/nodejs/message",
		} {
			if !strings.Contains(a.logs.String(), want) {
				t.Errorf("startup line without %s:\n%s", want, a.logs)
			}
		}
		if strings.Contains(a.logs.String(), "serviceKey is empty") {
			t.Errorf("dev mode has a key, yet:\n%s", a.logs)
		}
	})
	t.Run("example basePath and messagePath", func(t *testing.T) {
		// The example file's basePath '' and messagePath '/nodejs/message':
		// /nodejs/message is called, so that is what the log says.
		a := startTestApp(t, nodejsconfig.Config{Backend: nodejsconfig.BackendConfig{Host: "drupal.example", BasePath: "", MessagePath: "/nodejs/message"}})
		l := a.logs.String()
		if !strings.Contains(l, "backend=http://drupal.example:80/nodejs/message") {
			t.Errorf("backend URL:\n%s", l)
		}
		if strings.Contains(l, "demo=") {
			t.Errorf("demo URL outside dev mode:\n%s", l)
		}
		if !strings.Contains(l, `level=WARN msg="serviceKey is empty`) {
			t.Errorf("no warning for the empty service key:\n%s", l)
		}
	})
}
