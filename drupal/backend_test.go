package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

// backendCfg points a Config at a test server.
func backendCfg(t testing.TB, srvURL string) nodejsconfig.Config {
	t.Helper()
	host, port, err := net.SplitHostPort(srvURL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return nodejsconfig.Config{
		ServiceKey: "sk",
		Backend:    nodejsconfig.BackendConfig{Host: host, Port: p, BasePath: "", MessagePath: "/nodejs/message"},
	}.WithDefaults()
}

func TestBackendPostForm(t *testing.T) {
	type seen struct {
		method, path, ctype, msg, key, user, pass string
		hasAuth                                   bool
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		u, p, ok := r.BasicAuth()
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.PostForm.Get("messageJson"), r.PostForm.Get("serviceKey"), u, p, ok}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	cfg := backendCfg(t, srv.URL)
	cfg.Backend.HTTPAuth = "drupal:pa:ss"
	b := NewBackend(cfg, nil)
	body, err := b.Post(context.Background(), map[string]any{"uid": 3, "messageType": "userOnline"})
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"ok":true}` {
		t.Fatalf("body %q", body)
	}
	s := <-got
	want := seen{"POST", "/nodejs/message", "application/x-www-form-urlencoded", `{"messageType":"userOnline","uid":3}`, "sk", "drupal", "pa:ss", true}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

func TestBackendURLDefaults(t *testing.T) {
	b := NewBackend(nodejsconfig.Config{}, nil)
	if b.URL() != "http://localhost:80/nodejs/message" {
		t.Fatal(b.URL())
	}
	b = NewBackend(nodejsconfig.Config{Backend: nodejsconfig.BackendConfig{Scheme: "https", Host: "::1", Port: 8443, BasePath: "/d/", MessagePath: "nodejs/message"}}, nil)
	if b.URL() != "https://[::1]:8443/d/nodejs/message" {
		t.Fatal(b.URL())
	}
}

func TestBackendFailures(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		delay   time.Duration
		wantErr error
	}{
		{"not found", 404, `{"error":"Invalid service key."}`, 0, ErrBackendStatus},
		{"redirect", 301, ``, 0, ErrBackendStatus},
		{"garbled", 200, `<html>oops`, 0, ErrBadReply},
		{"array", 200, `[1,2]`, 0, ErrBadReply},
		{"trailing garbage", 200, `{"uid":1} x`, 0, ErrBadReply},
		{"error field", 200, `{"error":"Not implemented"}`, 0, ErrBackendError},
		{"invalid token", 200, `{"uid":0,"authToken":"t","nodejsValidAuthToken":false,"clientId":"c1"}`, 0, ErrInvalidToken},
		{"missing validity", 200, `{"uid":1,"authToken":"t","clientId":"c1"}`, 0, ErrInvalidToken},
		{"wrong client", 200, `{"uid":1,"authToken":"t","nodejsValidAuthToken":true,"clientId":"other"}`, 0, ErrWrongClient},
		{"bad uid", 200, `{"uid":{"x":1},"nodejsValidAuthToken":true,"clientId":"c1"}`, 0, ErrBadReply},
		{"negative uid", 200, `{"uid":-4,"nodejsValidAuthToken":true,"clientId":"c1"}`, 0, ErrBadReply},
		{"slow", 200, `{}`, 2 * time.Second, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.delay > 0 {
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
				if tt.status == 301 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			defer close(release)
			cfg := backendCfg(t, srv.URL)
			cfg.AuthTimeout = nodejsconfig.Duration(100 * time.Millisecond)
			_, err := NewBackend(cfg, nil).Authenticate(context.Background(), json.RawMessage(`{"authToken":"t"}`), "c1")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestBackendDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	cfg := backendCfg(t, srv.URL)
	srv.Close()
	if _, err := NewBackend(cfg, nil).Post(context.Background(), json.RawMessage(`{}`)); err == nil {
		t.Fatal("no error from a closed port")
	}
}

func TestParseAuthReplyLenient(t *testing.T) {
	tests := []struct {
		name string
		body string
		want AuthReply
	}{
		{
			"d8 typical",
			`{"nodejsValidAuthToken":true,"uid":7,"authToken":"tok","clientId":"c1","channels":["nodejs_user_7","a"],"presenceUids":[3,4],"contentTokens":{"ch":"ct"}}`,
			AuthReply{Valid: true, UID: 7, AuthToken: "tok", ClientID: "c1", Channels: []string{"nodejs_user_7", "a"}, PresenceUIDs: []int64{3, 4}, ContentTokens: map[string]string{"ch": "ct"}},
		},
		{
			"d7 strings and holes",
			`{"uid":"12","name":"bob","nodejsValidAuthToken":1,"authToken":"tok","clientId":"c1","channels":{"0":"a","2":"b","3":null},"presenceUids":{"1":["5","6"],"4":[[6,7]],"x":"0"},"contentTokens":[]}`,
			AuthReply{Valid: true, UID: 12, AuthToken: "tok", ClientID: "c1", Channels: []string{"a", "b"}, PresenceUIDs: []int64{5, 6, 7}},
		},
		{
			"anonymous",
			`{"uid":0,"nodejsValidAuthToken":true,"authToken":"tok","clientId":"c1"}`,
			AuthReply{Valid: true, AuthToken: "tok", ClientID: "c1"},
		},
		{
			"uid null, numeric channel, float uid list",
			`{"uid":null,"nodejsValidAuthToken":"yes","clientId":"c1","channels":[5,"x",true],"presenceUids":[2.0,"3",false]}`,
			AuthReply{Valid: true, ClientID: "c1", Channels: []string{"5", "x"}, PresenceUIDs: []int64{2, 3}},
		},
		{
			"falsy validity spellings",
			`{"nodejsValidAuthToken":"","clientId":"c1"}`,
			AuthReply{ClientID: "c1"},
		},
		{
			"error false is no error",
			`{"error":false,"nodejsValidAuthToken":0,"clientId":"c1"}`,
			AuthReply{ClientID: "c1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseAuthReply([]byte(" " + tt.body + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Raw) != tt.body {
				t.Fatalf("raw %q", r.Raw)
			}
			r.Raw = nil
			if !reflect.DeepEqual(*r, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *r, tt.want)
			}
		})
	}
}

func TestTruthy(t *testing.T) {
	for raw, want := range map[string]bool{
		``: false, `null`: false, `false`: false, `0`: false, `-0`: false, `0.0`: false, `""`: false,
		`true`: true, `1`: true, `"0"`: true, `"false"`: true, `{}`: true, `[]`: true, `-1.5`: true,
	} {
		if got := truthy(json.RawMessage(raw)); got != want {
			t.Errorf("truthy(%s) = %v", raw, got)
		}
	}
}

func TestSetFieldKeepsOrder(t *testing.T) {
	got, err := setField(json.RawMessage(`{"b":1,"channels":["x"],"a":{"k":[1]}}`), "channels", json.RawMessage(`["x","y"]`))
	if err != nil || string(got) != `{"b":1,"channels":["x","y"],"a":{"k":[1]}}` {
		t.Fatalf("%s %v", got, err)
	}
	got, _ = setField(json.RawMessage(`{"b":1}`), "channels", json.RawMessage(`[]`))
	if string(got) != `{"b":1,"channels":[]}` {
		t.Fatalf("%s", got)
	}
	if _, err := setField(json.RawMessage(`[1]`), "x", json.RawMessage(`1`)); err == nil {
		t.Fatal("array accepted")
	}
}

// BenchmarkBackendPost is one call to Drupal's message endpoint over a
// kept-alive loopback connection: what socketd pays twice per authenticated
// connection (authenticate and userOnline), allocations reported.
func BenchmarkBackendPost(b *testing.B) {
	reply := []byte(`{"nodejsValidAuthToken":true,"uid":1,"clientId":"c1","channels":["a"]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		_, _ = w.Write(reply)
	}))
	defer srv.Close()
	be := NewBackend(backendCfg(b, srv.URL), nil)
	msg := json.RawMessage(`{"authToken":"0123456789abcdef","messageType":"authenticate","clientId":"c1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.Post(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
