package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/server/socketio"
)

// ackSuccess is the acknowledgement of a successful authenticate.
var ackSuccess = json.RawMessage(`{"result":"success"}`)

// onAuthenticate handles the authenticate event (spec §3): {authToken,
// contentTokens?} with an optional ack. A cached authentication is applied at
// once; otherwise Drupal is asked on a goroutine, so the socket's reading side
// is never held up by the backend (nor by a shared store).
func (b *Bridge) onAuthenticate(s *socketio.Socket, e *socketio.Event) {
	if e.Args.Len() == 0 {
		b.disconnect(s, slog.LevelInfo, "authenticate without a payload")
		return
	}
	fs, err := objectFields(e.Args.Values[0])
	if err != nil {
		b.disconnect(s, slog.LevelInfo, "authenticate payload is not an object")
		return
	}
	m := fieldMap(fs)
	token, ok := jsonString(m["authToken"])
	if !ok || token == "" || !isJSONStringValue(m["authToken"]) {
		b.disconnect(s, slog.LevelInfo, "authenticate without an authToken")
		return
	}
	// The socket joins the token's room; the token itself is kept (cache
	// key, the socket's record) as a part of the room's name, one string.
	room := TokenRoom(token)
	token = room[len(TokenRoomPrefix):]
	clientTokens := stringMap(m["contentTokens"])

	b.mu.Lock()
	c := b.sockets[s.ID()]
	if c == nil || c.s != s || b.closed {
		b.mu.Unlock()
		return
	}
	switch c.state {
	case stateAuthenticating:
		b.mu.Unlock()
		b.logDebug("drupal: authenticate ignored, already in progress", slog.String("sid", s.ID()))
		return
	case stateAuthenticated:
		reply, same := c.auth.Reply, c.auth.Token == token
		b.mu.Unlock()
		if !same {
			b.disconnect(s, slog.LevelInfo, "authenticate again with another token")
			return
		}
		// The Drupal client authenticates on every connect event; repeat
		// the answer.
		push(s, clientAuthenticated(reply))
		_ = e.Ack(ackSuccess)
		return
	}
	// The call's own context, so a disconnect stops it; it is cancelled as
	// soon as Drupal has answered. Its deadline is the auth timeout, so Post
	// need not derive a context of its own.
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if b.backend.timeout > 0 {
		ctx, cancel = context.WithTimeout(b.ctx, b.backend.timeout)
	} else {
		ctx, cancel = context.WithCancel(b.ctx)
	}
	c.state = stateAuthenticating
	if c.cancel != nil {
		c.cancel() // the handshake deadline: authenticate came
	}
	c.cancel = cancel
	if b.inline {
		b.mu.Unlock()
		if b.authenticateCached(ctx, cancel, c, token, room, clientTokens, e, false) {
			return
		}
		b.mu.Lock()
	}
	started := b.goBackgroundLocked(func(context.Context) {
		if !b.inline && b.authenticateCached(ctx, cancel, c, token, room, clientTokens, e, true) {
			return
		}
		b.authenticateRemote(ctx, cancel, c, token, room, e.Args.Values[0], clientTokens, e)
	})
	b.mu.Unlock()
	if !started {
		cancel()
	}
}

// authenticateCached applies the cached authentication of token, if there is
// one, and reports whether there was.
func (b *Bridge) authenticateCached(ctx context.Context, cancel context.CancelFunc, c *conn, token, room string, clientTokens map[string]string, e *socketio.Event, onBackground bool) bool {
	a, err := b.store.CachedAuth(ctx, token)
	if err != nil {
		b.storeFailed("cached auth", err)
		return false
	}
	if a == nil {
		return false
	}
	r, err := ParseAuthReply(a.Reply)
	if err != nil {
		return false // cannot happen: it parsed when it was cached
	}
	// ParseAuthReply copies Raw out of its buffer; here that is already the
	// cache's exact copy, which the sockets share.
	r.Raw = a.Reply
	cancel()
	b.authCount.hits.Add(1)
	b.logDebug("drupal: reusing cached authentication", slog.String("sid", c.id()), slog.Int64("uid", a.UID))
	b.setup(c, a, r, room, mergeTokens(clientTokens, nil), e, onBackground)
	return true
}

// authenticateRemote asks Drupal and applies the answer (spec §3.6). When
// Drupal says no, the socket is disconnected with the reason logged; when it
// could not answer, the socket's transport is closed so that the client
// reconnects and authenticates again by itself (see closeForReconnect).
// cancel is ctx's. The message Drupal gets is the client's object (payload) with messageType
// and clientId set, as drupal-node.js builds it (keys in the same order).
func (b *Bridge) authenticateRemote(ctx context.Context, cancel context.CancelFunc, c *conn, token, room string, payload json.RawMessage, clientTokens map[string]string, e *socketio.Event) {
	msg, _ := setField(payload, "messageType", json.RawMessage(`"authenticate"`))
	msg, _ = setField(msg, "clientId", json.RawMessage(jsonQuote(c.id())))
	b.authCount.misses.Add(1)
	reply, err := b.backend.Authenticate(ctx, msg, c.id())
	// A call cancelled (the socket went away, the bridge is closing) rather
	// than timed out says nothing about Drupal.
	cancelled := errors.Is(ctx.Err(), context.Canceled)
	// Done with ctx: cancelling it now takes it out of the bridge context's
	// children at once, not after the pushes and hooks below.
	cancel()
	kind, unavailable := Unavailable(err)
	if !unavailable && !cancelled {
		b.outage.answered(b.log, b.clock.Now())
	}
	var a *store.Auth
	if err == nil {
		// Cached under the token the client sent, even if the socket went
		// away meanwhile: its reconnect will not ask again.
		a = &store.Auth{Token: token, UID: reply.UID, Reply: reply.Raw}
		if err := b.store.CacheAuth(b.ctx, a, time.Duration(b.cfg.AuthCacheTTL)); err != nil {
			b.storeFailed("cache auth", err)
		}
	}
	if err != nil {
		b.mu.Lock()
		// Only this call sets a conn authenticating, so the CancelFunc is
		// its own.
		c.cancel = nil
		gone := c.state != stateAuthenticating || b.sockets[c.id()] != c
		if !gone {
			c.state = statePending
		}
		b.mu.Unlock()
		if gone {
			b.logDebug("drupal: client went away during authentication", slog.String("sid", c.id()))
			return
		}
		if cancelled {
			b.logDebug("drupal: authentication cancelled", slog.String("sid", c.id()))
			return
		}
		if unavailable {
			b.closeForReconnect(c.s, kind, err)
			return
		}
		level := slog.LevelWarn
		if errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrWrongClient) {
			level = slog.LevelInfo
		}
		b.disconnect(c.s, level, "authentication failed", append(b.backend.logAttrs(err), slog.String("error", err.Error()))...)
		return
	}
	b.logDebug("drupal: client authenticated", slog.String("sid", c.id()), slog.Int64("uid", reply.UID))
	b.setup(c, a, reply, room, mergeTokens(clientTokens, reply.ContentTokens), e, true)
}

// closeForReconnect handles a socket whose authentication Drupal could not
// answer (down, slow past authTimeout, 5xx, a reply that does not parse): its
// Engine.IO session is closed, not the socket disconnected. A Socket.IO
// DISCONNECT ("io server disconnect") tells socket.io-client not to come back,
// so a page opened during a short outage would stay without realtime until
// reloaded; a transport close makes the client reconnect with its own backoff
// and send authenticate again, which reaches Drupal once it is back. The
// outage is logged once (outage), not once per socket.
func (b *Bridge) closeForReconnect(s *socketio.Socket, kind string, err error) {
	b.outage.failed(b.log.With(b.backend.logAttrs(err)...), b.clock.Now(), kind, err, true)
	b.logDebug("drupal: closing client's connection for a reconnect: backend unavailable",
		slog.String("sid", s.ID()), slog.String("error", err.Error()))
	// The session, not Socket.Disconnect(true): that sends the DISCONNECT
	// packet first, as socket.io does.
	s.Session().Close()
}

// noteBackendResult logs the outcome of a message posted to Drupal
// (userOnline, userOffline, client messages): a failure because Drupal could
// not answer counts towards the outage's summary, any other is a warning.
func (b *Bridge) noteBackendResult(err error) {
	kind, unavailable := Unavailable(err)
	switch {
	case unavailable:
		b.outage.failed(b.log.With(b.backend.logAttrs(err)...), b.clock.Now(), kind, err, false)
	case err != nil:
		b.outage.answered(b.log, b.clock.Now())
		b.log.Warn("drupal: message to backend failed", append(b.backend.logAttrs(err), slog.String("error", err.Error()))...)
	default:
		b.outage.answered(b.log, b.clock.Now())
	}
}

// mergeTokens is the content tokens to redeem: the client's, overridden by
// those Drupal echoed.
func mergeTokens(client, reply map[string]string) map[string]string {
	out := make(map[string]string, len(client)+len(reply))
	for k, v := range client {
		out[k] = v
	}
	for k, v := range reply {
		out[k] = v
	}
	return out
}

// setup makes c an authenticated socket (spec §3.7): counted by the store
// (presence), then in the rooms of its audiences (authenticated, its user, its
// auth token, the reply's channels) and of the content token channels it
// redeems; then the writes: clientAuthenticated push, ack, presence
// notifications, extension hooks, userOnline to Drupal.
//
// The store hears of the socket before it is marked authenticated, and only
// then can its disconnect tell the store it left: the two reach the store in
// that order even when the store is across the network.
func (b *Bridge) setup(c *conn, a *store.Auth, r *AuthReply, room string, tokens map[string]string, e *socketio.Event, onBackground bool) {
	ctx := b.ctx
	// The rooms to join. The registry is given the channel names as parts of
	// the room names, so a channel it creates costs no string of its own.
	rooms := make([]string, 0, 3+len(r.Channels))
	rooms = append(rooms, RoomAuthenticated, UserRoom(a.UID), room)
	names := make([]string, len(r.Channels))
	for i, name := range r.Channels {
		cr := ChannelRoom(name)
		rooms = append(rooms, cr)
		names[i] = cr[len(ChannelRoomPrefix):]
	}
	online, err := b.store.Connected(ctx, a, r.PresenceUIDs)
	if err != nil {
		b.storeFailed("connected", err)
	}
	if err := b.store.EnsureChannels(ctx, names); err != nil {
		b.storeFailed("ensure channels", err)
	}
	b.mu.Lock()
	c.cancel = nil
	if c.state != stateAuthenticating || b.sockets[c.id()] != c || b.closed {
		b.mu.Unlock()
		b.logDebug("drupal: client went away during authentication", slog.String("sid", c.id()))
		// Counted, so uncounted; a user it brought online goes offline
		// after the grace period, and Drupal hears both.
		if err := b.store.Disconnected(ctx, a); err != nil {
			b.storeFailed("disconnected", err)
		}
		if online {
			b.postOnline(a.UID, onBackground)
		}
		return
	}
	c.state = stateAuthenticated
	b.authCount.sockets.Add(1)
	c.auth = a
	c.s.Join(rooms...)
	b.mu.Unlock()
	b.redeemTokens(ctx, c, a, tokens)

	push(c.s, clientAuthenticated(r.Raw))
	if e != nil { // nil: a recovered socket's resume, which no one acks
		_ = e.Ack(ackSuccess)
	}
	if online {
		b.notifyPresence(ctx, a.UID, r.PresenceUIDs, "online")
	}
	for _, ext := range b.exts {
		ext.OnAuthenticate(c.s, r)
	}
	if online {
		b.postOnline(a.UID, onBackground)
	}
}

// postOnline tells Drupal a user came online. drupal-node.js starts the
// request before the hooks but does not wait for it, so nothing can tell the
// two orders apart; posting it last lets a call already on a background
// goroutine (onBackground: the one that asked Drupal to authenticate) make it
// there, rather than start another goroutine and grow its stack again for
// every connection.
func (b *Bridge) postOnline(uid int64, onBackground bool) {
	msg := json.RawMessage(`{"uid":` + strconv.FormatInt(uid, 10) + `,"messageType":"userOnline"}`)
	if onBackground {
		b.postBackend(b.ctx, msg)
		return
	}
	b.notifyBackend(msg)
}

// clientAuthenticated is the push that tells the page it is authenticated: the
// whole auth reply (spec §3.7).
func clientAuthenticated(raw json.RawMessage) json.RawMessage {
	return json.RawMessage(`{"callback":"clientAuthenticated","data":` + string(raw) + `}`)
}

// isJSONStringValue reports whether raw is a JSON string (not a number).
func isJSONStringValue(raw json.RawMessage) bool {
	for _, ch := range raw {
		switch ch {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			return true
		}
		return false
	}
	return false
}
