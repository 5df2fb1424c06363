package nodejsconfig

import (
	"strings"
	"testing"
)

var configSeeds = []string{
	`{"port":8080,"host":"127.0.0.1","serviceKey":"k","backend":{"host":"drupal","port":80,"basePath":"/"}}`,
	`{"port":"8080","backend":{"port":"x"},"socketOptions":{"pingInterval":1}}`,
	`{"extensions":["a.js"],"debug":"yes","clientsCanWriteToChannels":1}`,
	"port: 8080\nbackend:\n  host: d\n  messagePath: nodejs/message\n",
	"a: &x [1]\nb: *x\nport: {}\n", `[]`, `null`, `{"port":1e999}`, `{"host":"${NODE_HOST}"}`,
}

// FuzzConfig: a JSON or YAML config of any shape yields a Config or an error
// that says what is wrong, never a panic.
func FuzzConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add(s, strings.HasPrefix(s, "{") || strings.HasPrefix(s, "["))
	}
	f.Fuzz(func(t *testing.T, data string, isJSON bool) {
		parse := parseYAMLConfig
		if isJSON {
			parse = parseJSONConfig
		}
		tree, err := parse([]byte(data))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		placeholderIn(tree, "")
		if _, err := decodeTree(tree); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
