package drupal

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/server/socketio"
)

// Content token channels (spec §2 content/token*, §3.7, §4.1
// join-token-channel, §4.4): Drupal stores one-time tokens for a channel, a
// page redeems one (in authenticate's contentTokens or with
// join-token-channel) and its socket joins the channel's room. The tokens and
// who redeemed them are the store's; the room is the adapter's.

// tokenKey names the notifyOnDisconnect timer of one user in one token
// channel; anonymous users (uid 0) are told apart by auth token.
type tokenKey struct {
	channel   string
	uid       int64
	authToken string
}

type graceTimer struct {
	t store.Stopper
	// sid is the socket whose leave started a content token channel's
	// grace period (the store tells whether it is still the user's latest).
	sid string
}

func tokenKeyOf(name string, a *store.Auth) tokenKey {
	k := tokenKey{channel: name, uid: a.UID}
	if a.UID == 0 {
		k.authToken = a.Token
	}
	return k
}

// SetContentToken stores a one-time token for a token channel (content/token).
// body is Drupal's whole object; it must have truthy channel and token. A
// token nobody redeems within authCacheTTL is dropped.
func (b *Bridge) SetContentToken(ctx context.Context, body json.RawMessage) error {
	fs, err := objectFields(body)
	if err != nil {
		return ErrMissingParams
	}
	m := fieldMap(fs)
	if !truthy(m["channel"]) || !truthy(m["token"]) {
		return ErrMissingParams
	}
	name, _ := jsonString(m["channel"])
	token, _ := jsonString(m["token"])
	if name == "" || token == "" {
		return ErrMissingParams
	}
	// body is a slice of the request's read buffer; the token is kept until
	// redeemed (then by its sockets) or swept: keep an exact copy.
	t := store.ContentToken{Channel: name, Token: token, Body: bytes.Clone(trimJSON(body)), Notify: truthy(m["notifyOnDisconnect"])}
	return b.store.AddContentToken(ctx, t, time.Duration(b.cfg.AuthCacheTTL))
}

// redeemTokens redeems the content tokens an authenticating socket brought
// (channel -> token), joining the channels of those that were valid. Nobody is
// told (drupal-node.js did not either).
func (b *Bridge) redeemTokens(ctx context.Context, c *conn, a *store.Auth, tokens map[string]string) {
	for name, tok := range tokens {
		if _, ok := b.redeem(ctx, c, a, name, tok); !ok {
			b.logDebug("drupal: content token refused", slog.String("sid", c.id()), slog.String("channel", name))
		}
	}
}

// redeem consumes tok of a token channel for c and joins c to its room.
func (b *Bridge) redeem(ctx context.Context, c *conn, a *store.Auth, name, tok string) (*store.ContentToken, bool) {
	if name == "" || tok == "" {
		return nil, false
	}
	t, err := b.store.RedeemContentToken(ctx, name, tok, store.Member{SocketID: c.id(), UID: a.UID, AuthToken: a.Token})
	if err != nil {
		b.storeFailed("redeem content token", err)
		return nil, false
	}
	if t == nil {
		return nil, false
	}
	c.s.Join(ContentRoom(name))
	return t, true
}

// onJoinTokenChannel handles join-token-channel {channel, contentToken}: an
// authenticated socket redeems a token, then every socket of the channel is
// told with clientJoinedTokenChannel. Anything invalid is ignored.
func (b *Bridge) onJoinTokenChannel(s *socketio.Socket, e *socketio.Event) {
	if e.Args.Len() == 0 {
		return
	}
	fs, err := objectFields(e.Args.Values[0])
	if err != nil {
		return
	}
	m := fieldMap(fs)
	name, ok1 := jsonString(m["channel"])
	tok, ok2 := jsonString(m["contentToken"])
	if !ok1 || !ok2 || name == "" || tok == "" {
		return
	}
	b.mu.Lock()
	c := b.sockets[s.ID()]
	authed := c != nil && c.s == s && c.state == stateAuthenticated
	b.mu.Unlock()
	if !authed {
		b.logDebug("drupal: join-token-channel before authentication", slog.String("sid", s.ID()), slog.String("channel", name))
		return
	}
	b.storeCall(func(ctx context.Context) {
		t, ok := b.redeem(ctx, c, c.auth, name, tok)
		if !ok {
			b.logDebug("drupal: join-token-channel refused", slog.String("sid", s.ID()), slog.String("channel", name))
			return
		}
		b.emit(ctx, b.nsp.To(ContentRoom(name)), json.RawMessage(`{"callback":"clientJoinedTokenChannel","data":`+string(t.Body)+`}`))
	})
}

// scheduleTokenLeave (re)starts the notifyOnDisconnect timer of a user who
// left a token channel through socket sid.
func (b *Bridge) scheduleTokenLeave(k tokenKey, sid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if old := b.tokenTimers[k]; old != nil {
		old.t.Stop()
	}
	gt := &graceTimer{sid: sid}
	b.tokenTimers[k] = gt
	gt.t = b.clock.AfterFunc(tokenLeaveGrace, func() { b.tokenLeaveCheck(k, gt) })
}

// tokenLeaveCheck ends a notifyOnDisconnect grace period: if the user has no
// socket left in the channel, the channel is told it left. With a shared
// store the user may have left through sockets on several nodes, each with
// its timer: the store lets the one of the latest leave tell the channel.
func (b *Bridge) tokenLeaveCheck(k tokenKey, gt *graceTimer) {
	b.mu.Lock()
	if b.closed || b.tokenTimers[k] != gt {
		b.mu.Unlock()
		return
	}
	delete(b.tokenTimers, k)
	b.mu.Unlock()
	due, err := b.store.ContentLeaveDue(b.ctx, k.channel, k.uid, k.authToken, gt.sid)
	if err != nil {
		b.storeFailed("content leave due", err)
		return
	}
	if !due {
		return
	}
	msg := `{"channel":` + jsonQuote(k.channel) + `,"contentChannelNotification":true,"data":{"uid":` + strconv.FormatInt(k.uid, 10) + `,"type":"disconnect"}}`
	b.emit(b.ctx, b.nsp.To(ContentRoom(k.channel)), json.RawMessage(msg))
}

// PublishToContentChannel sends msg to the sockets of the token channel named
// by its channel field, except its clientSocketId (content/token/message), and
// returns how many it reached. It reports false when there is no such token
// channel.
func (b *Bridge) PublishToContentChannel(ctx context.Context, msg json.RawMessage) (sent int, ok bool, err error) {
	fs, err := objectFields(msg)
	if err != nil {
		return 0, false, nil
	}
	m := fieldMap(fs)
	name, _ := jsonString(m["channel"])
	if name == "" {
		return 0, false, nil
	}
	exists, err := b.store.ContentChannelExists(ctx, name)
	if err != nil || !exists {
		return 0, false, err
	}
	clientSocketID, _ := jsonString(m["clientSocketId"])
	return b.emit(ctx, except(b.nsp.To(ContentRoom(name)), clientSocketID), msg), true, nil
}

// ContentChannelUsers lists who is in a token channel (content/token/users):
// the uids of its users and the auth tokens of its anonymous sockets, each once
// and sorted.
func (b *Bridge) ContentChannelUsers(ctx context.Context, name string) (uids []int64, authTokens []string, err error) {
	return b.store.ContentChannelUsers(ctx, name)
}

// contentTokensJSON is the token channel table health/check shows:
// {channel: {"tokens": {token: body}, "sockets": {socket id: body}}}, keys
// sorted.
func (b *Bridge) contentTokensJSON(ctx context.Context) ([]byte, error) {
	chans, err := b.store.ContentChannels(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, cc := range chans {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(jsonQuote(cc.Name) + `:{"tokens":`)
		writeSortedObject(&buf, cc.Tokens)
		buf.WriteString(`,"sockets":`)
		writeSortedObject(&buf, cc.Sockets)
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func writeSortedObject(buf *bytes.Buffer, m map[string]json.RawMessage) {
	buf.WriteByte('{')
	for j, k := range sortedKeys(m) {
		if j > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(jsonQuote(k) + ":")
		buf.Write(m[k])
	}
	buf.WriteByte('}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
