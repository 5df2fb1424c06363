package devdrupal

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestAuthenticate(t *testing.T) {
	h := New(Config{Logger: quiet()})
	tests := []struct {
		name string
		in   string
		want string // the whole reply
	}{
		{"user token gives its uid and user channel",
			`{"authToken":"user-5","messageType":"authenticate","clientId":"CaDTx0AAAB"}`,
			`{"nodejsValidAuthToken":true,"uid":5,"authToken":"user-5","clientId":"CaDTx0AAAB","channels":["nodejs_notify","nodejs_user_5"],"presenceUids":[],"contentTokens":[]}`},
		{"any other token is anonymous",
			`{"authToken":"d41d8cd98f00b204e9800998ecf8427e","messageType":"authenticate","clientId":"x"}`,
			`{"nodejsValidAuthToken":true,"uid":0,"authToken":"d41d8cd98f00b204e9800998ecf8427e","clientId":"x","channels":["nodejs_notify"],"presenceUids":[],"contentTokens":[]}`},
		{"user-0 is anonymous too",
			`{"authToken":"user-0","messageType":"authenticate","clientId":"x"}`,
			`{"nodejsValidAuthToken":true,"uid":0,"authToken":"user-0","clientId":"x","channels":["nodejs_notify"],"presenceUids":[],"contentTokens":[]}`},
		{"not quite a user token",
			`{"authToken":"user-5x","messageType":"authenticate","clientId":"x"}`,
			`{"nodejsValidAuthToken":true,"uid":0,"authToken":"user-5x","clientId":"x","channels":["nodejs_notify"],"presenceUids":[],"contentTokens":[]}`},
		{"uid too long for an int64 is anonymous",
			`{"authToken":"user-99999999999999999999","messageType":"authenticate","clientId":"x"}`,
			`{"nodejsValidAuthToken":true,"uid":0,"authToken":"user-99999999999999999999","clientId":"x","channels":["nodejs_notify"],"presenceUids":[],"contentTokens":[]}`},
		{"content tokens are echoed",
			`{"authToken":"user-7","contentTokens":{"chat_1":"tok"},"messageType":"authenticate","clientId":"y"}`,
			`{"nodejsValidAuthToken":true,"uid":7,"authToken":"user-7","clientId":"y","channels":["nodejs_notify","nodejs_user_7"],"presenceUids":[],"contentTokens":{"chat_1":"tok"}}`},
		{"empty token is refused",
			`{"authToken":"","messageType":"authenticate","clientId":"z"}`,
			`{"nodejsValidAuthToken":false,"uid":0,"authToken":"","clientId":"z"}`},
		{"missing token is refused",
			`{"messageType":"authenticate","clientId":"z"}`,
			`{"nodejsValidAuthToken":false,"uid":0,"authToken":null,"clientId":"z"}`},
		{"a token that is not a string is refused",
			`{"authToken":12,"messageType":"authenticate","clientId":"z"}`,
			`{"nodejsValidAuthToken":false,"uid":0,"authToken":12,"clientId":"z"}`},
		{"userOnline", `{"uid":5,"messageType":"userOnline"}`, `{"status":"success"}`},
		{"userOffline", `{"uid":5,"messageType":"userOffline"}`, `{"status":"success"}`},
		{"any other type", `{"messageType":"somethingCustom","data":1}`, `{"status":"success"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(h, "127.0.0.1:50000", tt.in)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("reply\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	h := New(Config{ServiceKey: "secret", Logger: quiet()})
	auth := `{"authToken":"user-1","messageType":"authenticate","clientId":"a"}`
	tests := []struct {
		name       string
		remote     string
		header     string // a proxy header to add, if any
		method     string
		message    string
		serviceKey string
		wantStatus int
		wantBody   string
	}{
		{"loopback IPv4 with the key", "127.0.0.1:1", "", http.MethodPost, auth, "secret", 200, ""},
		{"loopback IPv6", "[::1]:1", "", http.MethodPost, auth, "secret", 200, ""},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:1", "", http.MethodPost, auth, "secret", 200, ""},
		{"loopback without a port (after a RealIP rewrite)", "127.0.0.1", "", http.MethodPost, auth, "secret", 200, ""},
		{"another machine", "192.0.2.10:1", "", http.MethodPost, auth, "secret", 403, ""},
		{"another machine over IPv6", "[2001:db8::1]:1", "", http.MethodPost, auth, "secret", 403, ""},
		{"unparsable remote", "somewhere", "", http.MethodPost, auth, "secret", 403, ""},
		{"loopback relaying a remote caller", "127.0.0.1:1", "X-Forwarded-For", http.MethodPost, auth, "secret", 403, ""},
		{"loopback with Forwarded", "127.0.0.1:1", "Forwarded", http.MethodPost, auth, "secret", 403, ""},
		{"loopback with X-Real-IP", "127.0.0.1:1", "X-Real-IP", http.MethodPost, auth, "secret", 403, ""},
		{"wrong service key", "127.0.0.1:1", "", http.MethodPost, auth, "guess", 404, `{"error":"Invalid service key."}`},
		{"no service key", "127.0.0.1:1", "", http.MethodPost, auth, "", 404, `{"error":"Invalid service key."}`},
		{"no messageJson", "127.0.0.1:1", "", http.MethodPost, "", "secret", 400, `{"error":"No message."}`},
		{"messageJson not JSON", "127.0.0.1:1", "", http.MethodPost, "{", "secret", 400, `{"error":"No message."}`},
		{"GET", "127.0.0.1:1", "", http.MethodGet, auth, "secret", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"serviceKey": {tt.serviceKey}}
			if tt.message != "" {
				form.Set("messageJson", tt.message)
			}
			req := httptest.NewRequest(tt.method, "/nodejs/message", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.header != "" {
				req.Header.Set(tt.header, "203.0.113.9")
			}
			req.RemoteAddr = tt.remote
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

func TestBanner(t *testing.T) {
	var buf bytes.Buffer
	New(Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	var rec struct{ Level, Msg string }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("one JSON log record expected, got %q: %v", buf.String(), err)
	}
	if rec.Level != "WARN" || rec.Msg != Banner {
		t.Errorf("logged %s %q, want WARN %q", rec.Level, rec.Msg, Banner)
	}
	if !strings.Contains(Banner, "DEV MODE") || !strings.Contains(Banner, "never use in production") {
		t.Errorf("banner %q lost its warning", Banner)
	}
}

// TestOverTheNetwork is the call as socketd makes it: a real loopback
// connection, form-encoded, read back as the bridge would.
func TestOverTheNetwork(t *testing.T) {
	srv := httptest.NewServer(New(Config{ServiceKey: "k", Logger: quiet()}))
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/nodejs/message", url.Values{
		"messageJson": {`{"authToken":"user-42","messageType":"authenticate","clientId":"sock1"}`},
		"serviceKey":  {"k"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		NodejsValidAuthToken bool     `json:"nodejsValidAuthToken"`
		UID                  int      `json:"uid"`
		ClientID             string   `json:"clientId"`
		Channels             []string `json:"channels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	if !reply.NodejsValidAuthToken || reply.UID != 42 || reply.ClientID != "sock1" ||
		strings.Join(reply.Channels, ",") != "nodejs_notify,nodejs_user_42" {
		t.Errorf("reply %+v", reply)
	}
}

// post sends messageJson as socketd does (spec §3.4), without a service key.
func post(h http.Handler, remote, messageJSON string) *httptest.ResponseRecorder {
	form := url.Values{"messageJson": {messageJSON}}
	req := httptest.NewRequest(http.MethodPost, "/nodejs/message", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
