package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// backend stands in for Drupal's /nodejs/message endpoint (spec §3, §7): it
// accepts every token "tok-<i>" with channels ["nodejs_notify","ch_<i%C>"] and
// answers userOnline / userOffline. It does no I/O of its own, so it is not the
// bottleneck of a connect storm.
type backend struct {
	serviceKey string
	channels   int
	anon       bool
	delay      time.Duration
	// slowFrom > 0: tokens tok-<i> with i >= slowFrom are the soak's slow
	// consumers, in the channel soakSlowChannel instead of ch_<i%C>.
	slowFrom int

	authenticate, online, offline, other, badKey, badToken atomic.Int64
}

// backendStats is what the stand-in saw during the run.
type backendStats struct {
	URL          string `json:"url"`
	Authenticate int64  `json:"authenticate"`
	UserOnline   int64  `json:"user_online"`
	UserOffline  int64  `json:"user_offline"`
	Other        int64  `json:"other"`
	BadKey       int64  `json:"bad_service_key"`
	BadToken     int64  `json:"bad_token"`
}

func (be *backend) stats(u string) backendStats {
	return backendStats{
		URL: u, Authenticate: be.authenticate.Load(), UserOnline: be.online.Load(),
		UserOffline: be.offline.Load(), Other: be.other.Load(), BadKey: be.badKey.Load(),
		BadToken: be.badToken.Load(),
	}
}

// serve listens on addr (or serves ln when not nil); the returned function
// stops the server.
func (be *backend) serve(addr string, ln net.Listener) (string, func(), error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return "", nil, err
		}
	}
	hs := &http.Server{Handler: be, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = hs.Close() }, nil
}

func (be *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, `{"error":"No message."}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if form.Get("serviceKey") != be.serviceKey {
		be.badKey.Add(1)
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"Invalid service key."}`)
		return
	}
	var m struct {
		MessageType string `json:"messageType"`
		AuthToken   string `json:"authToken"`
		ClientID    string `json:"clientId"`
	}
	if err := json.Unmarshal([]byte(form.Get("messageJson")), &m); err != nil {
		http.Error(w, `{"error":"No message."}`, http.StatusBadRequest)
		return
	}
	if be.delay > 0 {
		time.Sleep(be.delay)
	}
	switch m.MessageType {
	case "authenticate":
		be.authenticate.Add(1)
		_, _ = w.Write(be.authReply(m.AuthToken, m.ClientID))
	case "userOnline":
		be.online.Add(1)
		_, _ = io.WriteString(w, `{"status":"success"}`)
	case "userOffline":
		be.offline.Add(1)
		_, _ = io.WriteString(w, `{"status":"success"}`)
	default:
		be.other.Add(1)
		_, _ = io.WriteString(w, `{"error":"Not implemented"}`)
	}
}

// authReply is Drupal's nodejs_auth_check answer (spec §3 step 5).
func (be *backend) authReply(token, clientID string) []byte {
	tok, _ := json.Marshal(token)
	cid, _ := json.Marshal(clientID)
	i, err := strconv.Atoi(strings.TrimPrefix(token, "tok-"))
	if err != nil || !strings.HasPrefix(token, "tok-") || i < 0 {
		be.badToken.Add(1)
		b := []byte(`{"nodejsValidAuthToken":false,"uid":0,"authToken":`)
		b = append(b, tok...)
		b = append(b, `,"clientId":`...)
		b = append(b, cid...)
		return append(b, '}')
	}
	uid := i + 1
	if be.anon {
		uid = 0
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"nodejsValidAuthToken":true,"uid":`...)
	b = strconv.AppendInt(b, int64(uid), 10)
	b = append(b, `,"authToken":`...)
	b = append(b, tok...)
	b = append(b, `,"clientId":`...)
	b = append(b, cid...)
	if be.slowFrom > 0 && i >= be.slowFrom {
		b = append(b, `,"channels":["nodejs_notify","`+soakSlowChannel...)
	} else {
		b = append(b, `,"channels":["nodejs_notify","ch_`...)
		b = strconv.AppendInt(b, int64(i%max(be.channels, 1)), 10)
	}
	b = append(b, `"],"presenceUids":[],"contentTokens":[]}`...)
	return b
}
