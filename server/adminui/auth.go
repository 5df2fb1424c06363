package adminui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/socketio"
)

// errInvalidCredentials is the refusal the UI recognises (it then shows its
// login form with "Invalid credentials").
var errInvalidCredentials = &socketio.ConnectError{Message: "invalid credentials"}

// authPayload is what the UI sends in its CONNECT: a session id it was given
// earlier, or the login form's username and password.
type authPayload struct {
	SessionID string `json:"sessionId"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

func parseAuth(raw json.RawMessage) authPayload {
	// Fields of another type (a number for a password) leave the payload
	// empty: no session, no credentials.
	var a authPayload
	if json.Unmarshal(raw, &a) != nil {
		return authPayload{}
	}
	return a
}

// setupAdminNamespace sets the admin namespace's middleware and handlers. It
// runs before any client can reach the namespace.
func (ad *Admin) setupAdminNamespace(n *socketio.Namespace) {
	if ad.hash != nil {
		n.Use(ad.authenticate)
	} else {
		n.Use(ad.localOnly)
	}
	n.OnConnection(ad.onAdminConnection)
	n.OnDisconnect(func(*socketio.Socket, socketio.DisconnectReason) { ad.admins.Add(-1) })
	n.OnServerSideEmit(presentEvent, func(psio.Args) (psio.Args, bool) {
		ad.remoteSeen.Store(time.Now().UnixNano())
		return psio.Args{}, false
	})
	for _, c := range commands {
		n.On(c.event, ad.commandHandler(c))
	}
}

// authenticate is the admin namespace's middleware: a valid session id, or
// the configured username and password.
func (ad *Admin) authenticate(s *socketio.Socket) error {
	a := parseAuth(s.Handshake().Auth)
	if a.SessionID != "" && ad.sessionValid(a.SessionID) {
		return nil
	}
	if a.Username == "" && a.Password == "" {
		return errInvalidCredentials
	}
	if ad.checkPassword(a.Username, a.Password) {
		return nil
	}
	ad.log.Warn("admin UI: login refused (invalid credentials)", slog.String("address", s.Handshake().Address))
	return errInvalidCredentials
}

// errNotLocal refuses a connection without a login from elsewhere than a page
// of the server's own loopback origin.
var errNotLocal = &socketio.ConnectError{Message: "the admin UI without a login is served to local pages only"}

// localOnly is the admin namespace's middleware without a login: the request
// was made to a loopback address, and a browser's came from a page of that
// same origin.
func (ad *Admin) localOnly(s *socketio.Socket) error {
	h := s.Handshake()
	host := h.Host
	if origin := h.Headers.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != host {
			ad.log.Warn("admin UI: cross-origin connection refused", slog.String("origin", origin), slog.String("host", host), slog.String("address", h.Address))
			return errNotLocal
		}
	}
	if !loopbackHost(host) {
		ad.log.Warn("admin UI: connection to a non-loopback host refused (no login configured)", slog.String("host", host), slog.String("address", h.Address))
		return errNotLocal
	}
	return nil
}

// loopbackHost reports whether a Host header names a loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkPassword compares the credentials, the hash even for a wrong username so
// that the answer takes as long either way.
func (ad *Admin) checkPassword(username, password string) bool {
	userOK := subtle.ConstantTimeCompare([]byte(username), []byte(ad.opts.Auth.Username)) == 1
	ad.hashSlots <- struct{}{}
	passOK := bcrypt.CompareHashAndPassword(ad.hash, []byte(password)) == nil
	<-ad.hashSlots
	return userOK && passOK
}

// onAdminConnection greets an admin: a session id when it logged in with the
// password, the features, every socket (development mode) and this node's
// stats at once rather than at the next tick.
func (ad *Admin) onAdminConnection(s *socketio.Socket) {
	ad.admins.Add(1)
	addr := s.Handshake().Address
	if ad.hash != nil {
		// The middleware admitted it: with a session it still holds, or
		// with the password, which earns a new session.
		if a := parseAuth(s.Handshake().Auth); a.SessionID == "" || !ad.sessionValid(a.SessionID) {
			id := ad.newSession()
			_ = s.Emit("session", id)
			ad.log.Info("admin UI: login", slog.String("address", addr), slog.String("admin", s.ID()))
		}
	} else {
		ad.log.Info("admin UI: admin connected without authentication", slog.String("address", addr), slog.String("admin", s.ID()))
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": ad.features})
	ad.announce(s.Namespace())
	if !ad.opts.Production {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		all, err := ad.allSockets(ctx)
		cancel()
		if err != nil {
			ad.log.Warn("admin UI: listing the sockets", slog.String("error", err.Error()))
		}
		_ = s.Emit("all_sockets", all)
	}
	_ = s.Emit("server_stats", ad.stats(false))
}

// newSession makes and keeps a login session id (16 hex digits, as
// instrument() makes them).
func (ad *Admin) newSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	ad.mu.Lock()
	defer ad.mu.Unlock()
	for k, exp := range ad.sessions {
		if now.After(exp) {
			delete(ad.sessions, k)
		}
	}
	if len(ad.sessions) >= maxSessions {
		var oldest string
		var oldestExp time.Time
		for k, exp := range ad.sessions {
			if oldest == "" || exp.Before(oldestExp) {
				oldest, oldestExp = k, exp
			}
		}
		delete(ad.sessions, oldest)
	}
	ad.sessions[id] = now.Add(ad.opts.SessionTTL)
	return id
}

func (ad *Admin) sessionValid(id string) bool {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	exp, ok := ad.sessions[id]
	if ok && time.Now().After(exp) {
		delete(ad.sessions, id)
		return false
	}
	return ok
}
