package drupal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// The HTTP API Drupal calls (spec §2), with drupal-node.js 1.0.13's methods,
// paths (relative to baseAuthPath) and replies, byte for byte where the PHP
// reads them. Where 1.0.13 is broken (spec §9) the routes do what the PHP
// intends; DEVIATIONS.md lists every difference.

// Replies shared by several routes.
var (
	replySuccess       = []byte(`{"status":"success"}`)
	replyInvalidKey    = []byte(`{"error":"Invalid service key."}`)
	replyMissingParams = []byte(`{"error":"Required parameters are missing."}`)
)

func replyFailed(msg string) []byte {
	return joinJSON(`"status":"failed"`, `"error":`+jsonQuote(msg))
}

var uidRE = regexp.MustCompile(`^\d+$`)

// Routes is the chi router of the HTTP API, to be mounted at baseAuthPath
// (chi: r.Mount(strings.TrimSuffix(cfg.BaseAuthPath, "/"), b.Routes()); it
// routes on the path below the mount point). Every request first passes the
// service-key check, then the body limit and JSON check. Extension routes with
// Auth are served here too.
func (b *Bridge) Routes() http.Handler {
	r := chi.NewRouter()
	// express routes ignore a trailing slash (strict routing is off).
	r.Use(b.checkServiceKey, b.readBody, middleware.StripSlashes)
	r.NotFound(notFound)
	r.MethodNotAllowed(notFound)
	get := func(p string, h http.HandlerFunc) { r.Get(p, h); r.Head(p, h) }

	r.Post("/publish", b.handlePublish)
	r.Post("/user/kick/{uid}", b.handleKick)
	r.Post("/user/logout/{authtoken}", b.handleLogout)
	r.Post("/user/channel/add/{channel}/{uid}", b.handleUserChannel(true))
	r.Post("/user/channel/remove/{channel}/{uid}", b.handleUserChannel(false))
	r.Post("/channel/add/{channel}", b.handleChannelAdd)
	get("/channel/check/{channel}", b.handleChannelCheck)
	r.Post("/channel/remove/{channel}", b.handleChannelRemove)
	get("/user/presence-list/{uid}/{uidList}", b.handlePresenceList)
	r.Post("/debug/toggle", b.handleDebugToggle)
	r.Post("/content/token", b.handleContentToken)
	r.Post("/content/token/message", b.handleContentMessage)
	r.Post("/content/token/users", b.handleContentUsers)
	r.Post("/authtoken/channel/add/{channel}/{authToken}", b.handleTokenChannel(true))
	r.Post("/authtoken/channel/remove/{channel}/{authToken}", b.handleTokenChannel(false))
	get("/health/check", b.handleHealth)

	for _, ext := range b.exts {
		for _, rt := range ext.Routes() {
			if rt.Auth {
				r.Method(rt.Method, "/"+strings.TrimPrefix(rt.Path, "/"), rt.Handler)
			}
		}
	}
	return r
}

// PublicRoutes serves the extension routes without Auth, at their own paths
// (drupal-node.js mounted them at the server root, without the key check). It
// answers 404 for anything else, so it can be mounted as a fallback; with no
// such route it is nil.
func (b *Bridge) PublicRoutes() http.Handler {
	var r chi.Router
	for _, ext := range b.exts {
		for _, rt := range ext.Routes() {
			if rt.Auth {
				continue
			}
			if r == nil {
				r = chi.NewRouter()
				r.NotFound(notFound)
				r.MethodNotAllowed(notFound)
			}
			r.Method(rt.Method, "/"+strings.TrimPrefix(rt.Path, "/"), rt.Handler)
		}
	}
	if r == nil {
		return nil
	}
	return r
}

// writeJSON answers 200 with a JSON body, as express's res.send(object).
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// notFound answers as 1.0.13 does: its catch-all GET route sends the text
// "Not Found."; other methods fall through to express's HTML 404 page.
func notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		_, _ = io.WriteString(w, "Not Found.")
		return
	}
	_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot "+
		html.EscapeString(r.Method)+" "+html.EscapeString(r.URL.Path)+"</pre>\n</body>\n</html>\n")
}

// checkServiceKey compares the NodejsServiceKey header with serviceKey in
// constant time (hashes of equal length are compared, so neither the key's
// content nor its length leaks). An empty serviceKey lets every request pass,
// as in drupal-node.js. A mismatch is HTTP 200 {"error":"Invalid service key."}.
func (b *Bridge) checkServiceKey(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(b.cfg.ServiceKey))
	open := b.cfg.ServiceKey == ""
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open {
			key := r.Header.Get("NodejsServiceKey")
			got := sha256.Sum256([]byte(key))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				b.keyLog.refused(b.log, b.clock.Now(), b.caller(r), r.URL.Path, key == "")
				writeJSON(w, http.StatusOK, replyInvalidKey)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// caller is the address an API request came from, for the log: the peer's,
// or behind trusted proxies the one they forwarded for.
func (b *Bridge) caller(r *http.Request) string {
	if ip := b.trusted.Of(r.RemoteAddr, r.Header.Values("X-Forwarded-For")); ip.IsValid() {
		return ip.String()
	}
	return r.RemoteAddr
}

type bodyKey struct{}

// readBody reads the request body up to bodyParserJsonLimit: past it the
// answer is 413, and a non-empty body that is not a JSON object or array is
// 400, both with a JSON error and before any route runs. The body stays
// readable for extension routes.
func (b *Bridge) readBody(next http.Handler) http.Handler {
	tooLarge := joinJSON(`"error":` + jsonQuote("Request body is larger than "+strconv.FormatInt(b.bodyLimit, 10)+" bytes."))
	malformed := []byte(`{"error":"Malformed JSON in request body."}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > b.bodyLimit {
			writeJSON(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		var body []byte
		if r.Body != nil {
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, b.bodyLimit+1))
			if err != nil {
				writeJSON(w, http.StatusBadRequest, joinJSON(`"error":"Could not read request body."`))
				return
			}
			if int64(len(body)) > b.bodyLimit {
				writeJSON(w, http.StatusRequestEntityTooLarge, tooLarge)
				return
			}
		}
		body = bytes.TrimSpace(body)
		if len(body) > 0 && !isJSONContainer(body) {
			writeJSON(w, http.StatusBadRequest, malformed)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, body)))
	})
}

// requestBody is the body readBody kept: a JSON object or array, or empty.
func requestBody(r *http.Request) []byte {
	body, _ := r.Context().Value(bodyKey{}).([]byte)
	return body
}

// bodyFields are the members of an object body; nil for an empty body or an
// array (express's req.body would lack every field).
func bodyFields(r *http.Request) map[string]json.RawMessage {
	fs, err := objectFields(requestBody(r))
	if err != nil {
		return nil
	}
	return fieldMap(fs)
}

func param(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

func parseUID(s string) (int64, bool) {
	if !uidRE.MatchString(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// replyUnavailable answers a call the bridge could not serve because its
// store (shared by a cluster) could not answer: HTTP 503, and the log says why.
func (b *Bridge) replyUnavailable(w http.ResponseWriter, op string, err error) {
	b.storeFailed(op, err)
	writeJSON(w, http.StatusServiceUnavailable, replyFailed("Service unavailable: the cluster store did not answer."))
}

func (b *Bridge) handlePublish(w http.ResponseWriter, r *http.Request) {
	body := requestBody(r)
	sent, err := b.Publish(r.Context(), trimJSON(body))
	if err != nil {
		writeJSON(w, http.StatusOK, replyMissingParams)
		return
	}
	writeJSON(w, http.StatusOK, joinJSON(`"status":"success"`, `"sent":`+strconv.Itoa(sent)))
}

func (b *Bridge) handleKick(w http.ResponseWriter, r *http.Request) {
	uid, ok := parseUID(param(r, "uid"))
	if !ok {
		writeJSON(w, http.StatusOK, replyFailed("Invalid uid."))
		return
	}
	if err := b.KickUser(r.Context(), uid); err != nil {
		b.replyUnavailable(w, "kick", err)
		return
	}
	writeJSON(w, http.StatusOK, replySuccess)
}

func (b *Bridge) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := b.LogoutToken(r.Context(), param(r, "authtoken")); err != nil {
		b.replyUnavailable(w, "logout", err)
		return
	}
	writeJSON(w, http.StatusOK, replySuccess)
}

func (b *Bridge) handleUserChannel(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid, ok := parseUID(param(r, "uid"))
		if !ok {
			writeJSON(w, http.StatusOK, replyFailed("Invalid uid."))
			return
		}
		name := param(r, "channel")
		var err error
		if add {
			err = b.AddUserToChannel(r.Context(), uid, name)
		} else {
			err = b.RemoveUserFromChannel(r.Context(), uid, name)
		}
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, replySuccess)
		case errors.Is(err, ErrInvalidChannel):
			writeJSON(w, http.StatusOK, replyFailed("Invalid channel name."))
		case errors.Is(err, ErrNoSessions):
			writeJSON(w, http.StatusOK, replyFailed("No active sessions for uid."))
		case errors.Is(err, ErrNoChannel):
			writeJSON(w, http.StatusOK, replyFailed("Non-existent channel name."))
		default:
			b.replyUnavailable(w, "user channel", err)
		}
	}
}

// handleChannelAdd creates a channel. The optional body {"isClientWritable":
// true} (a socketd addition) lets clients write to it (ClientMessage).
func (b *Bridge) handleChannelAdd(w http.ResponseWriter, r *http.Request) {
	name := param(r, "channel")
	writable := truthy(bodyFields(r)["isClientWritable"])
	switch err := b.AddChannel(r.Context(), name, writable); {
	case err == nil:
		writeJSON(w, http.StatusOK, replySuccess)
	case errors.Is(err, ErrChannelExists):
		writeJSON(w, http.StatusOK, replyFailed("Channel name '"+name+"' already exists."))
	case errors.Is(err, ErrInvalidChannel):
		writeJSON(w, http.StatusOK, replyFailed("Invalid channel name."))
	default:
		b.replyUnavailable(w, "add channel", err)
	}
}

func (b *Bridge) handleChannelCheck(w http.ResponseWriter, r *http.Request) {
	name := param(r, "channel")
	if !ValidChannelName(name) {
		writeJSON(w, http.StatusOK, replyFailed("Invalid channel name."))
		return
	}
	exists, err := b.ChannelExists(r.Context(), name)
	if err != nil {
		b.replyUnavailable(w, "check channel", err)
		return
	}
	writeJSON(w, http.StatusOK, joinJSON(`"status":"success"`, `"result":`+strconv.FormatBool(exists)))
}

func (b *Bridge) handleChannelRemove(w http.ResponseWriter, r *http.Request) {
	name := param(r, "channel")
	if !ValidChannelName(name) {
		writeJSON(w, http.StatusOK, replyFailed("Invalid channel name."))
		return
	}
	removed, err := b.RemoveChannel(r.Context(), name)
	switch {
	case err != nil:
		b.replyUnavailable(w, "remove channel", err)
	case !removed:
		writeJSON(w, http.StatusOK, replyFailed("Non-existent channel name."))
	default:
		writeJSON(w, http.StatusOK, replySuccess)
	}
}

// handlePresenceList replaces the users told about uid's presence (broken in
// 1.0.x, spec §9.3). A uid that is not online succeeds without effect: its
// next auth reply brings the list.
func (b *Bridge) handlePresenceList(w http.ResponseWriter, r *http.Request) {
	uid, ok := parseUID(param(r, "uid"))
	var list []int64
	for _, s := range strings.Split(param(r, "uidList"), ",") {
		if !ok {
			break
		}
		var u int64
		if u, ok = parseUID(strings.TrimSpace(s)); ok {
			list = append(list, u)
		}
	}
	if !ok {
		writeJSON(w, http.StatusOK, replyFailed("Invalid uid."))
		return
	}
	if _, err := b.SetPresenceList(r.Context(), uid, list); err != nil {
		b.replyUnavailable(w, "presence list", err)
		return
	}
	writeJSON(w, http.StatusOK, replySuccess)
}

// handleDebugToggle sets debug logging from {"debug": value}; unlike 1.0.13 a
// falsy value switches it off (spec §9.4). The value is echoed as sent.
func (b *Bridge) handleDebugToggle(w http.ResponseWriter, r *http.Request) {
	v, ok := bodyFields(r)["debug"]
	if !ok {
		writeJSON(w, http.StatusOK, replyMissingParams)
		return
	}
	on := truthy(v)
	b.debug.Store(on)
	b.log.Info("drupal: debug toggled through the API", slog.Bool("debug", on), slog.String("remote", b.caller(r)))
	writeJSON(w, http.StatusOK, joinJSON(`"status":"success"`, `"debug":`+string(v)))
}

func (b *Bridge) handleContentToken(w http.ResponseWriter, r *http.Request) {
	switch err := b.SetContentToken(r.Context(), trimJSON(requestBody(r))); {
	case errors.Is(err, ErrMissingParams):
		writeJSON(w, http.StatusOK, replyMissingParams)
	case err != nil:
		b.replyUnavailable(w, "content token", err)
	default:
		writeJSON(w, http.StatusOK, replySuccess)
	}
}

func (b *Bridge) handleContentMessage(w http.ResponseWriter, r *http.Request) {
	_, ok, err := b.PublishToContentChannel(r.Context(), trimJSON(requestBody(r)))
	switch {
	case err != nil:
		b.replyUnavailable(w, "content message", err)
	case !ok:
		writeJSON(w, http.StatusOK, []byte(`{"error":"Invalid message"}`))
	default:
		writeJSON(w, http.StatusOK, replySuccess)
	}
}

func (b *Bridge) handleContentUsers(w http.ResponseWriter, r *http.Request) {
	ch := bodyFields(r)["channel"]
	name, _ := jsonString(ch)
	if !truthy(ch) || name == "" {
		writeJSON(w, http.StatusOK, replyMissingParams)
		return
	}
	uids, tokens, err := b.ContentChannelUsers(r.Context(), name)
	if err != nil {
		b.replyUnavailable(w, "content users", err)
		return
	}
	u, _ := json.Marshal(uids)
	t, _ := json.Marshal(tokens)
	writeJSON(w, http.StatusOK, joinJSON(`"users":{"uids":`+string(u)+`,"authTokens":`+string(t)+`}`))
}

func (b *Bridge) handleTokenChannel(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, token := param(r, "channel"), param(r, "authToken")
		var err error
		if add {
			err = b.AddAuthTokenToChannel(r.Context(), token, name)
		} else {
			err = b.RemoveAuthTokenFromChannel(r.Context(), token, name)
		}
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, replySuccess)
		case errors.Is(err, ErrInvalidChannel):
			writeJSON(w, http.StatusOK, replyFailed("Invalid channel name."))
		case errors.Is(err, ErrNoSessions), errors.Is(err, ErrNoChannel):
			writeJSON(w, http.StatusOK, replyFailed("Invalid parameters."))
		default:
			b.replyUnavailable(w, "token channel", err)
		}
	}
}

// handleHealth reports the counters and the version Drupal's version gate
// reads (spec §7), in 1.0.13's key order; with a shared store, for the whole
// cluster. When the store cannot answer, the counters are 0 and a "store" key
// says so (Drupal reads only the version).
func (b *Bridge) handleHealth(w http.ResponseWriter, r *http.Request) {
	st, err := b.Stats(r.Context())
	var tokens []byte
	if err == nil {
		tokens, err = b.contentTokensJSON(r.Context())
	}
	members := []string{
		`"authenticatedClients":` + strconv.Itoa(st.AuthenticatedClients),
		`"sockets":` + strconv.Itoa(st.Sockets),
		`"onlineUsers":` + strconv.Itoa(st.OnlineUsers),
		`"tokenChannels":` + strconv.Itoa(st.TokenChannels),
		`"contentTokens":` + string(tokens),
		`"status":"success"`,
		`"version":` + jsonQuote(Version),
	}
	if err != nil {
		b.storeFailed("stats", err)
		members[4] = `"contentTokens":{}`
		members = append(members, `"store":"unavailable"`)
	}
	writeJSON(w, http.StatusOK, joinJSON(members...))
}
