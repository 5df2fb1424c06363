package nodejsconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Errors Load wraps, so a caller or test can tell the conditions apart.
var (
	// ErrEmptyConfig: the file has no content at all.
	ErrEmptyConfig = errors.New("file is empty")
	// ErrNoSettings: a JavaScript config ran but defined no settings object.
	ErrNoSettings = errors.New("no settings object")
	// ErrEvalTimeout: a JavaScript config did not finish in time.
	ErrEvalTimeout = errors.New("config evaluation timed out")
)

const (
	// evalTimeout bounds a JavaScript config's run; a real one takes
	// microseconds, so this only ever fires on an endless loop.
	evalTimeout = 2 * time.Second
	// maxConfigSize refuses files no operator wrote by hand (real configs are
	// a few kilobytes), before they reach the JavaScript engine.
	maxConfigSize = 1 << 20
)

// Load reads the operator's existing drupal-node.js configuration file,
// unchanged, into a Config. The format follows the file name: ".json" is
// JSON, ".yaml"/".yml" YAML, and anything else (nodejs.config.js) is
// JavaScript assigning `settings = {...}`, evaluated as drupal-node.js did
// (spec §1) with `process.env` taken from this process's environment. The
// same keys are read in every format.
//
// Load does not apply defaults or validate: zero fields mean "default"
// (Config.WithDefaults), and the caller applies ApplyEnv first, then
// WithDefaults and Validate. Keys socketd does not use are listed in
// Config.Ignored (see KnownIgnoredKey). Every error names the file.
func Load(path string) (Config, error) {
	return LoadEnviron(path, os.Environ())
}

// LoadEnviron is Load with the environment a JavaScript config sees as
// process.env given explicitly as KEY=value strings, for callers (and tests)
// that keep environment access in one place.
func LoadEnviron(path string, environ []string) (Config, error) {
	return loadConfig(path, environ, evalTimeout)
}

func loadConfig(path string, environ []string, timeout time.Duration) (c Config, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("drupal config %s: %w", path, err)
		}
	}()
	data, err := readConfig(path)
	if err != nil {
		return Config{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Config{}, ErrEmptyConfig
	}
	var tree map[string]any
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		tree, err = parseJSONConfig(data)
	case ".yaml", ".yml":
		tree, err = parseYAMLConfig(data)
	default:
		tree, err = evalJS(path, data, environ, timeout)
	}
	const template = "it looks like an unexpanded Lagoon/wodby template: expand it as the image entrypoint does, or write plain values and let socketd read the NODE_* variables"
	if err == nil {
		if key, p := placeholderIn(tree, ""); p != "" {
			err = fmt.Errorf("%s: the value holds %s; %s", key, p, template)
		}
	} else if p := placeholderRE.Find(data); p != nil {
		err = fmt.Errorf("%w (the file holds %s; %s)", err, p, template)
	}
	if err != nil {
		return Config{}, err
	}
	return decodeTree(tree)
}

// readConfig reads at most maxConfigSize bytes of path. Errors keep the
// fs.ErrNotExist/ErrPermission chain but not the path, which the caller's
// wrapping already gives.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open: %w", pathErrCause(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", pathErrCause(err))
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("file is larger than %d bytes; not a configuration file?", maxConfigSize)
	}
	return data, nil
}

func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// placeholderRE matches the ${NAME} / ${NAME:-default} placeholders of the
// wodby/Lagoon image template, which its entrypoint expands before start.
var placeholderRE = regexp.MustCompile(`\$\{[A-Z_][A-Z0-9_]*(:?-[^}]*)?\}`)

// placeholderIn returns the key and text of the first template placeholder
// in a string value of v. A template that happens to parse would otherwise
// start with scheme "${NODE_SCHEME:-http}" and fail later, puzzlingly.
func placeholderIn(v any, key string) (string, string) {
	switch x := v.(type) {
	case string:
		return key, placeholderRE.FindString(x)
	case map[string]any:
		if key != "" {
			key += "."
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if at, p := placeholderIn(x[k], key+k); p != "" {
				return at, p
			}
		}
	case []any:
		for i, e := range x {
			if at, p := placeholderIn(e, fmt.Sprintf("%s[%d]", key, i)); p != "" {
				return at, p
			}
		}
	}
	return "", ""
}

// parseJSONConfig decodes a JSON config into a tree with json.Number numbers.
func parseJSONConfig(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("JSON: unexpected data after the top-level object (at byte %d)", dec.InputOffset())
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("JSON: the top level is %s, want an object of settings", describeSetting(v))
	}
	return tree, nil
}

// jsonError adds the line and column to encoding/json's byte offsets.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := jsonLineCol(data, se.Offset)
		return fmt.Errorf("JSON syntax error at line %d, column %d: %v", line, col, se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("JSON syntax error: unexpected end of file")
	}
	return fmt.Errorf("JSON: %w", err)
}

func jsonLineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// parseYAMLConfig decodes a YAML config and converts it to the same tree shape as
// JSON, so one decoder (with Config's json tags) serves every format.
func parseYAMLConfig(data []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", " ")
		if strings.HasPrefix(msg, "line ") {
			return nil, fmt.Errorf("YAML syntax error at %s", msg)
		}
		return nil, fmt.Errorf("YAML: %s", msg)
	}
	if v == nil {
		return nil, ErrEmptyConfig // only comments or "---"
	}
	t, err := yamlToJSON(v)
	if err != nil {
		return nil, err
	}
	tree, ok := t.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("YAML: the top level is %s, want a mapping of settings", describeSetting(t))
	}
	return tree, nil
}

// yamlToJSON rewrites yaml.v3's decoded values as JSON values: maps with
// string keys, json.Number numbers, timestamps as RFC 3339 text.
func yamlToJSON(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := yamlToJSON(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := yamlToJSON(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := yamlToJSON(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("YAML: %v is not a usable number", x)
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case nil, string, bool:
		return x, nil
	}
	return fmt.Sprint(v), nil
}
