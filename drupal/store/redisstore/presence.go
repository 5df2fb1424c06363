package redisstore

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/store"
)

// Connected implements store.Presence. The socket is counted in this node's
// memory first, so an error (Redis away) loses nothing: the node announces it
// when Redis answers again.
func (s *Store) Connected(ctx context.Context, a *store.Auth, list []int64) (bool, error) {
	s.announce.RLock()
	defer s.announce.RUnlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, store.ErrClosed
	}
	s.sockets++
	s.tokens[a.Token]++
	u := s.users[a.UID]
	if u == nil {
		u = &localUser{list: list}
		s.users[a.UID] = u
	}
	u.sockets++
	s.mu.Unlock()

	res, err := s.call(ctx, connectedScript, s.node, a.UID, a.Token, encodeList(list)).Int64()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.dirty = true
		return false, err
	case res < 0: // taken for dead: the tick announces this node again
		s.dirty = true
		return false, nil
	}
	if a.UID != 0 {
		u.known = true
		if res == 1 {
			u.list = list
		}
	}
	return res == 1, nil
}

// Disconnected implements store.Presence.
func (s *Store) Disconnected(ctx context.Context, a *store.Auth) error {
	s.announce.RLock()
	defer s.announce.RUnlock()
	s.mu.Lock()
	s.sockets--
	if s.tokens[a.Token]--; s.tokens[a.Token] <= 0 {
		delete(s.tokens, a.Token)
	}
	if u := s.users[a.UID]; u != nil {
		u.sockets--
	}
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return store.ErrClosed
	}
	wait, err := s.call(ctx, disconnectedScript, s.node, a.UID, a.Token, s.nowArg(), s.grace.Milliseconds()).Int64()
	heard := err == nil && wait != -2
	s.mu.Lock()
	if !heard {
		s.dirty = true
	}
	// A user left with no socket here is forgotten once Redis heard it
	// left; until then, if it was known online, the next announcement takes
	// it offline.
	if u := s.users[a.UID]; u != nil && u.sockets <= 0 && (heard || !u.known) {
		delete(s.users, a.UID)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if wait >= 0 {
		s.armSweep(time.Duration(wait) * time.Millisecond)
	}
	return nil
}

// SetPresenceList implements store.Presence.
func (s *Store) SetPresenceList(ctx context.Context, uid int64, list []int64) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	// HSETXX would do; Redis 7.0 has none for hashes.
	n, err := s.call(ctx, setListScript, uid, encodeList(list)).Int64()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

var setListScript = script(`
if redis.call('HEXISTS', P .. ':online', ARGV[1]) == 0 then return 0 end
redis.call('HSET', P .. ':online', ARGV[1], ARGV[2])
return 1
`)

// UserSessions implements store.Presence: the sockets of uid on every live
// node.
func (s *Store) UserSessions(ctx context.Context, uid int64) (int, error) {
	n, err := s.call(ctx, sessionsScript, "uids", uid).Int64()
	return int(n), err
}

// TokenSessions implements store.Presence.
func (s *Store) TokenSessions(ctx context.Context, token string) (int, error) {
	n, err := s.call(ctx, sessionsScript, "tokens", token).Int64()
	return int(n), err
}

// announceAll writes this node's counts to Redis again (after an outage, or
// after the other nodes took it for dead), then tells the handler of the
// users it brought online. lost: Redis lost its data, and the users this node
// knew online are restored silently.
func (s *Store) announceAll(ctx context.Context, epoch string, lost bool) error {
	online, lists, err := s.announceLocked(ctx, epoch, lost)
	if err != nil {
		return err
	}
	if len(online) > 0 {
		s.log.Info("redisstore: users who came online while Redis was away announced", slog.Int("users", len(online)))
	}
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	if h != nil {
		for i, uid := range online {
			h.UserOnline(uid, lists[i])
		}
	}
	return nil
}

// announceLocked does announceAll's writes with presence calls held off.
func (s *Store) announceLocked(ctx context.Context, epoch string, lost bool) (online []int64, lists [][]int64, err error) {
	s.announce.Lock()
	defer s.announce.Unlock()
	s.mu.Lock()
	users := make(map[int64]localUser, len(s.users))
	for uid, u := range s.users {
		users[uid] = *u
	}
	tokens := maps.Clone(s.tokens)
	sockets := s.sockets
	s.mu.Unlock()

	// The users Redis counts on this node that it no longer has (they left
	// while Redis was away) are announced with no socket.
	uk := s.key("node", s.node, "uids")
	stale, err := s.rdb.HKeys(ctx, uk).Result()
	if err != nil {
		return nil, nil, err
	}
	for _, us := range stale {
		uid, err := decodeUID(us)
		if err != nil {
			s.rdb.HDel(ctx, uk, us)
			continue
		}
		if _, ok := users[uid]; !ok {
			users[uid] = localUser{}
		}
	}
	// Redis may have restarted and forgotten the scripts: load the one the
	// pipeline runs by its hash.
	if err := reconcileUserScript.Load(ctx, s.rdb).Err(); err != nil {
		return nil, nil, err
	}
	now, grace, settle := s.nowArg(), s.grace.Milliseconds(), s.settle.Milliseconds()
	cmds := make(map[int64]*redis.Cmd, len(users))
	pipe := s.rdb.Pipeline()
	for uid, u := range users {
		cmds[uid] = reconcileUserScript.EvalSha(ctx, pipe, s.keys, s.node, uid, u.sockets, encodeList(u.list), boolArg(u.known), boolArg(lost), now, grace, settle)
	}
	tk := s.key("node", s.node, "tokens")
	pipe.Del(ctx, tk)
	for tok, n := range tokens {
		pipe.HSet(ctx, tk, tok, n)
	}
	pipe.HSet(ctx, s.key("node-sockets"), s.node, sockets)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, err
	}
	for uid, cmd := range cmds {
		if n, _ := cmd.Int64(); n == 1 {
			online = append(online, uid)
			lists = append(lists, users[uid].list)
		}
	}
	s.mu.Lock()
	s.dirty = false
	s.epoch = epoch
	for uid, u := range s.users {
		if u.sockets <= 0 {
			delete(s.users, uid)
		} else if uid != 0 {
			u.known = true
		}
	}
	s.mu.Unlock()
	// The users this leaves with no socket are taken offline by a sweep.
	s.armSweep(min(s.grace, s.settle))
	return online, lists, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
