package nodejsconfig

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// envVar is one NODE_* variable of the Lagoon/wodby drupal-node.js image
// (spec §1d) and what it overrides.
type envVar struct {
	name  string
	apply func(c *Config, v string) error // nil: accepted and listed in Ignored
}

// envVars lists the variables ApplyEnv reads. It is a function, not a
// package table, so nothing mutable lives at package level.
func envVars() []envVar {
	str := func(dst func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *dst(c) = v; return nil }
	}
	boolean := func(dst func(*Config) *bool) func(*Config, string) error {
		return func(c *Config, v string) error {
			b, err := parseFlag(v)
			*dst(c) = b
			return err
		}
	}
	port := func(dst func(*Config) *int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%q is not a port number (1-65535)", v)
			}
			*dst(c) = n
			return nil
		}
	}
	return []envVar{
		{"NODE_SCHEME", str(func(c *Config) *string { return &c.Scheme })},
		// socketd addition: the image hard-codes 0.0.0.0:8080 in its template.
		{"NODE_HOST", str(func(c *Config) *string { return &c.Host })},
		{"NODE_PORT", port(func(c *Config) *int { return &c.Port })},
		{"NODE_RESOURCE", applyResource},
		{"NODE_SERVICE_KEY", str(func(c *Config) *string { return &c.ServiceKey })},
		{"NODE_BACKEND_PORT", port(func(c *Config) *int { return &c.Backend.Port })},
		{"NODE_BACKEND_HOST", str(func(c *Config) *string { return &c.Backend.Host })},
		{"NODE_BACKEND_SCHEME", str(func(c *Config) *string { return &c.Backend.Scheme })},
		{"NODE_BACKEND_BASE_PATH", str(func(c *Config) *string { return &c.Backend.BasePath })},
		{"NODE_MESSAGE_PATH", str(func(c *Config) *string { return &c.Backend.MessagePath })},
		{"NODE_DEBUG", boolean(func(c *Config) *bool { return &c.Debug })},
		{"NODE_SSL_KEY_PATH", str(func(c *Config) *string { return &c.SSLKeyPath })},
		{"NODE_SSL_CERT_PATH", str(func(c *Config) *string { return &c.SSLCertPath })},
		{"NODE_SSL_CA_PATH", str(func(c *Config) *string { return &c.SSLCAPath })},
		{"NODE_BASE_AUTH_PATH", str(func(c *Config) *string { return &c.BaseAuthPath })},
		{"NODE_CLIENTS_CAN_WRITE_TO_CHANNELS", boolean(func(c *Config) *bool { return &c.ClientsCanWriteToChannels })},
		{"NODE_CLIENTS_CAN_WRITE_TO_CLIENTS", boolean(func(c *Config) *bool { return &c.ClientsCanWriteToClients })},
		// Read by the image for socket.io 1.x options 1.0.13 no longer has.
		{"NODE_JS_MINIFICATION", nil},
		{"NODE_JS_ETAG", nil},
		{"NODE_LOG_LEVEL", nil},
	}
}

// applyResource sets the socket path. The variable must win over the file, and
// SocketPath prefers socketOptions.path to resource, so a file's
// socketOptions.path is overridden too (on a copy of the map: the caller's
// Config may share it).
func applyResource(c *Config, v string) error {
	c.Resource = v
	if _, ok := c.SocketOptions["path"]; ok {
		c.SocketOptions = maps.Clone(c.SocketOptions)
		c.SocketOptions["path"] = v
	}
	return nil
}

// ApplyEnv overrides c with the NODE_* variables the Lagoon/wodby
// drupal-node.js image reads (spec §1d), so a container that configured the
// Node server through its environment keeps working after the switch. There
// the image expanded them into the config template; socketd reads them
// directly, so the file may hold plain values. NODE_HOST and NODE_PORT (the
// listen address, hard-coded 0.0.0.0:8080 in the image) are socketd additions.
//
// getenv is os.Getenv in production. An empty value counts as unset: the
// image's .env files list every variable, most of them empty, and an empty
// value there meant "the template's default", which is the file's value here.
// Booleans read true/false, 1/0, yes/no. Variables 1.0.13 has no use for
// (NODE_JS_MINIFICATION, NODE_JS_ETAG, NODE_LOG_LEVEL) are noted in
// c.Ignored when set. On any bad value c is left unchanged and the error
// names every offending variable.
func ApplyEnv(c *Config, getenv func(string) string) error {
	next := *c
	var problems []string
	ignoredAdded := false
	for _, ev := range envVars() {
		v := getenv(ev.name)
		if v == "" {
			continue
		}
		if ev.apply == nil {
			if !slices.Contains(next.Ignored, ev.name) {
				next.Ignored = append(slices.Clone(next.Ignored), ev.name)
				ignoredAdded = true
			}
			continue
		}
		if err := ev.apply(&next, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", ev.name, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("environment %s", strings.Join(problems, "; "))
	}
	if ignoredAdded {
		slices.Sort(next.Ignored)
	}
	*c = next
	return nil
}
