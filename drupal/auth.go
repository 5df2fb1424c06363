package drupal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/socketd/socketd/server/socketio"
)

// ackSuccess is the acknowledgement of a successful authenticate.
var ackSuccess = json.RawMessage(`{"result":"success"}`)

// onAuthenticate handles the authenticate event (spec §3): {authToken,
// contentTokens?} with an optional ack. A cached authentication is applied at
// once; otherwise Drupal is asked on a goroutine, so the socket's reading side
// is never held up by the backend.
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
		raw, same := c.auth.raw, c.auth.token == token
		b.mu.Unlock()
		if !same {
			b.disconnect(s, slog.LevelInfo, "authenticate again with another token")
			return
		}
		// The Drupal client authenticates on every connect event; repeat
		// the answer.
		push(s, clientAuthenticated(raw))
		_ = e.Ack(ackSuccess)
		return
	}
	if ent, reply := b.cachedReplyLocked(token); reply != nil {
		res := b.setupLocked(c, ent, reply, mergeTokens(clientTokens, nil))
		b.mu.Unlock()
		b.authCount.hits.Add(1)
		b.logDebug("drupal: reusing cached authentication", slog.String("sid", s.ID()), slog.Int64("uid", reply.UID))
		b.afterSetup(c, reply, res, e, false)
		return
	}
	// The message Drupal gets is the client's object with messageType and
	// clientId set, as drupal-node.js builds it (keys in the same order).
	msg, _ := setField(e.Args.Values[0], "messageType", json.RawMessage(`"authenticate"`))
	msg, _ = setField(msg, "clientId", json.RawMessage(jsonQuote(s.ID())))
	// The call's own context, so a disconnect stops it; authenticateRemote
	// cancels it as soon as Drupal has answered. Its deadline is the auth
	// timeout, so Post need not derive a context of its own.
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
	c.cancelAuth = cancel
	started := b.goBackgroundLocked(func(context.Context) {
		b.authenticateRemote(ctx, cancel, c, token, msg, clientTokens, e)
	})
	b.mu.Unlock()
	if !started {
		cancel()
	}
}

// authenticateRemote asks Drupal and applies the answer; any failure
// disconnects the socket with the reason logged (spec §3.6). cancel is ctx's.
func (b *Bridge) authenticateRemote(ctx context.Context, cancel context.CancelFunc, c *conn, token string, msg json.RawMessage, clientTokens map[string]string, e *socketio.Event) {
	b.authCount.misses.Add(1)
	reply, err := b.backend.Authenticate(ctx, msg, c.id())
	// Done with ctx: cancelling it now takes it out of the bridge context's
	// children at once, not after the pushes and hooks below.
	cancel()
	b.mu.Lock()
	// Only this call sets a conn authenticating, so the CancelFunc is its own;
	// an authenticated socket keeps none.
	c.cancelAuth = nil
	var ent *authEntry
	if err == nil {
		// Cached under the token the client sent, even if the socket went
		// away meanwhile: its reconnect will not ask again.
		ent = &authEntry{token: token, raw: reply.Raw, uid: reply.UID, expires: b.sinceEpoch() + time.Duration(b.cfg.AuthCacheTTL)}
		b.cache[token] = ent
	}
	if c.state != stateAuthenticating || b.sockets[c.id()] != c {
		b.mu.Unlock()
		b.logDebug("drupal: client went away during authentication", slog.String("sid", c.id()))
		return
	}
	if err != nil {
		c.state = statePending
		b.mu.Unlock()
		level := slog.LevelWarn
		if errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrWrongClient) {
			level = slog.LevelInfo
		}
		b.disconnect(c.s, level, "authentication failed", slog.String("error", err.Error()))
		return
	}
	res := b.setupLocked(c, ent, reply, mergeTokens(clientTokens, reply.ContentTokens))
	b.mu.Unlock()
	b.logDebug("drupal: client authenticated", slog.String("sid", c.id()), slog.Int64("uid", reply.UID))
	b.afterSetup(c, reply, res, e, true)
}

// cachedLocked returns the live cache entry of token, dropping an expired one.
func (b *Bridge) cachedLocked(token string) *authEntry {
	ent := b.cache[token]
	if ent == nil {
		return nil
	}
	if b.sinceEpoch() >= ent.expires {
		delete(b.cache, token)
		return nil
	}
	return ent
}

// cachedReplyLocked is the cached authentication of token and its reply
// parsed; nils when there is none (or, which cannot happen, it no longer
// parses).
func (b *Bridge) cachedReplyLocked(token string) (*authEntry, *AuthReply) {
	ent := b.cachedLocked(token)
	if ent == nil {
		return nil, nil
	}
	r, err := ParseAuthReply(ent.raw)
	if err != nil {
		delete(b.cache, token)
		return nil, nil
	}
	// ParseAuthReply copies Raw out of its buffer; here that is already the
	// cache's exact copy, which the sockets share.
	r.Raw = ent.raw
	return ent, r
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

// setupResult is what setupLocked leaves to do once the lock is released.
type setupResult struct {
	newlyOnline bool
	presence    []string // sockets told the user came online
}

// setupLocked makes c an authenticated socket (spec §3.7): uid and token
// recorded, the authenticated room and the reply's channels joined, presence
// updated, content tokens redeemed. ent is the cache entry of the client's
// auth token, r its reply.
func (b *Bridge) setupLocked(c *conn, ent *authEntry, r *AuthReply, tokens map[string]string) setupResult {
	c.state = stateAuthenticated
	c.uid = r.UID
	c.auth = ent
	c.rooms = nil
	b.authed++
	c.s.Join(roomAuthenticated)
	for _, name := range r.Channels {
		b.joinChannelLocked(c, name)
	}
	var res setupResult
	if c.uid == 0 {
		b.anon.add(c)
	} else {
		p := b.online[c.uid]
		if p != nil {
			p.stop() // back within the grace period: still online
		} else {
			// The reply is not modified once parsed (Extension), so the
			// presence shares its list.
			p = &presence{list: r.PresenceUIDs}
			b.online[c.uid] = p
			res.newlyOnline = true
		}
		p.socks.add(c)
		if res.newlyOnline {
			res.presence = b.socketsOfUIDsLocked(p.list)
		}
	}
	for name, tok := range tokens {
		b.redeemTokenLocked(c, name, tok)
	}
	return res
}

// afterSetup does the writes of an authentication: clientAuthenticated push,
// ack, presence notifications, extension hooks, then userOnline to Drupal.
// drupal-node.js starts the userOnline request before the hooks but does not
// wait for it, so nothing can tell the two orders apart; posting it last lets
// a call already on a background goroutine (onBackground: the one that asked
// Drupal to authenticate) make it there, rather than start another goroutine
// and grow its stack again for every connection.
func (b *Bridge) afterSetup(c *conn, r *AuthReply, res setupResult, e *socketio.Event, onBackground bool) {
	push(c.s, clientAuthenticated(r.Raw))
	_ = e.Ack(ackSuccess)
	if res.newlyOnline {
		b.emitToSockets(res.presence, presenceNotification(c.uid, "online"))
	}
	for _, ext := range b.exts {
		ext.OnAuthenticate(c.s, r)
	}
	if !res.newlyOnline {
		return
	}
	msg := json.RawMessage(`{"uid":` + strconv.FormatInt(c.uid, 10) + `,"messageType":"userOnline"}`)
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
