package drupal

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/socketd/socketd/server/socketio"
)

// Content token channels (spec §2 content/token*, §3.7, §4.1
// join-token-channel, §4.4): Drupal stores one-time tokens for a channel, a
// page redeems one (in authenticate's contentTokens or with
// join-token-channel) and its socket joins the channel's room.

// tokenChannel is a content token channel.
type tokenChannel struct {
	tokens  map[string]*contentToken // unused one-time tokens
	sockets map[string]*tokenMember  // joined sockets, with the token they used
	room    string                   // tokenPrefix + the name (see channel.room)
}

// contentToken is what Drupal posted to content/token, kept whole.
type contentToken struct {
	body    json.RawMessage
	notify  bool // notifyOnDisconnect
	created time.Time
}

type tokenMember struct {
	c   *conn
	tok *contentToken
}

// tokenKey names the notifyOnDisconnect timer of one user in one token
// channel; anonymous users (uid 0) are told apart by auth token.
type tokenKey struct {
	channel   string
	uid       int64
	authToken string
}

type graceTimer struct {
	t stopper
}

func keyOf(name string, c *conn) tokenKey {
	k := tokenKey{channel: name, uid: c.uid}
	if c.uid == 0 {
		k.authToken = c.auth.token
	}
	return k
}

// SetContentToken stores a one-time token for a token channel (content/token).
// body is Drupal's whole object; it must have truthy channel and token.
func (b *Bridge) SetContentToken(body json.RawMessage) error {
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
	b.mu.Lock()
	defer b.mu.Unlock()
	tc := b.tokenChannels[name]
	if tc == nil {
		tc = &tokenChannel{tokens: make(map[string]*contentToken), sockets: make(map[string]*tokenMember), room: tokenPrefix + name}
		b.tokenChannels[name] = tc
	}
	// body is a slice of the request's read buffer; the token is kept until
	// redeemed (then by its sockets) or swept: keep an exact copy.
	tc.tokens[token] = &contentToken{body: bytes.Clone(trimJSON(body)), notify: truthy(m["notifyOnDisconnect"]), created: b.clock.Now()}
	return nil
}

// redeemTokenLocked joins an authenticated socket to a token channel if tok is
// one of its unused tokens, consuming it.
func (b *Bridge) redeemTokenLocked(c *conn, name, tok string) *contentToken {
	tc := b.tokenChannels[name]
	if tc == nil {
		return nil
	}
	t := tc.tokens[tok]
	if t == nil {
		return nil
	}
	delete(tc.tokens, tok)
	tc.sockets[c.id()] = &tokenMember{c: c, tok: t}
	c.rooms.add(tc.room, 0)
	c.s.Join(tc.room)
	return t
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
	var t *contentToken
	if c != nil && c.s == s && c.state == stateAuthenticated {
		t = b.redeemTokenLocked(c, name, tok)
	}
	b.mu.Unlock()
	if t == nil {
		b.logDebug("drupal: join-token-channel refused", slog.String("sid", s.ID()), slog.String("channel", name))
		return
	}
	b.emitToRoom(tokenPrefix+name, "", json.RawMessage(`{"callback":"clientJoinedTokenChannel","data":`+string(t.body)+`}`))
}

// leaveTokenChannelsLocked takes a leaving socket out of its token channels and
// starts the notifyOnDisconnect timers.
func (b *Bridge) leaveTokenChannelsLocked(c *conn) {
	for name := range c.rooms.names(tokenPrefix) {
		tc := b.tokenChannels[name]
		if tc == nil {
			continue
		}
		m := tc.sockets[c.id()]
		delete(tc.sockets, c.id())
		if m == nil || !m.tok.notify || b.closed {
			continue
		}
		k := keyOf(name, c)
		if old := b.tokenTimers[k]; old != nil {
			old.t.Stop()
		}
		gt := &graceTimer{}
		b.tokenTimers[k] = gt
		gt.t = b.clock.AfterFunc(tokenLeaveGrace, func() { b.tokenLeaveCheck(k, gt) })
	}
}

// tokenLeaveCheck ends a notifyOnDisconnect grace period: if the user has no
// socket left in the channel, the channel is told it left.
func (b *Bridge) tokenLeaveCheck(k tokenKey, gt *graceTimer) {
	b.mu.Lock()
	if b.closed || b.tokenTimers[k] != gt {
		b.mu.Unlock()
		return
	}
	delete(b.tokenTimers, k)
	tc := b.tokenChannels[k.channel]
	if tc == nil {
		b.mu.Unlock()
		return
	}
	for _, m := range tc.sockets {
		if keyOf(k.channel, m.c) == k {
			b.mu.Unlock()
			return
		}
	}
	b.mu.Unlock()
	msg := `{"channel":` + jsonQuote(k.channel) + `,"contentChannelNotification":true,"data":{"uid":` + strconv.FormatInt(k.uid, 10) + `,"type":"disconnect"}}`
	b.emitToRoom(tokenPrefix+k.channel, "", json.RawMessage(msg))
}

// PublishToContentChannel sends msg to the sockets of the token channel named
// by its channel field, except its clientSocketId (content/token/message). It
// reports false when there is no such token channel.
func (b *Bridge) PublishToContentChannel(msg json.RawMessage) (sent int, ok bool) {
	fs, err := objectFields(msg)
	if err != nil {
		return 0, false
	}
	m := fieldMap(fs)
	name, _ := jsonString(m["channel"])
	except, _ := jsonString(m["clientSocketId"])
	b.mu.Lock()
	tc := b.tokenChannels[name]
	if tc != nil {
		sent = len(tc.sockets)
		if _, in := tc.sockets[except]; in {
			sent--
		}
	}
	b.mu.Unlock()
	if tc == nil || name == "" {
		return 0, false
	}
	if sent > 0 {
		b.emitToRoom(tokenPrefix+name, except, msg)
	}
	return sent, true
}

// ContentChannelUsers lists who is in a token channel (content/token/users):
// the uids of its users and the auth tokens of its anonymous sockets, each once
// and sorted.
func (b *Bridge) ContentChannelUsers(name string) (uids []int64, authTokens []string) {
	uids, authTokens = []int64{}, []string{}
	b.mu.Lock()
	defer b.mu.Unlock()
	tc := b.tokenChannels[name]
	if tc == nil {
		return uids, authTokens
	}
	for _, m := range tc.sockets {
		if m.c.uid != 0 {
			if !slices.Contains(uids, m.c.uid) {
				uids = append(uids, m.c.uid)
			}
		} else if !slices.Contains(authTokens, m.c.auth.token) {
			authTokens = append(authTokens, m.c.auth.token)
		}
	}
	slices.Sort(uids)
	slices.Sort(authTokens)
	return uids, authTokens
}

// contentTokensJSON is the token channel table health/check shows:
// {channel: {"tokens": {token: body}, "sockets": {socket id: body}}}.
func (b *Bridge) contentTokensJSON() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	var buf bytes.Buffer
	buf.WriteByte('{')
	names := sortedKeys(b.tokenChannels)
	for i, name := range names {
		tc := b.tokenChannels[name]
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(jsonQuote(name) + `:{"tokens":{`)
		for j, tok := range sortedKeys(tc.tokens) {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(jsonQuote(tok) + ":")
			buf.Write(tc.tokens[tok].body)
		}
		buf.WriteString(`},"sockets":{`)
		for j, id := range sortedKeys(tc.sockets) {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(jsonQuote(id) + ":")
			buf.Write(tc.sockets[id].tok.body)
		}
		buf.WriteString("}}")
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sweepTokensLocked drops tokens nobody redeemed within the auth cache TTL
// (drupal-node.js kept them forever: every page view that never connected
// leaked one), then token channels left with neither tokens nor sockets.
func (b *Bridge) sweepTokensLocked(now time.Time) {
	ttl := time.Duration(b.cfg.AuthCacheTTL)
	for name, tc := range b.tokenChannels {
		for tok, t := range tc.tokens {
			if now.Sub(t.created) >= ttl {
				delete(tc.tokens, tok)
			}
		}
		if len(tc.tokens) == 0 && len(tc.sockets) == 0 {
			delete(b.tokenChannels, name)
		}
	}
}
