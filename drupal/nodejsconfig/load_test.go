package nodejsconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleConfig is what testdata/nodejs.config.{js,json,yaml} all hold.
func sampleConfig() Config {
	return Config{
		Scheme:              "http",
		Host:                "127.0.0.1",
		Port:                8081,
		ServiceKey:          "shared-secret-123",
		Debug:               true,
		BodyParserJSONLimit: "512kb",
		BaseAuthPath:        "/nodejs/",
		Extensions:          []string{},
		Backend: BackendConfig{
			Host:        "drupal.internal",
			Port:        8088,
			Scheme:      "https",
			BasePath:    "",
			MessagePath: "/nodejs/message",
			StrictSSL:   true,
			HTTPAuth:    "editor:s3cret",
		},
		SocketOptions: map[string]any{
			"path":         "/realtime",
			"pingInterval": 10000.0,
			"pingTimeout":  5000.0,
			"transports":   []any{"websocket", "polling"},
			"wsEngine":     "ws",
		},
		AuthTimeout:  Duration(3 * time.Second),
		AuthCacheTTL: Duration(10 * time.Minute),
		Ignored:      []string{"socketOptions.wsEngine"},
	}
}

// lagoonConfig is the Lagoon image's configuration with its .env example
// values (NODE_BACKEND_HOST=node, NODE_DEBUG=1).
func lagoonConfig() Config {
	return Config{
		Scheme:       "http",
		Host:         "0.0.0.0",
		Port:         8080,
		Resource:     "/socket.io",
		Debug:        true,
		BaseAuthPath: "/nodejs/",
		Extensions:   []string{},
		Backend: BackendConfig{
			Host:        "node",
			Port:        8080,
			Scheme:      "http",
			MessagePath: "/nodejs/message",
		},
		Transports: []string{"websocket", "polling"},
		Ignored:    []string{"jsEtag", "jsMinification", "logLevel"},
	}
}

func TestLoad(t *testing.T) {
	lagoonEnv := []string{"NODE_BACKEND_HOST=node", "NODE_DEBUG=1", "NODE_SERVICE_KEY=", "PATH=/bin"}
	tests := []struct {
		name    string
		file    string
		environ []string
		want    Config
	}{
		{name: "1.0.13 JavaScript file", file: "nodejs.config.js", want: sampleConfig()},
		{name: "same keys in JSON", file: "nodejs.config.json", want: sampleConfig()},
		{name: "same keys in YAML", file: "nodejs.config.yaml", want: sampleConfig()},
		{name: "Lagoon style reading process.env", file: "lagoon-env.config.js", environ: lagoonEnv, want: lagoonConfig()},
		// The image's template after substitution: backend.port is the
		// string '8080' and debug the number 1, both accepted as Node did.
		{name: "Lagoon template expanded by the entrypoint", file: "lagoon-expanded.config.js", want: lagoonConfig()},
		{
			name: "process.env without the variables gives the fallbacks",
			file: "lagoon-env.config.js",
			want: func() Config {
				c := lagoonConfig()
				c.Backend.Host = "nginx"
				c.Debug = false
				return c
			}(),
		},
		{
			name: "D7 era file with route keys and 0.9 transports",
			file: "d7.config.js",
			want: Config{
				Scheme:                   "http",
				Host:                     "chat.example.org",
				Port:                     49165,
				Resource:                 "/socket.io",
				BaseAuthPath:             "/nodejs/",
				ServiceKey:               "d7-key",
				ClientsCanWriteToClients: true,
				Extensions:               []string{}, // written as ""
				Backend: BackendConfig{
					Port:        443,
					Scheme:      "https",
					Host:        "www.example.org",
					MessagePath: "/nodejs/message/",
				},
				Transports: []string{"websocket", "flashsocket", "htmlfile", "xhr-polling", "jsonp-polling"},
				Ignored: []string{
					"addUserToChannelUrl", "flashPolicy", "jsEtag", "jsMinification",
					"logLevel", "publishMessageToContentChannelUrl", "publishUrl",
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadEnviron(filepath.Join("testdata", tt.file), tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestLoadLenientValues checks that JSON and YAML files get the same loose
// typing as JavaScript ones: a config converted from a Node file keeps its
// quoted ports and 0/1 flags.
func TestLoadLenientValues(t *testing.T) {
	want := Config{Port: 1000, Debug: true, Extensions: []string{}, Backend: BackendConfig{Port: 8080, StrictSSL: true}}
	tests := []struct{ name, file, src string }{
		{name: "JSON", file: "c.json", src: `{"port": 1e3, "debug": 1, "extensions": "", "backend": {"port": "8080", "strictSSL": "true"}}`},
		{name: "YAML", file: "c.yaml", src: "port: 1000.0\ndebug: yes\nextensions: ''\nbackend:\n  port: '8080'\n  strictSSL: 1\n"},
		{name: "JavaScript", file: "c.js", src: "settings = {port: 1e3, debug: !0, extensions: '', backend: {port: '8080', strictSSL: 'yes'}};"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadEnviron(writeConfigTemp(t, tt.file, tt.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
		})
	}
}

// TestLoadJavaScript covers what real files do with the language.
func TestLoadJavaScript(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Config
	}{
		{name: "var declaration", src: "var settings = {port: 9000};", want: Config{Port: 9000}},
		{name: "const declaration", src: "const settings = {port: 9000};", want: Config{Port: 9000}},
		{name: "later statements amend settings", src: "settings = {backend: {}};\nsettings.backend.port = 8000 + 88;\n", want: Config{Backend: BackendConfig{Port: 8088}}},
		{name: "bare object as completion value", src: "({host: 'example.net'})", want: Config{Host: "example.net"}},
		{name: "console is available and silent", src: "console.log('loading');\nsettings = {debug: true};", want: Config{Debug: true}},
		{name: "serviceKey written as a number", src: "settings = {serviceKey: 12345};", want: Config{ServiceKey: "12345"}},
		{name: "bodyParserJsonLimit in bytes", src: "settings = {bodyParserJsonLimit: 2048};", want: Config{BodyParserJSONLimit: "2048"}},
		{name: "null and undefined leave defaults", src: "settings = {port: null, host: undefined, sslKeyPath: null};", want: Config{}},
		{name: "empty port string is the default", src: "settings = {backend: {port: ''}};", want: Config{}},
		{name: "boolean strings", src: "settings = {debug: 'yes', clientsCanWriteToChannels: 'false'};", want: Config{Debug: true}},
		{name: "single transport string", src: "settings = {transports: 'polling', corsOrigins: 'https://a.example'};", want: Config{Transports: []string{"polling"}, CORSOrigins: []string{"https://a.example"}}},
		{name: "durations as Go strings", src: "settings = {authTimeout: '1.5s', authCacheTTL: '2h'};", want: Config{AuthTimeout: Duration(1500 * time.Millisecond), AuthCacheTTL: Duration(2 * time.Hour)}},
		{
			name: "keys match case exactly, as in Node",
			src:  "settings = {sslCaPath: '/ca.pem', Port: 1, backend: {Host: 'x', extra: 1}};",
			want: Config{Ignored: []string{"Port", "backend.Host", "backend.extra", "sslCaPath"}},
		},
		{
			name: "functions are dropped and reported",
			src:  "settings = {helper: function () {}, socketOptions: {origins: function (o, cb) { cb(null, true); }, serveClient: false}};",
			want: Config{SocketOptions: map[string]any{"serveClient": false}, Ignored: []string{"helper", "socketOptions.origins"}},
		},
		{
			name: "quoted socket options are typed",
			src:  "settings = {socketOptions: {pingInterval: '25000', serveClient: 'false', allowEIO3: 1, cookie: false}};",
			want: Config{SocketOptions: map[string]any{"pingInterval": 25000.0, "serveClient": false, "allowEIO3": true, "cookie": false}},
		},
		{
			name: "adminUI with basic auth",
			src:  "settings = {adminUI: {auth: {type: 'basic', username: 'admin', password: '$2a$10$x'}, readonly: true, extra: 1}};",
			want: Config{AdminUI: &AdminUI{Auth: AdminUIAuth{Set: true, Type: "basic", Username: "admin", Password: "$2a$10$x"}, Readonly: true}, Ignored: []string{"adminUI.extra"}},
		},
		{
			name: "adminUI without login",
			src:  "settings = {adminUI: {auth: false, mode: 'production'}};",
			want: Config{AdminUI: &AdminUI{Auth: AdminUIAuth{Set: true, Disabled: true}, Mode: "production"}},
		},
		{
			name: "repository test settings",
			src:  "settings = {resource: '/socket.io', test: {uid: 666}, logLevel: 1, socketOptions: {path: '/some-other-path'}};",
			want: Config{Resource: "/socket.io", SocketOptions: map[string]any{"path": "/some-other-path"}, Ignored: []string{"logLevel", "test"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadEnviron(writeConfigTemp(t, "nodejs.config.js", tt.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string // in testdata unless absolute
		src    string // when set, written to a temp file named path
		is     error  // errors.Is target, if any
		substr []string
	}{
		{name: "syntax error", path: "syntax-error.config.js",
			substr: []string{"syntax-error.config.js", "syntax error at line 4, column 3", "Unexpected identifier"}},
		{name: "no settings", path: "no-settings.config.js", is: ErrNoSettings,
			substr: []string{"no settings object: settings is not defined; the file must assign settings = {...}"}},
		{name: "require", path: "require.config.js",
			substr: []string{"line 1, column", "ReferenceError: require is not defined", "require() is not available"}},
		{name: "module.exports", path: "exports.js", src: "module.exports = {port: 1};",
			substr: []string{"module is not defined", "not module.exports"}},
		{name: "thrown error", path: "throw.js", src: "settings = {};\nthrow new Error('no key file');",
			substr: []string{"line 2, column", "Error: no key file"}},
		{name: "endless recursion", path: "recurse.js", src: "function f() { return f(); }\nsettings = f();",
			substr: []string{"stack overflow"}},
		{name: "settings is a number", path: "num.js", src: "settings = 42;", is: ErrNoSettings,
			substr: []string{"settings is a number, want an object"}},
		{name: "settings is an array", path: "arr.js", src: "settings = [1];", is: ErrNoSettings,
			substr: []string{"settings is an array"}},
		{name: "circular settings", path: "cycle.js", src: "settings = {}; settings.self = settings;",
			substr: []string{"TypeError", "circular"}},
		{name: "wrong types name every key", path: "wrong-types.config.js",
			substr: []string{
				`backend.port: want a whole number, got boolean true`,
				`debug: want true or false, got string "maybe"`,
				`port: want a whole number, got string "abc"`,
				`socketOptions.pingInterval: want a number, got string "soon"`,
			}},
		{name: "fractional port", path: "frac.js", src: "settings = {port: 80.5};",
			substr: []string{"port: want a whole number, got number 80.5"}},
		{name: "backend not an object", path: "be.js", src: "settings = {backend: 'drupal'};",
			substr: []string{`backend: want an object, got string "drupal"`}},
		{name: "bad duration", path: "dur.js", src: "settings = {authTimeout: 'soon'};",
			substr: []string{`authTimeout: want milliseconds or a duration like "5s", got string "soon"`}},
		{name: "extension list item", path: "ext.js", src: "settings = {extensions: ['a', {}]};",
			substr: []string{"extensions: item 1: want a string, got an object"}},
		{name: "unexpanded Lagoon template", path: "lagoon-template.config.js",
			substr: []string{"syntax error at line 8, column 13", "the file holds ${NODE_SCHEME:-http}; it looks like an unexpanded Lagoon/wodby template", "unexpanded Lagoon/wodby template"}},
		{name: "template placeholder in a parsed value", path: "tpl.json", src: `{"scheme": "${NODE_SCHEME:-http}"}`,
			substr: []string{"scheme: the value holds ${NODE_SCHEME:-http}; it looks like an unexpanded"}},
		{name: "empty file", path: "empty.config.js", is: ErrEmptyConfig, substr: []string{"empty.config.js: file is empty"}},
		{name: "blank JSON file", path: "blank.json", src: " \n\t\n", is: ErrEmptyConfig},
		{name: "comment-only YAML", path: "c.yaml", src: "# nothing\n", is: ErrEmptyConfig},
		{name: "missing file", path: filepath.Join(dir, "absent.config.js"), is: fs.ErrNotExist,
			substr: []string{"absent.config.js: cannot open: no such file or directory"}},
		{name: "directory instead of file", path: dir, substr: []string{"cannot read: is a directory"}},
		{name: "JSON syntax error", path: "bad.json", src: "{\n  \"port\": 8080,\n  \"host\": }\n",
			substr: []string{"JSON syntax error at line 3, column 11", "invalid character '}'"}},
		{name: "JSON truncated", path: "cut.json", src: `{"port": 8080`, substr: []string{"unexpected end of file"}},
		{name: "JSON trailing data", path: "two.json", src: `{"port": 1} {"port": 2}`, substr: []string{"unexpected data after the top-level object"}},
		{name: "JSON top level not an object", path: "list.json", src: `[1, 2]`, substr: []string{"top level is a list"}},
		{name: "JSON wrong type", path: "wt.json", src: `{"port": "abc"}`, substr: []string{`port: want a whole number, got string "abc"`}},
		{name: "YAML syntax error", path: "bad.yaml", src: "port: 8080\nbackend:\n  host: [x\n", substr: []string{"YAML syntax error at line 2: did not find expected"}},
		{name: "YAML top level not a mapping", path: "s.yml", src: "just text\n", substr: []string{`top level is string "just text"`}},
		{name: "YAML wrong type", path: "wt.yml", src: "backend:\n  port: eighty\n", substr: []string{`backend.port: want a whole number, got string "eighty"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			switch {
			case tt.src != "":
				path = writeConfigTemp(t, tt.path, tt.src)
			case !filepath.IsAbs(path):
				path = filepath.Join("testdata", path)
			}
			_, err := LoadEnviron(path, nil)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "drupal config "+path+": ") {
				t.Errorf("error does not start with the file: %s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			for _, s := range tt.substr {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %q", msg, s)
				}
			}
		})
	}
}

// TestLoadTimeout checks that an endless loop fails within the timeout
// instead of hanging startup.
func TestLoadTimeout(t *testing.T) {
	start := time.Now()
	_, err := loadConfig(filepath.Join("testdata", "loop.config.js"), nil, 200*time.Millisecond)
	if !errors.Is(err, ErrEvalTimeout) {
		t.Fatalf("got %v, want ErrEvalTimeout", err)
	}
	if !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Errorf("message: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestLoadDefaultsValidate runs the whole startup sequence on the fixtures:
// every real-world file must end up valid.
func TestLoadDefaultsValidate(t *testing.T) {
	for _, file := range []string{"nodejs.config.js", "nodejs.config.json", "nodejs.config.yaml", "lagoon-env.config.js", "lagoon-expanded.config.js", "d7.config.js"} {
		t.Run(file, func(t *testing.T) {
			c, err := LoadEnviron(filepath.Join("testdata", file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ApplyEnv(&c, func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			c = c.WithDefaults()
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	c, _ := LoadEnviron(filepath.Join("testdata", "nodejs.config.js"), nil)
	if got := c.SocketPath(); got != "/realtime" {
		t.Errorf("SocketPath = %q", got)
	}
	if n, _ := c.BodyLimit(); n != 512<<10 {
		t.Errorf("BodyLimit = %d", n)
	}
}

// TestLoadUsesProcessEnvironment checks that Load hands the real environment
// to the script.
func TestLoadUsesProcessEnvironment(t *testing.T) {
	t.Setenv("SOCKETD_TEST_KEY", "from-env")
	c, err := Load(writeConfigTemp(t, "nodejs.config.js", "settings = {serviceKey: process.env.SOCKETD_TEST_KEY};"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceKey != "from-env" {
		t.Errorf("ServiceKey = %q", c.ServiceKey)
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `5000`, want: 5 * time.Second},
		{in: `1.5`, want: 1500 * time.Microsecond},
		{in: `"250ms"`, want: 250 * time.Millisecond},
		{in: `"1h30m"`, want: 90 * time.Minute},
		{in: `"3000"`, want: 3 * time.Second},
		{in: `""`, want: 0},
		{in: `null`, want: 7}, // unchanged
		{in: `"soon"`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `1e300`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := Duration(7)
			err := d.UnmarshalJSON([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && time.Duration(d) != tt.want {
				t.Errorf("got %v, want %v", time.Duration(d), tt.want)
			}
		})
	}
	for _, d := range []Duration{0, Duration(5 * time.Second), Duration(1500 * time.Microsecond)} {
		b, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalJSON(b); err != nil || back != d {
			t.Errorf("%s round-trips to %v (%v)", b, back, err)
		}
	}
}

func TestKnownIgnoredKey(t *testing.T) {
	for key, want := range map[string]bool{
		"jsEtag": true, "publishUrl": true, "NODE_LOG_LEVEL": true, "test": true,
		"sslCaPath": false, "socketOptions.wsEngine": false, "port": false,
	} {
		if got := KnownIgnoredKey(key); got != want {
			t.Errorf("KnownIgnoredKey(%q) = %t", key, got)
		}
	}
}

func writeConfigTemp(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateAdminUI(t *testing.T) {
	for _, tt := range []struct {
		json string
		err  string // "" when valid
	}{
		{`{"adminUI": {"auth": {"type": "basic", "username": "admin", "password": "$2a$10$h"}}}`, ""},
		{`{"adminUI": {"auth": false, "mode": "development"}}`, ""},
		{`{"adminUI": null}`, ""},
		{`{"adminUI": {}}`, "adminUI.auth is required"},
		{`{"adminUI": {"auth": {"type": "digest", "username": "a", "password": "p"}}}`, `want type "basic"`},
		{`{"adminUI": {"auth": {"type": "basic", "password": "p"}}}`, `want type "basic" with a username`},
		{`{"adminUI": {"auth": false, "mode": "prod"}}`, `adminUI.mode "prod"`},
		{`{"adminUI": {"auth": true}}`, `adminUI.auth: want false or`},
		{`{"adminUI": true}`, `adminUI: want an object`},
	} {
		c, err := LoadEnviron(writeConfigTemp(t, "c.json", tt.json), nil)
		if err == nil {
			err = c.WithDefaults().Validate()
		}
		if tt.err == "" && err != nil {
			t.Errorf("%s: %v", tt.json, err)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want one with %q", tt.json, err, tt.err)
		}
	}
}
