package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The deployment examples (docs/examples, the Dockerfile, docker-compose.yml)
// start socketd with command lines of their own: each must be one socketd's
// flag parser accepts, naming a config file, and every environment variable
// they mention must be one socketd reads. A renamed flag or variable breaks
// this test instead of an operator's start-up.

const repoDir = "../.."

// exampleCommands returns each example's socketd command line (argv[0] first).
func exampleCommands(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}

	// systemd: ExecStart= of the unit (its prefixes -@:+! are not the command).
	for i, v := range iniValues(t, "docs/examples/socketd.service", "Service", "ExecStart") {
		out["socketd.service ExecStart #"+string(rune('1'+i))] = splitCommand(t, strings.TrimLeft(v, "-@:+!"))
	}
	// supervisord: command= of the program block.
	for _, v := range iniValues(t, "docs/examples/supervisord.conf", "program:socketd", "command") {
		out["supervisord.conf command"] = splitCommand(t, v)
	}
	// Dockerfile: ENTRYPOINT and CMD in their JSON (exec) form.
	var entry, cmd []string
	for _, line := range readLines(t, "Dockerfile") {
		if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			entry = jsonArgs(t, "Dockerfile ENTRYPOINT", rest)
		}
		if rest, ok := strings.CutPrefix(line, "CMD "); ok {
			cmd = jsonArgs(t, "Dockerfile CMD", rest)
		}
	}
	out["Dockerfile ENTRYPOINT+CMD"] = append(entry, cmd...)
	// docker-compose.yml: the image's ENTRYPOINT with the command of each
	// service built from this Dockerfile.
	var compose struct {
		Services map[string]struct {
			Build   any      `yaml:"build"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile(filepath.Join(repoDir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for name, svc := range compose.Services {
		if svc.Build != nil {
			out["docker-compose.yml "+name+" command"] = append(append([]string(nil), entry...), svc.Command...)
		}
	}
	return out
}

func TestExamplesNameAcceptedFlags(t *testing.T) {
	cmds := exampleCommands(t)
	for _, want := range []string{"socketd.service ExecStart #1", "supervisord.conf command", "Dockerfile ENTRYPOINT+CMD"} {
		if _, ok := cmds[want]; !ok {
			t.Errorf("no %s found", want)
		}
	}
	compose := 0
	for name := range cmds {
		if strings.HasPrefix(name, "docker-compose.yml ") {
			compose++
		}
	}
	if compose == 0 {
		t.Error("no service of docker-compose.yml is built from the Dockerfile")
	}
	for name, argv := range cmds {
		if len(argv) == 0 || filepath.Base(argv[0]) != "socketd" {
			t.Errorf("%s: %q does not run socketd", name, argv)
			continue
		}
		f, err := parseFlags(argv[1:], io.Discard)
		if err != nil {
			t.Errorf("%s: socketd refuses %q: %v", name, argv[1:], err)
			continue
		}
		if f.config == "" || f.dev {
			t.Errorf("%s: %q names no config file (socketd would look for ./nodejs.config.js)", name, argv[1:])
		}
	}
}

// TestExamplesNameReadVariables: every NODE_* or SOCKETD_* variable an
// example sets (even commented out) is one socketd reads.
func TestExamplesNameReadVariables(t *testing.T) {
	read := map[string]bool{}
	getenv := func(k string) string { read[k] = true; return "" }
	if _, err := loadConfig(flags{dev: true}, getenv, noFile); err != nil {
		t.Fatal(err)
	}
	if len(read) < 10 {
		t.Fatalf("loadConfig asked for only %v", read)
	}
	re := regexp.MustCompile(`\b(?:NODE|SOCKETD)_[A-Z0-9_]+`)
	for _, file := range []string{"docs/examples/socketd.service", "docs/examples/supervisord.conf", "Dockerfile", "docker-compose.yml"} {
		seen := 0
		for _, line := range readLines(t, file) {
			for _, v := range re.FindAllString(line, -1) {
				seen++
				if !read[v] {
					t.Errorf("%s names %s, which socketd does not read", file, v)
				}
			}
		}
		if seen == 0 && strings.HasPrefix(file, "docs/") {
			t.Errorf("%s shows no environment variable", file)
		}
	}
}

// TestDockerfileStaticNonRoot: the image's binary is built as make build
// builds it but static (no cgo), without local paths, stamped with the
// VERSION build argument, and runs as a user other than root.
func TestDockerfileStaticNonRoot(t *testing.T) {
	var build string
	user := ""
	for _, line := range readLines(t, "Dockerfile") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") && strings.Contains(line, "./cmd/socketd") {
			build = line
		}
		if rest, ok := strings.CutPrefix(line, "USER "); ok {
			user = strings.TrimSpace(rest)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}"} {
		if !strings.Contains(build, want) {
			t.Errorf("Dockerfile's socketd build %q lacks %s", build, want)
		}
	}
	if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
		t.Errorf("Dockerfile's last USER is %q: the image would run socketd as root", user)
	}
}

func readLines(t *testing.T, rel string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// iniValues returns the values of key in [section] of an INI-style file
// (systemd units, supervisord), comments skipped.
func iniValues(t *testing.T, rel, section, key string) []string {
	t.Helper()
	var out []string
	in := false
	for _, line := range readLines(t, rel) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			in = line == "["+section+"]"
		case in:
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == key {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}

// splitCommand splits a command line at spaces, honouring double and single
// quotes (as systemd and supervisord do; neither runs a shell).
func splitCommand(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

func jsonArgs(t *testing.T, what, s string) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(s), &args); err != nil {
		t.Fatalf("%s %q: want the exec form, a JSON array: %v", what, s, err)
	}
	return args
}

// TestHelpDocumentsFlags: socketd -h describes every flag and points to where
// the configuration keys are described, and README's list of flags names
// every flag -h prints.
func TestHelpDocumentsFlags(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-h"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repoDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	names := 0
	for i, line := range lines {
		rest, ok := strings.CutPrefix(line, "  -")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		names++
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "    \t") || len(strings.TrimSpace(lines[i+1])) < 10 {
			t.Errorf("-h: flag -%s has no description", name)
		}
		if !strings.Contains(string(readme), "`-"+name) {
			t.Errorf("README.md does not list the flag -%s", name)
		}
	}
	if names < 15 {
		t.Fatalf("-h listed %d flags:\n%s", names, out.String())
	}
	for _, want := range []string{`README.md, section "Configuration reference"`, "docs/OPERATIONS.md"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), want) {
			t.Errorf("-h does not point to %s", want)
		}
	}
	if !strings.Contains(string(readme), "\n## Configuration reference\n") {
		t.Error(`README.md has no "## Configuration reference" section for -h to point to`)
	}
	if ops, err := os.ReadFile(filepath.Join(repoDir, "docs/OPERATIONS.md")); err != nil || !strings.Contains(string(ops), "\n## Running it: systemd, supervisord, Docker\n") {
		t.Errorf(`-h points to docs/OPERATIONS.md for running socketd: no "Running it" section there (%v)`, err)
	}
}
