package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The Redis URL and prefix come from the file, then SOCKETD_REDIS_URL, then
// the flags, as every other setting.
func TestLoadConfigRedis(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nodejs.config.json")
	if err := os.WriteFile(file, []byte(`{"redis":"redis://file:6379","redisPrefix":"site"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tt := []struct {
		name        string
		flags       flags
		env         map[string]string
		url, prefix string
	}{
		{"none", flags{dev: true}, nil, "", ""},
		{"file", flags{config: file}, nil, "redis://file:6379", "site"},
		{"env over file", flags{config: file}, map[string]string{"SOCKETD_REDIS_URL": "rediss://:pw@env:6380/2"}, "rediss://:pw@env:6380/2", "site"},
		{"flags over env", flags{config: file, redis: "redis://flag:1", redisPrefix: "p"},
			map[string]string{"SOCKETD_REDIS_URL": "redis://env:2"}, "redis://flag:1", "p"},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.flags, env(tc.env), noFile)
			if err != nil {
				t.Fatal(err)
			}
			if c.Redis != tc.url || c.RedisPrefix != tc.prefix {
				t.Fatalf("redis %q prefix %q, want %q %q", c.Redis, c.RedisPrefix, tc.url, tc.prefix)
			}
			if len(c.Ignored) != 0 {
				t.Fatalf("ignored %v", c.Ignored)
			}
		})
	}
	f, err := parseFlags([]string{"-redis", "redis://x:1", "-redis-prefix", "q", file}, nil)
	if err != nil || f.redis != "redis://x:1" || f.redisPrefix != "q" || f.config != file {
		t.Fatalf("flags %+v, %v", f, err)
	}
}
