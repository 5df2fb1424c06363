package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/store"
)

// CachedAuth implements store.AuthCache.
func (s *Store) CachedAuth(ctx context.Context, token string) (*store.Auth, error) {
	v, err := s.call(ctx, cachedAuthScript, token, s.nowArg()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeAuth(token, v)
}

// decodeAuth reads a cached entry: {uid, reply}.
func decodeAuth(token string, v []string) (*store.Auth, error) {
	if len(v) != 2 {
		return nil, fmt.Errorf("%w: auth entry", errBadValue)
	}
	uid, err := decodeUID(v[0])
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(v[1])) {
		return nil, fmt.Errorf("%w: auth reply", errBadValue)
	}
	return &store.Auth{Token: token, UID: uid, Reply: json.RawMessage(v[1])}, nil
}

// CacheAuth implements store.AuthCache.
func (s *Store) CacheAuth(ctx context.Context, a *store.Auth, ttl time.Duration) error {
	return s.call(ctx, cacheAuthScript, a.Token, a.UID, []byte(a.Reply), ttl.Milliseconds(), s.nowArg()).Err()
}

// ForgetUser implements store.AuthCache: every node's next connection of the
// user asks Drupal. When Redis cannot be reached, the user is forgotten when
// it can (see forgets).
func (s *Store) ForgetUser(ctx context.Context, uid int64) error {
	err := s.call(ctx, forgetUserScript, uid).Err()
	if err != nil {
		s.forgetLater(func(f *forgets) { f.users[uid] = struct{}{} })
	}
	return err
}

// ForgetToken implements store.AuthCache; as ForgetUser when Redis cannot be
// reached.
func (s *Store) ForgetToken(ctx context.Context, token string) (bool, error) {
	n, err := s.call(ctx, forgetTokenScript, token, s.nowArg()).Int64()
	if err != nil {
		s.forgetLater(func(f *forgets) { f.tokens[token] = struct{}{} })
	}
	return n == 1, err
}

// forgets are the kicks and logouts Redis did not hear (it was away): the
// cached authentications they drop are dropped when Redis answers again,
// before this node serves from the cache, so that a kicked user's token does
// not authenticate from a stale entry for the rest of authCacheTTL. Past
// maxPendingForgets of a kind, the whole cache is dropped instead: it fills
// again from Drupal.
type forgets struct {
	users  map[int64]struct{}
	tokens map[string]struct{}
	all    bool
}

// maxPendingForgets bounds each kind of pending forget.
const maxPendingForgets = 10_000

// forgetLater records a forget (add), or that the whole cache is to be
// dropped once a kind is at its bound.
func (s *Store) forgetLater(add func(*forgets)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLaterLocked(add)
}

func (s *Store) forgetLaterLocked(add func(*forgets)) {
	f := &s.pending
	switch {
	case f.all:
	case len(f.users) >= maxPendingForgets || len(f.tokens) >= maxPendingForgets:
		*f = forgets{all: true}
	default:
		if f.users == nil {
			f.users, f.tokens = make(map[int64]struct{}), make(map[string]struct{})
		}
		add(f)
	}
}

// replayForgets applies the pending forgets; it runs when Redis answers
// again, before calls are let through.
func (s *Store) replayForgets(ctx context.Context) error {
	s.mu.Lock()
	f := s.pending
	s.pending = forgets{}
	s.mu.Unlock()
	if !f.all && len(f.users) == 0 && len(f.tokens) == 0 {
		return nil
	}
	err := s.applyForgets(ctx, f)
	if err != nil {
		// Kept for the next attempt, with any recorded meanwhile.
		s.mu.Lock()
		if f.all {
			s.pending = forgets{all: true}
		} else {
			for uid := range f.users {
				s.forgetLaterLocked(func(p *forgets) { p.users[uid] = struct{}{} })
			}
			for tok := range f.tokens {
				s.forgetLaterLocked(func(p *forgets) { p.tokens[tok] = struct{}{} })
			}
		}
		s.mu.Unlock()
		return err
	}
	s.log.Info("redisstore: cached authentications of kicks and logouts made while Redis was away dropped",
		slog.Int("users", len(f.users)), slog.Int("tokens", len(f.tokens)), slog.Bool("whole_cache", f.all))
	return nil
}

func (s *Store) applyForgets(ctx context.Context, f forgets) error {
	if f.all {
		return forgetAllScript.Run(ctx, s.rdb, s.keys).Err()
	}
	if err := forgetUserScript.Load(ctx, s.rdb).Err(); err != nil {
		return err
	}
	if err := forgetTokenScript.Load(ctx, s.rdb).Err(); err != nil {
		return err
	}
	pipe := s.rdb.Pipeline()
	for uid := range f.users {
		forgetUserScript.EvalSha(ctx, pipe, s.keys, uid)
	}
	for tok := range f.tokens {
		forgetTokenScript.EvalSha(ctx, pipe, s.keys, tok, s.nowArg())
	}
	_, err := pipe.Exec(ctx)
	return err
}

// EditUserAuths implements store.AuthCache. Each entry is read, edited here,
// and written back only if no one replaced it meanwhile (then that edit is
// not applied to the newer reply: Drupal's next call or authentication
// brings the truth).
func (s *Store) EditUserAuths(ctx context.Context, uid int64, edit func(*store.Auth) *store.Auth) error {
	if err := s.ready(); err != nil {
		return err
	}
	tokens, err := s.rdb.SMembers(ctx, s.key("auth-uid", fmt.Sprint(uid))).Result()
	s.check(ctx, err)
	if err != nil {
		return err
	}
	for _, tok := range tokens {
		if err := s.EditTokenAuth(ctx, tok, func(a *store.Auth) *store.Auth {
			if a.UID != uid {
				return nil
			}
			return edit(a)
		}); err != nil {
			return err
		}
	}
	return nil
}

// EditTokenAuth implements store.AuthCache.
func (s *Store) EditTokenAuth(ctx context.Context, token string, edit func(*store.Auth) *store.Auth) error {
	a, err := s.CachedAuth(ctx, token)
	if err != nil || a == nil {
		return err
	}
	b := edit(a)
	if b == nil {
		return nil
	}
	return s.call(ctx, replaceReplyScript, token, []byte(a.Reply), []byte(b.Reply)).Err()
}

// AddChannel implements store.Channels.
func (s *Store) AddChannel(ctx context.Context, name string, clientWritable bool) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	added, err := s.rdb.HSetNX(ctx, s.key("channels"), name, boolArg(clientWritable)).Result()
	s.check(ctx, err)
	return added, err
}

// EnsureChannels implements store.Channels.
func (s *Store) EnsureChannels(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := s.ready(); err != nil {
		return err
	}
	k := s.key("channels")
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, name := range names {
			p.HSetNX(ctx, k, name, "0")
		}
		return nil
	})
	s.check(ctx, err)
	return err
}

// Channel implements store.Channels.
func (s *Store) Channel(ctx context.Context, name string) (exists, clientWritable bool, err error) {
	if err := s.ready(); err != nil {
		return false, false, err
	}
	v, err := s.rdb.HGet(ctx, s.key("channels"), name).Result()
	if errors.Is(err, redis.Nil) {
		return false, false, nil
	}
	s.check(ctx, err)
	if err != nil {
		return false, false, err
	}
	return true, v == "1", nil
}

// RemoveChannel implements store.Channels.
func (s *Store) RemoveChannel(ctx context.Context, name string) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	n, err := s.rdb.HDel(ctx, s.key("channels"), name).Result()
	s.check(ctx, err)
	return n == 1, err
}
