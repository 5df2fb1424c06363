package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketd/socketd/drupal/store"
)

// AddContentToken implements store.ContentTokens.
func (s *Store) AddContentToken(ctx context.Context, t store.ContentToken, ttl time.Duration) error {
	if !json.Valid(t.Body) {
		return errors.New("redisstore: content token body is not JSON")
	}
	return s.call(ctx, addContentTokenScript, t.Channel, t.Token, encodeToken(t.Notify, t.Body), ttl.Milliseconds(), s.nowArg()).Err()
}

// RedeemContentToken implements store.ContentTokens: the token is consumed
// atomically, so it is redeemed once whichever node its page reaches.
func (s *Store) RedeemContentToken(ctx context.Context, channel, token string, m store.Member) (*store.ContentToken, error) {
	v, err := s.call(ctx, redeemScript, channel, token, m.SocketID, memberHead(s.node, m.UID, m.AuthToken), s.node, s.nowArg()).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tv, err := decodeToken(v)
	if err != nil {
		return nil, err
	}
	return &store.ContentToken{Channel: channel, Token: token, Body: tv.Body, Notify: tv.Notify}, nil
}

// LeaveContentChannel implements store.ContentTokens.
func (s *Store) LeaveContentChannel(ctx context.Context, channel, socketID string) (bool, error) {
	v, err := s.call(ctx, leaveContentScript, channel, socketID).Text()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := decodeMember(v)
	if err != nil {
		return false, err
	}
	return m.Token.Notify, nil
}

// members reads the members of a content channel; malformed ones are logged
// and skipped.
func (s *Store) members(ctx context.Context, channel string) ([]memberValue, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	vals, err := s.rdb.HVals(ctx, s.key("ct", channel, "members")).Result()
	s.check(ctx, err)
	if err != nil {
		return nil, err
	}
	out := make([]memberValue, 0, len(vals))
	for _, v := range vals {
		m, err := decodeMember(v)
		if err != nil {
			s.log.Warn("redisstore: skipping a malformed content channel member", slog.String("channel", channel), slog.String("error", err.Error()))
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// ContentLeaveDue implements store.ContentTokens: the check and the record's
// consumption are one script, so of two nodes whose grace timers end for the
// same user only the one with the user's latest leave answers true.
func (s *Store) ContentLeaveDue(ctx context.Context, channel string, uid int64, authToken, socketID string) (bool, error) {
	user := "u:" + strconv.FormatInt(uid, 10)
	if uid == 0 {
		user = "t:" + authToken
	}
	n, err := s.call(ctx, contentLeaveDueScript, channel, user, socketID, uid, authToken).Int64()
	return n == 1, err
}

// ContentChannelExists implements store.ContentTokens.
func (s *Store) ContentChannelExists(ctx context.Context, channel string) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	ok, err := s.rdb.SIsMember(ctx, s.key("ct-channels"), channel).Result()
	s.check(ctx, err)
	return ok, err
}

// ContentChannelUsers implements store.ContentTokens.
func (s *Store) ContentChannelUsers(ctx context.Context, channel string) ([]int64, []string, error) {
	ms, err := s.members(ctx, channel)
	if err != nil {
		return nil, nil, err
	}
	uids, tokens := []int64{}, []string{}
	for _, m := range ms {
		if m.UID != 0 {
			if !slices.Contains(uids, m.UID) {
				uids = append(uids, m.UID)
			}
		} else if !slices.Contains(tokens, m.AuthToken) {
			tokens = append(tokens, m.AuthToken)
		}
	}
	slices.Sort(uids)
	slices.Sort(tokens)
	return uids, tokens, nil
}

// ContentChannels implements store.ContentTokens.
func (s *Store) ContentChannels(ctx context.Context) ([]store.ContentChannel, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	names, err := s.rdb.SMembers(ctx, s.key("ct-channels")).Result()
	s.check(ctx, err)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	tokCmds := make([]*redis.MapStringStringCmd, len(names))
	memCmds := make([]*redis.MapStringStringCmd, len(names))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range names {
			tokCmds[i] = p.HGetAll(ctx, s.key("ct", name, "tokens"))
			memCmds[i] = p.HGetAll(ctx, s.key("ct", name, "members"))
		}
		return nil
	})
	s.check(ctx, err)
	if err != nil {
		return nil, err
	}
	out := make([]store.ContentChannel, 0, len(names))
	for i, name := range names {
		cc := store.ContentChannel{Name: name, Tokens: map[string]json.RawMessage{}, Sockets: map[string]json.RawMessage{}}
		for tok, v := range tokCmds[i].Val() {
			if tv, err := decodeToken(v); err == nil {
				cc.Tokens[tok] = tv.Body
			}
		}
		for sid, v := range memCmds[i].Val() {
			if m, err := decodeMember(v); err == nil {
				cc.Sockets[sid] = m.Token.Body
			}
		}
		out = append(out, cc)
	}
	return out, nil
}
