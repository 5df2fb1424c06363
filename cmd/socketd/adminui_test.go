package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

func TestNewAdminUI(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	noLogin := nodejsconfig.AdminUIAuth{Set: true, Disabled: true}
	basic := func(password string) nodejsconfig.AdminUIAuth {
		return nodejsconfig.AdminUIAuth{Set: true, Type: "basic", Username: "admin", Password: password}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		host string
		auth nodejsconfig.AdminUIAuth
		err  string
	}{
		{"127.0.0.1", noLogin, ""},
		{"localhost", noLogin, ""},
		{"::1", noLogin, ""},
		{"0.0.0.0", noLogin, "allowed on loopback only"},
		{"example.org", noLogin, "allowed on loopback only"},
		{"0.0.0.0", basic(string(hash)), ""},
		{"0.0.0.0", basic("pw"), "must be a bcrypt hash"},
	} {
		cfg := nodejsconfig.Config{Host: tt.host, AdminUI: &nodejsconfig.AdminUI{Auth: tt.auth}}.WithDefaults()
		ad, err := newAdminUI(cfg, logger)
		if tt.err == "" && (err != nil || ad == nil) {
			t.Errorf("host %s, auth %+v: %v", tt.host, tt.auth, err)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("host %s, auth %+v: error %v, want %q", tt.host, tt.auth, err, tt.err)
		}
	}
	if ad, err := newAdminUI(nodejsconfig.Config{}.WithDefaults(), logger); ad != nil || err != nil {
		t.Errorf("without the key: %v, %v; want off", ad, err)
	}
}
