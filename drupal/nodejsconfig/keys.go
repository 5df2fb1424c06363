package nodejsconfig

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// valueKind is how the loader coerces one configuration value before the
// final json.Unmarshal into Config. Node read these values with JavaScript's
// loose typing, and real files rely on it: the Lagoon template writes
// backend.port as the string '8080' and debug as 1, and D7-era files write
// extensions: "". Coercing here keeps those files working while a value that
// JavaScript would also have misused (port: "abc") is an error naming the key.
type valueKind uint8

const (
	kindAny      valueKind = iota // kept as is (socketOptions.cookie, origins)
	kindString                    // string; a number is taken as its literal text
	kindInt                       // whole number; a numeric string is accepted
	kindNumber                    // any number; a numeric string is accepted
	kindBool                      // boolean; 0/1 and true/false/yes/no strings too
	kindStrings                   // list of strings; a single string is a one-item list
	kindDuration                  // milliseconds or a Go duration string
)

// socketOptionKind reports whether socketd maps the socket.io 2.x server option
// key, and how its value is checked. Unmapped options stay in
// Config.SocketOptions (it is passed on verbatim) but are listed in Ignored.
func socketOptionKind(key string) (valueKind, bool) {
	switch key {
	case "path":
		return kindString, true
	case "pingInterval", "pingTimeout", "maxHttpBufferSize":
		return kindNumber, true
	case "transports":
		return kindStrings, true
	case "serveClient", "allowEIO3":
		return kindBool, true
	case "cookie", "origins":
		return kindAny, true
	}
	return kindAny, false
}

// KnownIgnoredKey reports whether key (as listed in Config.Ignored) is one
// drupal-node.js 1.0.13 itself ignores: 1.0.10 socket.io 1.x options, the D7
// server.js route keys, the NODE_* variables for them, and the repository
// test file's "test" block. The caller can then warn "obsolete, ignored" for
// these and "unknown key, typo?" for the rest.
func KnownIgnoredKey(key string) bool {
	switch key {
	case "jsMinification", "jsEtag", "logLevel", "flashPolicy", "test",
		"publishUrl", "kickUserUrl", "logoutUserUrl", "addUserToChannelUrl",
		"removeUserFromChannelUrl", "addChannelUrl", "checkChannelUrl",
		"removeChannelUrl", "setUserPresenceListUrl", "addAuthTokenToChannelUrl",
		"removeAuthTokenFromChannelUrl", "toggleDebugUrl", "contentTokenUrl",
		"publishMessageToContentChannelUrl", "getContentTokenUsersUrl",
		"NODE_JS_MINIFICATION", "NODE_JS_ETAG", "NODE_LOG_LEVEL":
		return true
	}
	return false
}

// decodeTree turns a settings tree (from JavaScript, JSON or YAML, numbers as
// json.Number) into a Config. Keys are matched exactly, as Node does: the json
// tags of Config are the only list of key names, and encoding/json's
// case-insensitive matching must not quietly honour "sslCaPath" when 1.0.13
// ignored it.
func decodeTree(tree map[string]any) (Config, error) {
	var ignored []string
	var problems []string
	normalizeObject(tree, reflect.TypeFor[Config](), "", &ignored, &problems)
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, err
	}
	slices.Sort(ignored)
	c.Ignored = ignored
	return c, nil
}

// settingFields maps the json names of t's fields to their fields.
func settingFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = f
	}
	return m
}

// settingKind gives the coercion for a Config field type.
func settingKind(t reflect.Type) valueKind {
	if t == reflect.TypeFor[Duration]() {
		return kindDuration
	}
	switch t.Kind() {
	case reflect.Pointer:
		return settingKind(t.Elem())
	case reflect.String:
		return kindString
	case reflect.Int, reflect.Int64, reflect.Int32:
		return kindInt
	case reflect.Bool:
		return kindBool
	case reflect.Float64:
		return kindNumber
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return kindStrings
		}
	}
	return kindAny
}

// settingStruct is the struct type whose keys a setting of type t has (a
// struct or a pointer to one, such as adminUI), or nil for a value that reads
// itself (Duration, AdminUIAuth) or is not an object.
func settingStruct(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	return t
}

// normalizeObject checks and coerces obj in place against struct type t,
// deleting and recording keys t has no field for.
func normalizeObject(obj map[string]any, t reflect.Type, prefix string, ignored, problems *[]string) {
	fields := settingFields(t)
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		name := prefix + key
		f, ok := fields[key]
		if !ok {
			*ignored = append(*ignored, name)
			delete(obj, key)
			continue
		}
		v := obj[key]
		if v == nil {
			continue
		}
		switch st := settingStruct(f.Type); {
		case st != nil:
			sub, ok := v.(map[string]any)
			if !ok && f.Type == reflect.TypeFor[*RecoveryConfig]() {
				// socket.io takes connectionStateRecovery as true (its
				// defaults), false (off) or an object.
				on, err := coerceSetting(v, kindBool)
				switch {
				case err != nil:
					*problems = append(*problems, fmt.Sprintf("%s: want true, false or an object, got %s", name, describeSetting(v)))
				case on == true:
					obj[key] = map[string]any{}
				default:
					delete(obj, key)
				}
				continue
			}
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: want an object, got %s", name, describeSetting(v)))
				continue
			}
			normalizeObject(sub, st, name+".", ignored, problems)
		case f.Type.Kind() == reflect.Map:
			sub, ok := v.(map[string]any)
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: want an object, got %s", name, describeSetting(v)))
				continue
			}
			normalizeSocketOptions(sub, name+".", ignored, problems)
		default:
			nv, err := coerceSetting(v, settingKind(f.Type))
			if err != nil {
				*problems = append(*problems, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			obj[key] = nv
		}
	}
}

// normalizeSocketOptions checks the options socketd maps and records the rest
// as ignored. Function values (an origins callback) cannot be carried over and
// are removed.
func normalizeSocketOptions(opts map[string]any, prefix string, ignored, problems *[]string) {
	for _, key := range slices.Sorted(maps.Keys(opts)) {
		v := opts[key]
		kind, mapped := socketOptionKind(key)
		if _, fn := v.(jsFunction); fn {
			*ignored = append(*ignored, prefix+key)
			delete(opts, key)
			continue
		}
		if !mapped {
			*ignored = append(*ignored, prefix+key)
			continue
		}
		if v == nil {
			continue
		}
		nv, err := coerceSetting(v, kind)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s%s: %v", prefix, key, err))
			continue
		}
		opts[key] = nv
	}
}

// coerceSetting converts v to the JSON shape kind expects, or says what was wrong.
func coerceSetting(v any, kind valueKind) (any, error) {
	if _, fn := v.(jsFunction); fn && kind != kindAny {
		return nil, fmt.Errorf("want %s, got a function", kind)
	}
	bad := fmt.Errorf("want %s, got %s", kind, describeSetting(v))
	switch kind {
	case kindString:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		}
	case kindInt, kindNumber:
		var n json.Number
		switch x := v.(type) {
		case json.Number:
			n = x
		case string:
			s := strings.TrimSpace(x)
			if s == "" {
				return nil, nil // '' reads as unset, so the default applies
			}
			n = json.Number(s)
		default:
			return nil, bad
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil {
			return nil, bad
		}
		if kind == kindInt {
			// 1e3 and 8080.0 are whole numbers too; 80.5 is not.
			if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, bad
			}
			return json.Number(strconv.FormatInt(int64(f), 10)), nil
		}
		return n, nil
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return f != 0, nil // JavaScript truthiness: debug: 1
			}
		case string:
			if b, err := parseFlag(x); err == nil {
				return b, nil
			}
		}
	case kindStrings:
		switch x := v.(type) {
		case string:
			if x == "" {
				return []any{}, nil // D7 example files write extensions: ""
			}
			return []any{x}, nil
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				s, err := coerceSetting(e, kindString)
				if err != nil {
					return nil, fmt.Errorf("item %d: %w", i, err)
				}
				out[i] = s
			}
			return out, nil
		}
	case kindDuration:
		switch v.(type) {
		case json.Number, string:
			b, _ := json.Marshal(v)
			var d Duration
			if err := d.UnmarshalJSON(b); err != nil {
				return nil, err
			}
			return v, nil
		}
	case kindAny:
		return v, nil
	}
	return nil, bad
}

// String is what the key wants, for error messages.
func (k valueKind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindInt:
		return "a whole number"
	case kindNumber:
		return "a number"
	case kindBool:
		return "true or false"
	case kindStrings:
		return "a list of strings"
	case kindDuration:
		return `milliseconds or a duration like "5s"`
	}
	return "a value"
}

// describeSetting names a decoded value for an error message, with the value when
// it is short enough to help.
func describeSetting(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + x.String()
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case jsFunction:
		return "a function"
	}
	return fmt.Sprintf("%T", v)
}

// parseFlag reads the spellings operators use in env files and templates.
func parseFlag(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true/false, 1/0, yes/no)", s)
}

// UnmarshalJSON reads a number as milliseconds (the unit of every timing in
// the Node settings and socket.io options) and a string as a Go duration
// ("5s", "1h"); a numeric string is milliseconds too, so a templated
// '${AUTH_TIMEOUT}' works. Null leaves d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*d = 0
			return nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			v, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("want %s, got string %q", kindDuration, s)
			}
			*d = Duration(v)
			return nil
		}
	}
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want %s, got %s", kindDuration, s)
	}
	ns := ms * float64(time.Millisecond)
	if math.Abs(ns) > math.MaxInt64 {
		return fmt.Errorf("duration %s ms out of range", s)
	}
	*d = Duration(ns)
	return nil
}

// MarshalJSON writes the Go duration string ("5s"), which UnmarshalJSON reads
// back exactly and which is what an operator would type.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
