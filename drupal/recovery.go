package drupal

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/socketd/socketd/server/socketio"
)

// Connection-state recovery (the connectionStateRecovery key, socket.io-client
// 4.6+ pages: clientBundle "4"): a socket that lost its connection comes back
// with its id and its rooms, and gets the messages published to them while it
// was away. The rooms are the only record of its Drupal audiences, and the
// bridge forgot the socket when it left (the store counted it out of its
// user's presence and its content token channels). So:
//
//   - Before the rooms are restored and the missed messages sent (onRecover),
//     the socket's authentication must still hold: the auth token of its token
//     room must still be in the auth cache, for the same user. A user kicked
//     or logged out meanwhile (the cache dropped the token), or an expired
//     entry, gets a new session instead, with nothing replayed: the page
//     authenticates again as after any reconnection. The rooms restored are
//     those the cached authentication gives now (a channel the user was
//     removed from meanwhile is not), plus the socket's non-Drupal rooms;
//     content token channels are not restored (their one-time tokens were
//     spent, and the store counted the socket out of them).
//   - When the socket is back (onConnection), the bridge authenticates it again
//     from the cache, as if the page had sent authenticate with its token:
//     presence counts it again (within the grace period the user never went
//     offline), it joins the channels the reply lists, the page is pushed
//     clientAuthenticated, extensions see OnAuthenticate. The page's own
//     authenticate, which the Drupal client sends on every connect, then finds
//     it authenticated and gets the answer again.

// errRecoveryRefused: a recovered socket's authentication no longer holds.
var errRecoveryRefused = errors.New("drupal: the socket's authentication no longer holds")

// onRecover checks a socket being recovered and chooses its rooms (see
// above). It runs on the client's reading side and may call the store.
func (b *Bridge) onRecover(s *socketio.Socket, rooms []string) ([]string, error) {
	token := ""
	for _, r := range rooms {
		if t, ok := strings.CutPrefix(r, TokenRoomPrefix); ok {
			token = t
			break
		}
	}
	keep := func(r string) bool { return !drupalRoom(r) }
	if token != "" {
		a, err := b.store.CachedAuth(b.ctx, token)
		if err != nil {
			b.storeFailed("cached auth", err)
			return nil, err
		}
		if a == nil || !slices.Contains(rooms, UserRoom(a.UID)) {
			b.logDebug("drupal: recovery refused: the authentication is gone", slog.String("sid", s.ID()))
			return nil, errRecoveryRefused
		}
		r, err := ParseAuthReply(a.Reply)
		if err != nil {
			return nil, errRecoveryRefused
		}
		valid := map[string]bool{RoomAuthenticated: true, UserRoom(a.UID): true, TokenRoom(token): true}
		for _, name := range r.Channels {
			valid[ChannelRoom(name)] = true
		}
		keep = func(r string) bool { return valid[r] || !drupalRoom(r) }
	}
	return slices.DeleteFunc(rooms, func(r string) bool { return !keep(r) }), nil
}

// drupalRoom reports whether r is one of the bridge's rooms (rooms.go).
func drupalRoom(r string) bool {
	for _, p := range []string{RoomAuthenticated, UserRoomPrefix, TokenRoomPrefix, ChannelRoomPrefix, ContentRoomPrefix} {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	return false
}

// resume authenticates a recovered socket again from its token room, as
// onAuthenticate does for a page's authenticate (without an ack to send).
func (b *Bridge) resume(c *conn) {
	token := ""
	for _, r := range c.s.Rooms() {
		if t, ok := strings.CutPrefix(r, TokenRoomPrefix); ok {
			token = t
			break
		}
	}
	if token == "" {
		return
	}
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if b.backend.timeout > 0 {
		ctx, cancel = context.WithTimeout(b.ctx, b.backend.timeout)
	} else {
		ctx, cancel = context.WithCancel(b.ctx)
	}
	b.mu.Lock()
	if c.state != statePending || b.sockets[c.id()] != c || b.closed {
		b.mu.Unlock()
		cancel()
		return
	}
	c.state = stateAuthenticating
	if c.cancel != nil {
		c.cancel() // the handshake deadline, if armed: it is authenticating
	}
	c.cancel = cancel
	b.mu.Unlock()
	run := func(onBackground bool) {
		if b.authenticateCached(ctx, cancel, c, token, TokenRoom(token), nil, nil, onBackground) {
			return
		}
		// Gone from the cache since onRecover looked: the socket is a
		// fresh one, out of the Drupal rooms; the page authenticates again.
		cancel()
		b.mu.Lock()
		if c.state == stateAuthenticating {
			c.state, c.cancel = statePending, nil
		}
		b.mu.Unlock()
		for _, r := range c.s.Rooms() {
			if drupalRoom(r) {
				c.s.Leave(r)
			}
		}
	}
	if b.inline {
		run(false)
		return
	}
	if !b.goBackground(func(context.Context) { run(true) }) {
		cancel()
	}
}
