package devdrupal

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
)

// Banner is the warning New logs.
const Banner = "DEV MODE: built-in Drupal stand-in accepts every auth token — never use in production"

// maxBody bounds a callback body; socketd's own messages are far smaller.
const maxBody = 1 << 20

// Config configures the stand-in. The zero value works.
type Config struct {
	// ServiceKey, when not empty, must equal the serviceKey form field socketd
	// sends with every call (spec §3.4); a mismatch gets Drupal 8's reply, 404
	// {"error":"Invalid service key."}. Empty accepts any key.
	ServiceKey string
	// Logger receives the DEV MODE banner (Warn) and one Debug line per call.
	// Nil means slog.Default(), unlike elsewhere in socketd: leaving the logger
	// out must not silence the banner.
	Logger *slog.Logger
}

// Handler answers socketd's POSTs to Drupal's nodejs/message path as Drupal
// would for a site where every session is valid. Build it with New.
type Handler struct {
	serviceKey string
	logger     *slog.Logger
}

// New logs the DEV MODE banner and returns the stand-in.
func New(cfg Config) *Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn(Banner, slog.String("component", "devdrupal"))
	return &Handler{serviceKey: cfg.ServiceKey, logger: logger}
}

// message is the part of messageJson the stand-in reads. The echoed fields
// stay raw so they come back exactly as sent (spec §3.5: clientId must).
type message struct {
	MessageType   string          `json:"messageType"`
	AuthToken     json.RawMessage `json:"authToken"`
	ClientID      json.RawMessage `json:"clientId"`
	ContentTokens json.RawMessage `json:"contentTokens"`
}

// authReply is Drupal's answer to a valid token (spec §3.5).
type authReply struct {
	NodejsValidAuthToken bool            `json:"nodejsValidAuthToken"`
	UID                  int64           `json:"uid"`
	AuthToken            json.RawMessage `json:"authToken"`
	ClientID             json.RawMessage `json:"clientId"`
	Channels             []string        `json:"channels"`
	PresenceUIDs         []int64         `json:"presenceUids"`
	ContentTokens        json.RawMessage `json:"contentTokens"`
}

// invalidReply is Drupal's answer to a token it does not know (spec §3.5).
type invalidReply struct {
	NodejsValidAuthToken bool            `json:"nodejsValidAuthToken"`
	UID                  int64           `json:"uid"`
	AuthToken            json.RawMessage `json:"authToken"`
	ClientID             json.RawMessage `json:"clientId"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		h.logger.Warn("devdrupal: refused a caller that is not on this machine",
			slog.String("remote", r.RemoteAddr))
		http.Error(w, "devdrupal serves loopback callers only", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "No message."})
		return
	}
	if h.serviceKey != "" && r.PostForm.Get("serviceKey") != h.serviceKey {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Invalid service key."})
		return
	}
	var msg message
	if err := json.Unmarshal([]byte(r.PostForm.Get("messageJson")), &msg); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "No message."})
		return
	}
	if msg.MessageType != "authenticate" {
		// userOnline, userOffline and anything else: Drupal's hooks run, the
		// reply only says so.
		h.logger.Debug("devdrupal: message", slog.String("messageType", msg.MessageType))
		writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
		return
	}
	token, ok := authToken(msg.AuthToken)
	if !ok {
		h.logger.Debug("devdrupal: empty auth token refused")
		writeJSON(w, http.StatusOK, invalidReply{AuthToken: orNull(msg.AuthToken), ClientID: orNull(msg.ClientID)})
		return
	}
	uid := uidOf(token)
	channels := []string{"nodejs_notify"}
	if uid > 0 {
		channels = append(channels, "nodejs_user_"+strconv.FormatInt(uid, 10))
	}
	contentTokens := msg.ContentTokens
	if len(contentTokens) == 0 || string(contentTokens) == "null" {
		contentTokens = json.RawMessage("[]") // PHP's empty array, as Drupal sends it
	}
	h.logger.Debug("devdrupal: authenticated", slog.Int64("uid", uid))
	writeJSON(w, http.StatusOK, authReply{
		NodejsValidAuthToken: true,
		UID:                  uid,
		AuthToken:            msg.AuthToken,
		ClientID:             orNull(msg.ClientID),
		Channels:             channels,
		PresenceUIDs:         []int64{},
		ContentTokens:        contentTokens,
	})
}

// fromLoopback reports whether the request comes straight from this machine:
// a loopback remote address and no proxy headers (a local reverse proxy would
// otherwise relay the world as 127.0.0.1, and socketd never sends them).
func fromLoopback(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// authToken returns the token when it is a non-empty JSON string.
func authToken(raw json.RawMessage) (string, bool) {
	var token string
	if json.Unmarshal(raw, &token) != nil || token == "" {
		return "", false
	}
	return token, true
}

var userToken = regexp.MustCompile(`^user-([0-9]{1,18})$`)

// uidOf derives the uid from a token: "user-5" is 5, anything else 0.
func uidOf(token string) int64 {
	m := userToken.FindStringSubmatch(token)
	if m == nil {
		return 0
	}
	uid, _ := strconv.ParseInt(m[1], 10, 64) // at most 18 digits: fits
	return uid
}

// orNull gives JSON null for a field that was absent.
func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
