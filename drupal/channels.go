package drupal

import (
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
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

// joinChannelLocked puts an authenticated socket in a channel, creating it.
func (b *Bridge) joinChannelLocked(c *conn, name string) {
	ch := b.channels[name]
	if ch == nil {
		ch = newChannel(name, false)
		b.channels[name] = ch
	}
	ch.add(c)
	c.s.Join(ch.room)
}

func (b *Bridge) leaveChannelLocked(c *conn, name string) {
	if i := c.rooms.index(channelPrefix, name); i >= 0 {
		if ch := b.channels[name]; ch != nil {
			ch.remove(c, c.rooms[i])
		}
		c.rooms.delAt(i)
	}
	c.s.Leave(channelPrefix + name)
}

// AddChannel creates an empty channel (channel/add); clientWritable lets its
// members write to it (see ClientMessage).
func (b *Bridge) AddChannel(name string, clientWritable bool) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.channels[name] != nil {
		return ErrChannelExists
	}
	b.channels[name] = newChannel(name, clientWritable)
	return nil
}

// ChannelExists reports whether a channel exists (channel/check).
func (b *Bridge) ChannelExists(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.channels[name] != nil
}

// RemoveChannel deletes a channel; its sockets stop receiving its messages
// (channel/remove). It reports false when there was no such channel.
func (b *Bridge) RemoveChannel(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.channels[name]
	if ch == nil {
		return false
	}
	for _, c := range ch.members {
		if i := c.rooms.index(channelPrefix, name); i >= 0 {
			c.rooms.delAt(i)
		}
		c.s.Leave(ch.room)
	}
	delete(b.channels, name)
	return true
}

// AddUserToChannel makes every authenticated socket of uid join a channel, and
// records it in the user's cached authentications so reconnects keep it
// (user/channel/add). The channel is created even when the user has no socket
// (ErrNoSessions), as drupal-node.js did.
func (b *Bridge) AddUserToChannel(uid int64, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.channels[name] == nil {
		b.channels[name] = newChannel(name, false)
	}
	b.editCachedChannelsLocked(func(_ string, u int64) bool { return u == uid }, name, true)
	set := b.socketsOfUIDLocked(uid)
	if len(set) == 0 {
		return ErrNoSessions
	}
	for _, c := range set {
		b.joinChannelLocked(c, name)
	}
	return nil
}

// RemoveUserFromChannel takes every socket of uid out of a channel and out of
// the user's cached authentications (user/channel/remove).
func (b *Bridge) RemoveUserFromChannel(uid int64, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.channels[name] == nil {
		return ErrNoChannel
	}
	for _, c := range b.socketsOfUIDLocked(uid) {
		b.leaveChannelLocked(c, name)
	}
	b.editCachedChannelsLocked(func(_ string, u int64) bool { return u == uid }, name, false)
	return nil
}

// AddAuthTokenToChannel makes the sockets authenticated with token join a
// channel, creating it, and records it in the token's cached authentication
// (authtoken/channel/add). ErrNoSessions when the token has no socket.
func (b *Bridge) AddAuthTokenToChannel(token, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	conns := b.socketsOfTokenLocked(token)
	if len(conns) == 0 {
		return ErrNoSessions
	}
	for _, c := range conns {
		b.joinChannelLocked(c, name)
	}
	b.editCachedChannelsLocked(func(tok string, _ int64) bool { return tok == token }, name, true)
	return nil
}

// RemoveAuthTokenFromChannel takes the sockets of token out of a channel
// (authtoken/channel/remove). ErrNoChannel for an unknown channel,
// ErrNoSessions for an unknown token.
func (b *Bridge) RemoveAuthTokenFromChannel(token, name string) error {
	if !ValidChannelName(name) {
		return ErrInvalidChannel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.channels[name] == nil {
		return ErrNoChannel
	}
	conns := b.socketsOfTokenLocked(token)
	if len(conns) == 0 && b.cachedLocked(token) == nil {
		return ErrNoSessions
	}
	for _, c := range conns {
		b.leaveChannelLocked(c, name)
	}
	b.editCachedChannelsLocked(func(tok string, _ int64) bool { return tok == token }, name, false)
	return nil
}

func (b *Bridge) socketsOfTokenLocked(token string) []*conn {
	var out []*conn
	for _, c := range b.sockets {
		if c.state == stateAuthenticated && c.auth.token == token {
			out = append(out, c)
		}
	}
	return out
}

// editCachedChannelsLocked adds or removes a channel in the cached
// authentications match selects (by auth token and uid). Entries are replaced,
// never changed in place: they are the sockets' too (conn.auth).
// Removing leaves no hole (spec §9.9).
func (b *Bridge) editCachedChannelsLocked(match func(token string, uid int64) bool, name string, add bool) {
	for tok, ent := range b.cache {
		if !match(tok, ent.uid) {
			continue
		}
		r, err := ParseAuthReply(ent.raw)
		if err != nil {
			continue
		}
		has := slices.Contains(r.Channels, name)
		if has == add {
			continue
		}
		channels := r.Channels // r is this loop's own
		if add {
			channels = append(channels, name)
		} else {
			channels = slices.DeleteFunc(channels, func(s string) bool { return s == name })
		}
		list, _ := json.Marshal(nonNil(channels))
		raw, err := setField(ent.raw, "channels", list)
		if err != nil {
			continue
		}
		// Cached: not with the encoder's spare room.
		b.cache[tok] = &authEntry{token: ent.token, raw: exactSize(raw), uid: ent.uid, expires: ent.expires}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// KickUser disconnects every socket of uid and forgets its cached
// authentications, so its next connection asks Drupal again (user/kick).
// drupal-node.js only forgot the sockets without closing them (spec §9.5).
func (b *Bridge) KickUser(uid int64) int {
	b.mu.Lock()
	for tok, ent := range b.cache {
		if ent.uid == uid {
			delete(b.cache, tok)
		}
	}
	var socks []*conn
	for _, c := range b.sockets {
		if c.state == stateAuthenticated && c.uid == uid {
			socks = append(socks, c)
		}
	}
	b.mu.Unlock()
	for _, c := range socks {
		b.disconnect(c.s, slog.LevelInfo, "user kicked", slog.Int64("uid", uid))
	}
	return len(socks)
}

// LogoutToken forgets the cached authentication of an auth token and
// disconnects its sockets (user/logout; drupal-node.js 1.0.x did nothing,
// spec §9.2).
func (b *Bridge) LogoutToken(token string) int {
	b.mu.Lock()
	delete(b.cache, token)
	socks := b.socketsOfTokenLocked(token)
	b.mu.Unlock()
	for _, c := range socks {
		b.disconnect(c.s, slog.LevelInfo, "auth token logged out")
	}
	return len(socks)
}

// Publish routes a message from Drupal (spec §4.3): a truthy broadcast goes to
// every authenticated socket, else a channel to that channel's sockets; a
// clientSocketId names a socket that must not get it. sent counts the sockets
// targeted on this node. msg is pushed untouched.
func (b *Bridge) Publish(msg json.RawMessage) (sent int, err error) {
	fs, err := objectFields(msg)
	if err != nil {
		return 0, ErrMissingParams
	}
	m := fieldMap(fs)
	except, _ := jsonString(m["clientSocketId"])
	switch {
	case truthy(m["broadcast"]):
		sent = b.Broadcast(msg, except)
	case truthy(m["channel"]):
		name, _ := jsonString(m["channel"])
		sent = b.PublishToChannel(name, msg, except)
	default:
		return 0, ErrMissingParams
	}
	b.logDebug("drupal: published", slog.Int("sent", sent))
	for _, ext := range b.exts {
		ext.OnPublish(msg, sent)
	}
	return sent, nil
}

// Broadcast sends msg to every authenticated socket but except; it returns how
// many were targeted.
func (b *Bridge) Broadcast(msg json.RawMessage, except string) int {
	b.mu.Lock()
	n := b.authed
	if c := b.sockets[except]; except != "" && c != nil && c.state == stateAuthenticated {
		n--
	}
	b.mu.Unlock()
	b.emitToRoom(roomAuthenticated, except, msg)
	return n
}

// PublishToChannel sends msg to a channel's sockets but except; it returns how
// many were targeted (0 for an unknown channel).
func (b *Bridge) PublishToChannel(name string, msg json.RawMessage, except string) int {
	b.mu.Lock()
	ch := b.channels[name]
	n := 0
	if ch != nil {
		n = len(ch.members)
		if c := b.sockets[except]; c != nil && c.rooms.has(channelPrefix, name) {
			n--
		}
	}
	b.mu.Unlock()
	if n > 0 {
		b.emitToRoom(channelPrefix+name, except, msg)
	}
	return n
}

// SendToSocket sends msg to one authenticated socket.
func (b *Bridge) SendToSocket(id string, msg json.RawMessage) bool {
	b.mu.Lock()
	c := b.sockets[id]
	ok := c != nil && c.state == stateAuthenticated
	b.mu.Unlock()
	if ok {
		push(c.s, msg)
	}
	return ok
}

// Stats are the counters health/check reports.
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

// Stats returns the counters of health/check.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{len(b.cache), b.authed, len(b.online), len(b.tokenChannels)}
}

func formatUID(uid int64) string { return strconv.FormatInt(uid, 10) }
