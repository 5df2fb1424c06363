package nodejsconfig

import (
	"reflect"
	"strings"
	"testing"
)

func TestApplyEnv(t *testing.T) {
	// base is a loaded file the variables override.
	base := func() Config {
		return Config{
			Scheme:        "http",
			Host:          "localhost",
			Port:          8080,
			ServiceKey:    "file-key",
			Backend:       BackendConfig{Host: "drupal", Port: 80, BasePath: "/", MessagePath: "nodejs/message"},
			SocketOptions: map[string]any{"path": "/file-path", "pingInterval": 1000.0},
			Ignored:       []string{"logLevel"},
		}
	}
	tests := []struct {
		name string
		file func(c *Config) // changes to base before the variables apply
		env  map[string]string
		want func(c *Config) // changes to base expected afterwards
	}{
		{name: "nothing set keeps the file", env: nil, want: func(*Config) {}},
		{
			name: "empty values count as unset",
			env:  map[string]string{"NODE_SERVICE_KEY": "", "NODE_BACKEND_BASE_PATH": "", "NODE_DEBUG": ""},
			want: func(*Config) {},
		},
		{
			name: "every string and port variable",
			env: map[string]string{
				"NODE_SCHEME": "https", "NODE_HOST": "0.0.0.0", "NODE_PORT": "3000",
				"NODE_SERVICE_KEY": "env-key", "NODE_BACKEND_PORT": "8443", "NODE_BACKEND_HOST": "nginx",
				"NODE_BACKEND_SCHEME": "https", "NODE_BACKEND_BASE_PATH": "/site", "NODE_MESSAGE_PATH": "/nodejs/message",
				"NODE_SSL_KEY_PATH": "/tls/key.pem", "NODE_SSL_CERT_PATH": "/tls/cert.pem", "NODE_SSL_CA_PATH": "/tls/ca.pem",
				"NODE_BASE_AUTH_PATH": "/push/",
			},
			want: func(c *Config) {
				c.Scheme, c.Host, c.Port, c.ServiceKey = "https", "0.0.0.0", 3000, "env-key"
				c.Backend = BackendConfig{Host: "nginx", Port: 8443, Scheme: "https", BasePath: "/site", MessagePath: "/nodejs/message"}
				c.SSLKeyPath, c.SSLCertPath, c.SSLCAPath = "/tls/key.pem", "/tls/cert.pem", "/tls/ca.pem"
				c.BaseAuthPath = "/push/"
			},
		},
		{
			name: "booleans in every spelling",
			env:  map[string]string{"NODE_DEBUG": "1", "NODE_CLIENTS_CAN_WRITE_TO_CHANNELS": "Yes", "NODE_CLIENTS_CAN_WRITE_TO_CLIENTS": " true "},
			want: func(c *Config) { c.Debug, c.ClientsCanWriteToChannels, c.ClientsCanWriteToClients = true, true, true },
		},
		{
			name: "false turns a file's true off",
			file: func(c *Config) { c.Debug = true },
			env:  map[string]string{"NODE_DEBUG": "no"},
			want: func(c *Config) {},
		},
		{
			name: "resource overrides socketOptions.path too",
			env:  map[string]string{"NODE_RESOURCE": "/ws"},
			want: func(c *Config) {
				c.Resource = "/ws"
				c.SocketOptions = map[string]any{"path": "/ws", "pingInterval": 1000.0}
			},
		},
		{
			name: "variables 1.0.13 ignores are noted",
			env:  map[string]string{"NODE_JS_ETAG": "true", "NODE_JS_MINIFICATION": "true", "NODE_LOG_LEVEL": "3"},
			want: func(c *Config) {
				c.Ignored = []string{"NODE_JS_ETAG", "NODE_JS_MINIFICATION", "NODE_LOG_LEVEL", "logLevel"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			if tt.file != nil {
				tt.file(&c)
			}
			want := base()
			tt.want(&want)
			if err := ApplyEnv(&c, func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %#v\nwant %#v", c, want)
			}
		})
	}
}

// TestApplyEnvDoesNotAlias checks that overriding the path leaves the
// caller's socketOptions map alone.
func TestApplyEnvDoesNotAlias(t *testing.T) {
	opts := map[string]any{"path": "/file-path"}
	c := Config{SocketOptions: opts}
	if err := ApplyEnv(&c, func(k string) string { return map[string]string{"NODE_RESOURCE": "/ws"}[k] }); err != nil {
		t.Fatal(err)
	}
	if opts["path"] != "/file-path" || c.SocketPath() != "/ws" {
		t.Errorf("opts %v, SocketPath %q", opts, c.SocketPath())
	}
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		substr []string
	}{
		{name: "port not a number", env: map[string]string{"NODE_BACKEND_PORT": "abc"},
			substr: []string{`NODE_BACKEND_PORT: "abc" is not a port number`}},
		{name: "port out of range", env: map[string]string{"NODE_PORT": "70000"},
			substr: []string{`NODE_PORT: "70000" is not a port number`}},
		{name: "boolean", env: map[string]string{"NODE_DEBUG": "maybe"},
			substr: []string{`NODE_DEBUG: "maybe" is not a boolean`}},
		{name: "all problems at once", env: map[string]string{"NODE_DEBUG": "maybe", "NODE_CLIENTS_CAN_WRITE_TO_CLIENTS": "2", "NODE_BACKEND_PORT": "-1"},
			substr: []string{"NODE_DEBUG", "NODE_CLIENTS_CAN_WRITE_TO_CLIENTS", "NODE_BACKEND_PORT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Port: 8080, ServiceKey: "kept"}
			env := map[string]string{"NODE_SERVICE_KEY": "would-change"}
			for k, v := range tt.env {
				env[k] = v
			}
			err := ApplyEnv(&c, func(k string) string { return env[k] })
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.substr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if c.ServiceKey != "kept" {
				t.Errorf("config changed on error: %+v", c)
			}
		})
	}
}
