package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"slices"

	"github.com/socketd/socketd/drupal/store"
)

// Errors of the channel operations.
var (
	// ErrInvalidChannel: a channel name outside ^[a-z0-9_]+$ (case-insensitive).
	ErrInvalidChannel = errors.New("drupal: invalid channel name")
	// ErrChannelExists: channel/add of an existing channel.
	ErrChannelExists = errors.New("drupal: channel already exists")
	// ErrNoChannel: the channel does not exist.
	ErrNoChannel = errors.New("drupal: no such channel")
	// ErrNoSessions: the user or auth token has no authenticated socket.
	ErrNoSessions = errors.New("drupal: no active sessions")
	// ErrMissingParams: a publish with neither channel nor broadcast.
	ErrMissingParams = errors.New("drupal: required parameters are missing")
)

var channelNameRE = regexp.MustCompile(`(?i)^[a-z0-9_]+$`)

// ValidChannelName reports whether name is a channel name Drupal may use in
// the HTTP API (drupal-node.js's rule).
func ValidChannelName(name string) bool { return channelNameRE.MatchString(name) }

// AddChannel creates an empty channel (channel/add); clientWritable lets its
// members write to it (see ClientMessage).
func (b *Bridge) AddChannel(ctx context.Context, name string, clientWritable bool) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	added, err := b.store.AddChannel(ctx, name, clientWritable)
	if err != nil {
		return err
	}
	if !added {
		return ErrChannelExists
	}
	return nil
}

// ChannelExists reports whether a channel exists (channel/check).
func (b *Bridge) ChannelExists(ctx context.Context, name string) (bool, error) {
	exists, _, err := b.store.Channel(ctx, name)
	return exists, err
}

// RemoveChannel deletes a channel; its sockets, on every node, stop receiving
// its messages (channel/remove). It reports false when there was no such
// channel. Without the store the sockets leave all the same.
func (b *Bridge) RemoveChannel(ctx context.Context, name string) (bool, error) {
	removed, err := b.store.RemoveChannel(ctx, name)
	if err != nil {
		b.storeFailed("remove channel", err)
		removed = true
	}
	if !removed {
		return false, nil
	}
	room := ChannelRoom(name)
	return true, b.nsp.To(room).Ordered().SocketsLeave(ctx, room)
}

// The channel operations below act on the rooms whatever the store answers:
// when it cannot answer (a shared store that lost its server), the store's
// part is logged and skipped and the sockets are still moved, with the reach
// the adapter has.

// AddUserToChannel makes every authenticated socket of uid join a channel, and
// records it in the user's cached authentications so reconnects keep it
// (user/channel/add). The channel is created even when the user has no socket
// (ErrNoSessions), as drupal-node.js did.
func (b *Bridge) AddUserToChannel(ctx context.Context, uid int64, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	if err := b.store.EnsureChannels(ctx, []string{name}); err != nil {
		b.storeFailed("ensure channels", err)
	}
	if err := b.store.EditUserAuths(ctx, uid, editChannels(name, true)); err != nil {
		b.storeFailed("edit cached auths", err)
	}
	if n, err := b.store.UserSessions(ctx, uid); err != nil {
		b.storeFailed("user sessions", err)
	} else if n == 0 {
		return ErrNoSessions
	}
	return b.nsp.To(UserRoom(uid)).Ordered().SocketsJoin(ctx, ChannelRoom(name))
}

// RemoveUserFromChannel takes every socket of uid out of a channel and out of
// the user's cached authentications (user/channel/remove).
func (b *Bridge) RemoveUserFromChannel(ctx context.Context, uid int64, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	if exists, _, err := b.store.Channel(ctx, name); err != nil {
		b.storeFailed("channel", err)
	} else if !exists {
		return ErrNoChannel
	}
	if err := b.nsp.To(UserRoom(uid)).Ordered().SocketsLeave(ctx, ChannelRoom(name)); err != nil {
		return err
	}
	if err := b.store.EditUserAuths(ctx, uid, editChannels(name, false)); err != nil {
		b.storeFailed("edit cached auths", err)
	}
	return nil
}

// AddAuthTokenToChannel makes the sockets authenticated with token join a
// channel, creating it, and records it in the token's cached authentication
// (authtoken/channel/add). ErrNoSessions when the token has no socket.
func (b *Bridge) AddAuthTokenToChannel(ctx context.Context, token, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	if n, err := b.store.TokenSessions(ctx, token); err != nil {
		b.storeFailed("token sessions", err)
	} else if n == 0 {
		return ErrNoSessions
	}
	if err := b.store.EnsureChannels(ctx, []string{name}); err != nil {
		b.storeFailed("ensure channels", err)
	}
	if err := b.nsp.To(TokenRoom(token)).Ordered().SocketsJoin(ctx, ChannelRoom(name)); err != nil {
		return err
	}
	if err := b.store.EditTokenAuth(ctx, token, editChannels(name, true)); err != nil {
		b.storeFailed("edit cached auth", err)
	}
	return nil
}

// RemoveAuthTokenFromChannel takes the sockets of token out of a channel
// (authtoken/channel/remove). ErrNoChannel for an unknown channel,
// ErrNoSessions for a token with neither a socket nor a cached
// authentication.
func (b *Bridge) RemoveAuthTokenFromChannel(ctx context.Context, token, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	if exists, _, err := b.store.Channel(ctx, name); err != nil {
		b.storeFailed("channel", err)
	} else if !exists {
		return ErrNoChannel
	}
	if known, err := b.tokenKnown(ctx, token); err != nil {
		b.storeFailed("token sessions", err)
	} else if !known {
		return ErrNoSessions
	}
	if err := b.nsp.To(TokenRoom(token)).Ordered().SocketsLeave(ctx, ChannelRoom(name)); err != nil {
		return err
	}
	if err := b.store.EditTokenAuth(ctx, token, editChannels(name, false)); err != nil {
		b.storeFailed("edit cached auth", err)
	}
	return nil
}

// tokenKnown reports whether an auth token has a socket or a cached
// authentication.
func (b *Bridge) tokenKnown(ctx context.Context, token string) (bool, error) {
	n, err := b.store.TokenSessions(ctx, token)
	if err != nil || n > 0 {
		return n > 0, err
	}
	a, err := b.store.CachedAuth(ctx, token)
	return a != nil, err
}

// editChannels is the store edit that adds a channel to, or removes it from,
// the channels list of a cached authentication, keeping the other keys in
// their order and leaving no hole (spec §9.9). It makes a new Auth: the old
// one is the sockets' too.
func editChannels(name string, add bool) func(*store.Auth) *store.Auth {
	return func(a *store.Auth) *store.Auth {
		r, err := ParseAuthReply(a.Reply)
		if err != nil {
			return nil
		}
		if slices.Contains(r.Channels, name) == add {
			return nil
		}
		channels := r.Channels // r is this call's own
		if add {
			channels = append(channels, name)
		} else {
			channels = slices.DeleteFunc(channels, func(s string) bool { return s == name })
		}
		list, _ := json.Marshal(nonNil(channels))
		raw, err := setField(a.Reply, "channels", list)
		if err != nil {
			return nil
		}
		// Cached: not with the encoder's spare room.
		return &store.Auth{Token: a.Token, UID: a.UID, Reply: exactSize(raw)}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// KickUser disconnects every socket of uid, on every node, and forgets its
// cached authentications, so its next connection asks Drupal again
// (user/kick). drupal-node.js only forgot the sockets without closing them
// (spec §9.5).
func (b *Bridge) KickUser(ctx context.Context, uid int64) error {
	if err := b.store.ForgetUser(ctx, uid); err != nil {
		b.storeFailed("forget user", err)
	}
	b.log.Info("drupal: disconnecting the sockets of a kicked user", slog.Int64("uid", uid))
	return b.nsp.To(UserRoom(uid)).Ordered().DisconnectSockets(ctx, false)
}

// LogoutToken forgets the cached authentication of an auth token and
// disconnects its sockets, on every node (user/logout; drupal-node.js 1.0.x
// did nothing, spec §9.2).
func (b *Bridge) LogoutToken(ctx context.Context, token string) error {
	if _, err := b.store.ForgetToken(ctx, token); err != nil {
		b.storeFailed("forget token", err)
	}
	b.log.Info("drupal: disconnecting the sockets of a logged out auth token")
	return b.nsp.To(TokenRoom(token)).Ordered().DisconnectSockets(ctx, false)
}

// Publish routes a message from Drupal (spec §4.3): a truthy broadcast goes to
// every authenticated socket, else a channel to that channel's sockets; a
// clientSocketId names a socket that must not get it. sent counts the sockets
// it was written to, on every node. msg is pushed untouched.
func (b *Bridge) Publish(ctx context.Context, msg json.RawMessage) (sent int, err error) {
	fs, err := objectFields(msg)
	if err != nil {
		return 0, ErrMissingParams
	}
	m := fieldMap(fs)
	except, _ := jsonString(m["clientSocketId"])
	switch {
	case truthy(m["broadcast"]):
		sent = b.Broadcast(ctx, msg, except)
	case truthy(m["channel"]):
		name, _ := jsonString(m["channel"])
		sent = b.PublishToChannel(ctx, name, msg, except)
	default:
		return 0, ErrMissingParams
	}
	b.logDebug("drupal: published", slog.Int("sent", sent))
	for _, ext := range b.exts {
		ext.OnPublish(msg, sent)
	}
	return sent, nil
}

// Broadcast sends msg to every authenticated socket but clientSocketID;
// it returns how many it reached.
func (b *Bridge) Broadcast(ctx context.Context, msg json.RawMessage, clientSocketID string) int {
	return b.emit(ctx, except(b.nsp.To(RoomAuthenticated), clientSocketID), msg)
}

// PublishToChannel sends msg to a channel's sockets but clientSocketID;
// it returns how many it reached (0 for an unknown channel, which has none).
func (b *Bridge) PublishToChannel(ctx context.Context, name string, msg json.RawMessage, clientSocketID string) int {
	return b.emit(ctx, except(b.nsp.To(ChannelRoom(name)), clientSocketID), msg)
}

// SendToSocket sends msg to one authenticated socket, wherever it is.
func (b *Bridge) SendToSocket(ctx context.Context, id string, msg json.RawMessage) bool {
	if !socketRoom(id) {
		return false
	}
	b.mu.Lock()
	c := b.sockets[id]
	local, authed := c != nil, c != nil && c.state == stateAuthenticated
	b.mu.Unlock()
	if !local {
		// Another node's, perhaps: ask the adapter whether it is
		// authenticated there.
		infos, err := b.nsp.To(id).FetchSockets(ctx)
		if err != nil {
			b.log.Warn("drupal: looking up a socket failed", slog.String("error", err.Error()))
		}
		for _, info := range infos {
			authed = authed || slices.Contains(info.Rooms, RoomAuthenticated)
		}
	}
	if !authed {
		return false
	}
	return b.emit(ctx, b.nsp.To(id), msg) > 0
}

// Stats are the counters health/check reports, for the whole cluster when the
// store is shared.
type Stats = store.Stats

// Stats returns the counters of health/check.
func (b *Bridge) Stats(ctx context.Context) (Stats, error) { return b.store.Stats(ctx) }
