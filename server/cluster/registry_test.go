package cluster

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/internal/redistest"
)

// testRegistry is the behaviour every Registry must have.
func testRegistry(t *testing.T, reg Registry) {
	ctx := context.Background()
	a := Member{ID: "nodeA", Tag: "aaa", URL: "http://10.0.0.1:8080"}
	b := Member{ID: "nodeB", Tag: "bbb", URL: "https://node-b.internal:8443"}
	if err := reg.Announce(ctx, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := reg.Announce(ctx, b, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := reg.Announce(ctx, a, time.Minute); err != nil {
		t.Fatalf("renewing its own lease: %v", err)
	}
	thief := Member{ID: "nodeC", Tag: "aaa", URL: "http://10.0.0.3:8080"}
	if err := reg.Announce(ctx, thief, time.Minute); !errors.Is(err, ErrTagTaken) {
		t.Fatalf("announce under a live tag: %v, want ErrTagTaken", err)
	}
	if err := reg.Announce(ctx, Member{ID: "x y", Tag: "ccc", URL: "http://h:1"}, time.Minute); err == nil {
		t.Fatal("a bad id was accepted")
	}
	got, err := reg.Members(ctx)
	if err != nil || !reflect.DeepEqual(got, []Member{a, b}) {
		t.Fatalf("members %v, %v; want %v", got, err, []Member{a, b})
	}
	// Withdraw takes only the caller's own entry.
	if err := reg.Withdraw(ctx, thief); err != nil {
		t.Fatal(err)
	}
	if err := reg.Withdraw(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Members(ctx); !reflect.DeepEqual(got, []Member{a}) {
		t.Fatalf("after withdrawals: %v, want only %v", got, a)
	}
	// A lease that ends frees the tag; nothing renews it here.
	short := Member{ID: "nodeD", Tag: "ddd", URL: "http://10.0.0.4:8080"}
	if err := reg.Announce(ctx, short, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := reg.Members(ctx)
		if reflect.DeepEqual(got, []Member{a}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a 30ms lease still listed after 5s: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	taker := Member{ID: "nodeE", Tag: "ddd", URL: "http://10.0.0.5:8080"}
	if err := reg.Announce(ctx, taker, time.Minute); err != nil {
		t.Fatalf("taking a tag whose lease ended: %v", err)
	}
}

func TestMemoryRegistry(t *testing.T) { testRegistry(t, NewMemory()) }

func TestRedisRegistry(t *testing.T) {
	srv := redistest.Start(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	testRegistry(t, NewRedis(client, "test#nodes"))

	// Entries nobody should have written are skipped, not trusted.
	ctx := context.Background()
	client.HSet(ctx, "test#nodes", "zzz", "99999999999999 id gopher://x", "yyy", "garbage")
	got, err := NewRedis(client, "test#nodes").Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		if m.Tag == "zzz" || m.Tag == "yyy" {
			t.Fatalf("malformed entry listed: %+v", m)
		}
	}

	// Redis gone: every call is an error, none hangs past its context.
	srv.Kill()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := NewRedis(client, "test#nodes").Members(ctx); err == nil {
		t.Fatal("Members with Redis down: no error")
	}
}

func TestDecodeEntry(t *testing.T) {
	m := Member{ID: "n1", Tag: "abc", URL: "http://[::1]:9000"}
	got, end, err := decodeEntry("abc", encodeEntry(m, 1234))
	if err != nil || got != m || end != 1234 {
		t.Fatalf("round trip: %+v %d %v", got, end, err)
	}
	for _, bad := range []struct{ tag, value string }{
		{"abc", ""},
		{"abc", "12 id"},
		{"abc", "-1 id http://h:1"},
		{"abc", "x id http://h:1"},
		{"abc", "12 i*d http://h:1"},
		{"abc", "12 id ftp://h:1"},
		{"abc", "12 id http://h:1/path"},
		{"abc", "12 id http://user@h:1"},
		{"abc", "12 id http://h:1 extra"},
		{"a.c", "12 id http://h:1"},
		{"", "12 id http://h:1"},
	} {
		if m, _, err := decodeEntry(bad.tag, bad.value); err == nil {
			t.Errorf("decodeEntry(%q, %q) = %+v, want an error", bad.tag, bad.value, m)
		}
	}
}

// FuzzDecodeEntry: whatever Redis holds, decoding never panics, and what it
// accepts is a valid member that encodes back to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("abc", "1700000000000 n1 http://10.0.0.1:8080")
	f.Add("abc", "1 n1 https://[::1]:443")
	f.Add("x", "12  http://h")
	f.Add("abc", "99 id http://h:1/")
	f.Fuzz(func(t *testing.T, tag, value string) {
		m, end, err := decodeEntry(tag, value)
		if err != nil {
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("accepted an invalid member %+v: %v", m, err)
		}
		if again := encodeEntry(m, end); again != value {
			// Only a leading zero or '+' in the number may differ.
			if m2, end2, err := decodeEntry(tag, again); err != nil || m2 != m || end2 != end {
				t.Fatalf("re-encoding %q gave %q", value, again)
			}
		}
	})
}
