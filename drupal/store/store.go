package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Timings of drupal-node.js 1.0.13 (spec §4.4), the defaults of both stores.
const (
	// DefaultOfflineGrace is how long a user with no socket left stays
	// online: a page reload does not flap presence.
	DefaultOfflineGrace = 2 * time.Second
)

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store: closed")

// Auth is a successful authentication: Drupal's reply to an auth token, as it
// came. It is never modified once made (sockets and the cache share it); an
// edit makes a new one.
type Auth struct {
	// Token is the auth token the client sent, the cache key.
	Token string
	// UID is the Drupal user, 0 for anonymous.
	UID int64
	// Reply is Drupal's whole reply (pushed in clientAuthenticated).
	Reply json.RawMessage
}

// ContentToken is a one-time token of a content token channel (content/token):
// Drupal's whole request body, kept as it came.
type ContentToken struct {
	Channel string
	Token   string
	// Body is what Drupal posted; the members of the channel are sent it
	// (clientJoinedTokenChannel) when a socket redeems the token.
	Body json.RawMessage
	// Notify is notifyOnDisconnect: the channel is told when the user who
	// redeemed it leaves.
	Notify bool
}

// Member is a socket that redeemed a content token.
type Member struct {
	SocketID string
	UID      int64
	// AuthToken tells anonymous users (uid 0) apart.
	AuthToken string
}

// ContentChannel is a content token channel as health/check shows it.
type ContentChannel struct {
	Name string
	// Tokens are the unused tokens, by token.
	Tokens map[string]json.RawMessage
	// Sockets are the members, by socket id, with the body of the token each
	// redeemed.
	Sockets map[string]json.RawMessage
}

// Stats are the counters of health/check, for the whole cluster where the
// store is shared.
type Stats struct {
	// AuthenticatedClients is the number of cached authentications.
	AuthenticatedClients int
	// Sockets is the number of authenticated sockets.
	Sockets int
	// OnlineUsers is the number of online users (uid != 0).
	OnlineUsers int
	// TokenChannels is the number of content token channels.
	TokenChannels int
}

// Store is Drupal's own data, apart from which socket is in which room (the
// adapter's): the auth cache, the channel registry, presence and content
// tokens. Memory keeps it in this process (one node); a shared store (Redis)
// keeps it for every node of a cluster, and then every method answers for the
// cluster. Methods may cross the network; their errors mean the store could
// not answer (a shared store that lost its server), and callers keep serving
// with what they know locally.
type Store interface {
	AuthCache
	Channels
	Presence
	ContentTokens
	// Start hands the store the receiver of its decisions; it is called once,
	// before any other method.
	Start(h Handler) error
	// Stats counts for health/check.
	Stats(ctx context.Context) (Stats, error)
	// Close stops the store's timers; no Handler call starts after it returns.
	Close() error
}

// Handler receives the presence transitions a store decides on its own (a
// grace period ending, a node found dead, a reconciliation after an outage).
// Each is delivered once for the whole cluster, on one node. Calls come from
// the store's timers or goroutines and must not block for long.
type Handler interface {
	// UserOffline: uid had no socket anywhere for the grace period. list is
	// its presence list (the users to tell).
	UserOffline(uid int64, list []int64)
	// UserOnline: uid came online without a Connected call reporting it
	// (a shared store announcing, after an outage, a user that connected
	// meanwhile).
	UserOnline(uid int64, list []int64)
}

// AuthCache is the cache of successful authentications, by auth token, each
// for a time to live (authCacheTTL).
type AuthCache interface {
	// CachedAuth returns the live authentication of token, nil when there is
	// none.
	CachedAuth(ctx context.Context, token string) (*Auth, error)
	// CacheAuth caches a for ttl, replacing an entry of its token.
	CacheAuth(ctx context.Context, a *Auth, ttl time.Duration) error
	// ForgetUser drops every cached authentication of uid (user/kick).
	ForgetUser(ctx context.Context, uid int64) error
	// ForgetToken drops the cached authentication of token (user/logout).
	// It reports whether there was one.
	ForgetToken(ctx context.Context, token string) (bool, error)
	// EditUserAuths replaces each cached authentication of uid with edit's
	// result, keeping its expiry; edit returns nil to leave one as it is.
	EditUserAuths(ctx context.Context, uid int64, edit func(*Auth) *Auth) error
	// EditTokenAuth is EditUserAuths for the authentication of one token.
	EditTokenAuth(ctx context.Context, token string, edit func(*Auth) *Auth) error
}

// Channels is the registry of Drupal channels: a channel exists from its
// creation (channel/add, or a socket joining it) until channel/remove, even
// with no member.
type Channels interface {
	// AddChannel creates a channel; added is false when it existed (it is
	// then left as it is).
	AddChannel(ctx context.Context, name string, clientWritable bool) (added bool, err error)
	// EnsureChannels creates the channels that do not exist (not client
	// writable).
	EnsureChannels(ctx context.Context, names []string) error
	// Channel reports whether a channel exists and whether its members may
	// write to it.
	Channel(ctx context.Context, name string) (exists, clientWritable bool, err error)
	// RemoveChannel deletes a channel; removed is false when there was none.
	RemoveChannel(ctx context.Context, name string) (removed bool, err error)
}

// Presence counts the authenticated sockets of each user and auth token and
// decides when a user (uid != 0) comes online and goes offline (spec §4.4).
type Presence interface {
	// Connected records an authenticated socket of a.UID and a.Token. If the
	// user (uid != 0) was offline it comes online now with list as its
	// presence list, and online is true: this call is the transition, once for
	// the cluster. A user within its grace period stays online (false).
	Connected(ctx context.Context, a *Auth, list []int64) (online bool, err error)
	// Disconnected records that a socket Connected with a left. A user left
	// with no socket anywhere goes offline after the grace period unless one
	// comes back meanwhile (Handler.UserOffline).
	Disconnected(ctx context.Context, a *Auth) error
	// SetPresenceList replaces the presence list of an online user; online is
	// false (and nothing changes) when the user is not online.
	SetPresenceList(ctx context.Context, uid int64, list []int64) (online bool, err error)
	// UserSessions is the number of authenticated sockets of uid (uid 0: of
	// every anonymous user).
	UserSessions(ctx context.Context, uid int64) (int, error)
	// TokenSessions is the number of sockets authenticated with token.
	TokenSessions(ctx context.Context, token string) (int, error)
}

// ContentTokens are the content token channels (spec §2 content/token*,
// §4.4): Drupal stores one-time tokens for a channel; a socket redeems one and
// becomes a member.
type ContentTokens interface {
	// AddContentToken stores t, creating its channel; a token nobody redeems
	// within ttl is dropped, and a channel with neither tokens nor members
	// goes with it.
	AddContentToken(ctx context.Context, t ContentToken, ttl time.Duration) error
	// RedeemContentToken consumes the token of a channel, once across the
	// cluster, and records m as a member. It returns nil when there is no
	// such unused token.
	RedeemContentToken(ctx context.Context, channel, token string, m Member) (*ContentToken, error)
	// LeaveContentChannel removes a socket from a channel's members and
	// returns whether the token it redeemed asked for notifyOnDisconnect;
	// if so, the leave is recorded as its user's latest (a user is its uid,
	// or its auth token when uid is 0), for ContentLeaveDue.
	LeaveContentChannel(ctx context.Context, channel, socketID string) (notify bool, err error)
	// ContentLeaveDue is asked when the notifyOnDisconnect grace period of a
	// user's leave through socketID ends. It reports true when that leave is
	// still the user's latest notifying leave of the channel (a later one, on
	// any node, started a grace period of its own) and the user has no member
	// socket left in it: the channel is then told the user left. It consumes
	// the record, so across the nodes of a cluster the channel is told once,
	// as one node whose grace timer restarts on each leave tells it once.
	ContentLeaveDue(ctx context.Context, channel string, uid int64, authToken, socketID string) (bool, error)
	// ContentChannelExists reports whether a content token channel exists.
	ContentChannelExists(ctx context.Context, channel string) (bool, error)
	// ContentChannelUsers lists the members of a channel: the uids of its
	// users and the auth tokens of its anonymous sockets, each once, sorted.
	ContentChannelUsers(ctx context.Context, channel string) (uids []int64, authTokens []string, err error)
	// ContentChannels returns every content token channel, sorted by name.
	ContentChannels(ctx context.Context) ([]ContentChannel, error)
}

// Clock is the time source of a store's timers; tests replace it.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Stopper
}

// Stopper is a timer that can be cancelled.
type Stopper interface{ Stop() bool }

// RealClock is the time package's clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock.
func (RealClock) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }
