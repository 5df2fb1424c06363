package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/socketd/socketd/server/engine"
)

// There is no Docker engine here: TestComposeStack reads docker-compose.yml
// and the nginx configuration it mounts, and checks that they agree with each
// other and that every socketd service's command line and environment load
// through socketd's own configuration code, as in the container.

// composeFile is the part of a compose file the check reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   []string          `yaml:"depends_on"`
}

// hostPath is the file of the repository (root) that svc mounts at target.
func (svc composeService) hostPath(root, target string) (string, bool) {
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return filepath.Join(root, parts[0]), true
		}
	}
	return "", false
}

// containerPorts are the container sides of svc's published ports.
func (svc composeService) containerPorts() []int {
	var out []int
	for _, p := range svc.Ports {
		i := strings.LastIndexByte(p, ':')
		if n, err := strconv.Atoi(p[i+1:]); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ngx is an nginx directive: name, arguments and block (nil without one).
type ngx struct {
	name  string
	args  []string
	block []*ngx
}

// parseNginx reads nginx's configuration syntax: directives ending in ';' or
// a block, '#' comments, single- and double-quoted arguments.
func parseNginx(src string) ([]*ngx, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, string(c))
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote at %d", i)
			}
			toks = append(toks, "\x00"+src[i+1:i+1+j]) // marked: a quoted argument
			i += j + 2
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n{};#", rune(src[j])) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	pos := 0
	var block func(depth int) ([]*ngx, error)
	block = func(depth int) ([]*ngx, error) {
		var out []*ngx
		var cur *ngx
		for pos < len(toks) {
			t := toks[pos]
			pos++
			switch {
			case t == ";" && cur != nil:
				out, cur = append(out, cur), nil
			case t == "{" && cur != nil:
				b, err := block(depth + 1)
				if err != nil {
					return nil, err
				}
				cur.block = b
				if cur.block == nil {
					cur.block = []*ngx{}
				}
				out, cur = append(out, cur), nil
			case t == "}" && cur == nil && depth > 0:
				return out, nil
			case t == ";" || t == "{" || t == "}":
				return nil, fmt.Errorf("unexpected %q", t)
			case cur == nil:
				cur = &ngx{name: t}
			default:
				cur.args = append(cur.args, strings.TrimPrefix(t, "\x00"))
			}
		}
		if cur != nil || depth > 0 {
			return nil, fmt.Errorf("unexpected end of file")
		}
		return out, nil
	}
	return block(0)
}

func ngxFind(ds []*ngx, name string) []*ngx {
	var out []*ngx
	for _, d := range ds {
		if d.name == name {
			out = append(out, d)
		}
	}
	return out
}

// ngxDuration reads an nginx time ("60s", "1m", "90" seconds).
func ngxDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

// checkStack checks a compose file and the nginx configuration it mounts
// (nginx, the configuration as read; nil reads the mounted file from root)
// and returns what disagrees, one sentence each.
func checkStack(root string, composeYAML, nginx []byte) []string {
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	var cf composeFile
	if err := yaml.Unmarshal(composeYAML, &cf); err != nil {
		return []string{"docker-compose.yml: " + err.Error()}
	}
	for name, svc := range cf.Services {
		for _, dep := range svc.DependsOn {
			if _, ok := cf.Services[dep]; !ok {
				fail("%s depends on %s, which is no service", name, dep)
			}
		}
	}

	// The socketd nodes: the services built from this repository.
	type node struct {
		name          string
		redis, key    string
		prefix        string
		port          int
		pingIdleBound time.Duration // pingInterval + pingTimeout
	}
	var nodes []node
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		svc := cf.Services[name]
		if svc.Build != "." {
			continue
		}
		f, err := parseFlags(svc.Command, io.Discard)
		if err != nil {
			fail("%s: command %q: %v", name, svc.Command, err)
			continue
		}
		if f.config != "" {
			p, ok := svc.hostPath(root, f.config)
			if !ok {
				fail("%s: the config file %s is not mounted from the repository", name, f.config)
				continue
			}
			f.config = p
		}
		// The container's environment and nothing else (not this test's).
		getenv := func(k string) string { return svc.Environment[k] }
		cfg, err := loadConfig(f, getenv, fileExists)
		if err != nil {
			fail("%s: socketd refuses its configuration: %v", name, err)
			continue
		}
		ec, err := engineConfig(cfg)
		if err != nil {
			fail("%s: engine configuration: %v", name, err)
			continue
		}
		eng, err := engine.New(ec, func(*engine.Session) engine.Handler { return nil })
		if err != nil {
			fail("%s: engine: %v", name, err)
			continue
		}
		ec = eng.Config() // with the defaults
		_ = eng.Close(context.Background())
		n := node{name: name, redis: cfg.Redis, key: cfg.ServiceKey, prefix: cfg.RedisPrefix, port: cfg.Port,
			pingIdleBound: ec.PingInterval + ec.PingTimeout}
		nodes = append(nodes, n)

		if cfg.Host != "0.0.0.0" && cfg.Host != "::" && cfg.Host != "" {
			fail("%s listens on %q: the other containers cannot reach it", name, cfg.Host)
		}
		if cfg.ServiceKey == "" {
			fail("%s has no service key", name)
		}
		// Redis: the redis service, on the port it listens on.
		if u, err := url.Parse(cfg.Redis); cfg.Redis == "" || err != nil {
			fail("%s: no Redis URL (SOCKETD_REDIS_URL): %q", name, cfg.Redis)
		} else if rs, ok := cf.Services[u.Hostname()]; !ok || !strings.HasPrefix(rs.Image, "redis:") {
			fail("%s: Redis host %q is not the redis service", name, u.Hostname())
		} else if want := redisPort(rs); u.Port() != strconv.Itoa(want) {
			fail("%s: Redis port %q, the redis service listens on %d", name, u.Port(), want)
		}
		// Advertise: this service's name and listen port.
		if adv, err := advertiseURL(cfg); err != nil {
			fail("%s: %v", name, err)
		} else if u, _ := url.Parse(adv); cfg.Advertise == "" || u.Hostname() != name || u.Port() != strconv.Itoa(cfg.Port) {
			fail("%s advertises %q: want http://%s:%d (SOCKETD_ADVERTISE)", name, cfg.Advertise, name, cfg.Port)
		}
		// Backend: the Drupal service, on the port its container serves.
		if ds, ok := cf.Services[cfg.Backend.Host]; !ok || !strings.HasPrefix(ds.Image, "drupal:") {
			fail("%s: the backend host %q is not the drupal service", name, cfg.Backend.Host)
		} else if !slices.Contains(ds.containerPorts(), cfg.Backend.Port) || cfg.Backend.Scheme != "http" {
			fail("%s: backend %s://%s:%d, the drupal service serves http on %v", name, cfg.Backend.Scheme, cfg.Backend.Host, cfg.Backend.Port, ds.containerPorts())
		}
		if cfg.Backend.BasePath+cfg.Backend.MessagePath != "/nodejs/message" {
			fail("%s: Drupal's callback path %q, the module's is /nodejs/message", name, cfg.Backend.BasePath+cfg.Backend.MessagePath)
		}
	}
	if len(nodes) != 2 {
		fail("%d socketd services (build: .), want 2", len(nodes))
	}
	for _, n := range nodes[min(1, len(nodes)):] {
		if n.redis != nodes[0].redis || n.prefix != nodes[0].prefix {
			fail("%s and %s are on different Redis (%q %q, %q %q): not one cluster", nodes[0].name, n.name, nodes[0].redis, nodes[0].prefix, n.redis, n.prefix)
		}
		if n.key != nodes[0].key {
			fail("%s and %s have different service keys: Drupal has one", nodes[0].name, n.name)
		}
	}

	// nginx: round robin over exactly these nodes, upgrades passed on,
	// timeouts above the heartbeat.
	var proxy composeService
	var proxyName string
	for name, svc := range cf.Services {
		if strings.HasPrefix(svc.Image, "nginx:") {
			proxy, proxyName = svc, name
		}
	}
	if proxyName == "" {
		return append(errs, "no nginx service")
	}
	if nginx == nil {
		p, ok := proxy.hostPath(root, "/etc/nginx/conf.d/default.conf")
		if !ok {
			return append(errs, "nginx: no configuration mounted at /etc/nginx/conf.d/default.conf")
		}
		var err error
		if nginx, err = os.ReadFile(p); err != nil {
			return append(errs, "nginx: "+err.Error())
		}
	}
	conf, err := parseNginx(string(nginx))
	if err != nil {
		return append(errs, "nginx configuration: "+err.Error())
	}
	upstreams := map[string][]*ngx{}
	for _, u := range ngxFind(conf, "upstream") {
		if len(u.args) == 1 {
			upstreams[u.args[0]] = u.block
		}
	}
	upgrades := map[string]bool{} // variables mapped from $http_upgrade to "upgrade"
	for _, m := range ngxFind(conf, "map") {
		if len(m.args) == 2 && m.args[0] == "$http_upgrade" {
			for _, d := range m.block {
				if d.name == "default" && len(d.args) == 1 && d.args[0] == "upgrade" {
					upgrades[m.args[1]] = true
				}
			}
		}
	}
	servers := ngxFind(conf, "server")
	if len(servers) != 1 {
		return append(errs, fmt.Sprintf("nginx: %d server blocks, want 1", len(servers)))
	}
	listen := ngxFind(servers[0].block, "listen")
	if len(listen) != 1 || len(listen[0].args) < 1 || !slices.Contains(proxy.containerPorts(), atoi(listen[0].args[0])) {
		fail("nginx listens on %v, its published container ports are %v", listen, proxy.containerPorts())
	}
	var root0 *ngx
	for _, l := range ngxFind(servers[0].block, "location") {
		if len(l.args) == 1 && l.args[0] == "/" {
			root0 = l
		}
	}
	if root0 == nil {
		return append(errs, "nginx: no location /")
	}
	one := func(name string) []string {
		ds := ngxFind(root0.block, name)
		if len(ds) != 1 {
			return nil
		}
		return ds[0].args
	}
	pass := one("proxy_pass")
	if len(pass) != 1 || !strings.HasPrefix(pass[0], "http://") {
		return append(errs, fmt.Sprintf("nginx: proxy_pass %v, want http://<upstream>", pass))
	}
	members, ok := upstreams[strings.TrimPrefix(pass[0], "http://")]
	if !ok {
		return append(errs, fmt.Sprintf("nginx: proxy_pass %s names no upstream", pass[0]))
	}
	var got, want []string
	for _, d := range members {
		switch d.name {
		case "server":
			if len(d.args) > 0 {
				got = append(got, d.args[0])
			}
		case "ip_hash", "hash", "sticky", "least_conn", "random":
			fail("nginx: upstream has %s: want plain round robin (socketd forwards; no sticky sessions)", d.name)
		}
	}
	for _, n := range nodes {
		want = append(want, net.JoinHostPort(n.name, strconv.Itoa(n.port)))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		fail("nginx: upstream servers %v, the socketd services listen at %v", got, want)
	}
	if v := one("proxy_http_version"); len(v) != 1 || v[0] != "1.1" {
		fail("nginx: proxy_http_version %v, want 1.1 (WebSocket upgrades)", v)
	}
	var upgradeHdr, connHdr bool
	for _, d := range ngxFind(root0.block, "proxy_set_header") {
		if len(d.args) == 2 && strings.EqualFold(d.args[0], "Upgrade") && d.args[1] == "$http_upgrade" {
			upgradeHdr = true
		}
		if len(d.args) == 2 && strings.EqualFold(d.args[0], "Connection") && upgrades[d.args[1]] {
			connHdr = true
		}
	}
	if !upgradeHdr || !connHdr {
		fail("nginx: WebSocket upgrades not passed on (proxy_set_header Upgrade $http_upgrade, and Connection from a map of $http_upgrade to upgrade)")
	}
	rt := one("proxy_read_timeout")
	readTimeout := 60 * time.Second // nginx's default
	if rt != nil {
		if readTimeout, err = ngxDuration(rt[0]); err != nil {
			fail("nginx: proxy_read_timeout %q: %v", rt[0], err)
		}
	}
	for _, n := range nodes {
		if readTimeout <= n.pingIdleBound {
			fail("nginx: proxy_read_timeout %v is not above %s's pingInterval + pingTimeout (%v): held polls and idle WebSockets would be cut", readTimeout, n.name, n.pingIdleBound)
		}
	}
	return errs
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// redisPort is the port the redis service listens on: its --port, or 6379.
func redisPort(svc composeService) int {
	for i, a := range svc.Command {
		if a == "--port" && i+1 < len(svc.Command) {
			return atoi(svc.Command[i+1])
		}
	}
	return 6379
}

func readStack(t *testing.T) (root string, compose, nginx []byte) {
	t.Helper()
	root = filepath.Join("..", "..")
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	nginx, err = os.ReadFile(filepath.Join(root, "docs", "examples", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return root, compose, nginx
}

func TestComposeStack(t *testing.T) {
	root, compose, _ := readStack(t)
	for _, e := range checkStack(root, compose, nil) {
		t.Error(e)
	}
}

// The check finds what breaks a cluster behind a balancer: each edit below
// of the real files must be reported.
func TestComposeStackMistakes(t *testing.T) {
	root, compose, nginx := readStack(t)
	for _, tc := range []struct {
		name          string
		file          string // "compose" or "nginx"
		old, new      string
		wantSubstring string
	}{
		{"sticky", "nginx", "upstream socketd {", "upstream socketd {\n    ip_hash;", "round robin"},
		{"a node missing upstream", "nginx", "    server socketd2:8080;\n", "", "upstream servers"},
		{"wrong node port", "nginx", "socketd2:8080", "socketd2:8081", "upstream servers"},
		{"no upgrade", "nginx", "proxy_set_header Upgrade $http_upgrade;", "", "upgrades"},
		{"short read timeout", "nginx", "proxy_read_timeout 60s;", "proxy_read_timeout 30s;", "proxy_read_timeout"},
		{"default read timeout is 60s", "nginx", "proxy_read_timeout 60s;", "", ""},
		// Replacements change the first socketd service only.
		{"other Redis", "compose", "redis://redis:6379/0", "redis://redis:6379/1", "different Redis"},
		{"Redis host", "compose", "redis://redis:6379/0", "redis://cache:6379/0", "not the redis service"},
		{"Redis port", "compose", "redis://redis:6379/0", "redis://redis:6380/0", "Redis port"},
		{"advertise", "compose", `"http://socketd2:8080"`, `"http://socketd1:8080"`, "advertises"},
		{"bad advertise", "compose", `"http://socketd2:8080"`, `"socketd2:8080"`, "advertise"},
		{"service key", "compose", `NODE_SERVICE_KEY: "change-me"`, `NODE_SERVICE_KEY: "other"`, "service keys"},
		{"backend", "compose", `NODE_BACKEND_HOST: "drupal"`, `NODE_BACKEND_HOST: "localhost"`, "backend host"},
		{"bad env", "compose", `NODE_PORT: "8080"`, `NODE_PORT: "eighty"`, "refuses its configuration"},
		{"unknown dependency", "compose", "      - db\n", "      - database\n", "no service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, n := string(compose), string(nginx)
			target := &n
			if tc.file == "compose" {
				target = &c
			}
			if !strings.Contains(*target, tc.old) {
				t.Fatalf("the %s file no longer has %q: update the test", tc.file, tc.old)
			}
			*target = strings.Replace(*target, tc.old, tc.new, 1)
			errs := checkStack(root, []byte(c), []byte(n))
			if tc.wantSubstring == "" {
				if len(errs) > 0 {
					t.Fatalf("reported %q", errs)
				}
				return
			}
			for _, e := range errs {
				if strings.Contains(e, tc.wantSubstring) {
					return
				}
			}
			t.Fatalf("not reported (want %q): %q", tc.wantSubstring, errs)
		})
	}
}

func TestParseNginx(t *testing.T) {
	ds, err := parseNginx("a 1 '2 3';  # c\nb { c \"\"; d { } }")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].name != "a" || !slices.Equal(ds[0].args, []string{"1", "2 3"}) ||
		len(ds[1].block) != 2 || !slices.Equal(ds[1].block[0].args, []string{""}) || ds[1].block[1].block == nil {
		t.Fatalf("parsed %+v", ds)
	}
	for _, bad := range []string{"a {", "a }", "a", "a 'b;", "{ }", "a;}"} {
		if _, err := parseNginx(bad); err == nil {
			t.Errorf("parseNginx(%q) accepted", bad)
		}
	}
}
