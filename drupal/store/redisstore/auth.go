package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// user asks Drupal.
func (s *Store) ForgetUser(ctx context.Context, uid int64) error {
	return s.call(ctx, forgetUserScript, uid).Err()
}

// ForgetToken implements store.AuthCache.
func (s *Store) ForgetToken(ctx context.Context, token string) (bool, error) {
	n, err := s.call(ctx, forgetTokenScript, token, s.nowArg()).Int64()
	return n == 1, err
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
