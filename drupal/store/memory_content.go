package store

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AddContentToken implements ContentTokens.
func (m *Memory) AddContentToken(_ context.Context, t ContentToken, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := m.contents[t.Channel]
	if cc == nil {
		cc = &contentChannel{tokens: make(map[string]*contentToken), members: make(map[string]*contentMember)}
		m.contents[t.Channel] = cc
	}
	cc.tokens[t.Token] = &contentToken{t: t, expires: m.since() + ttl}
	return nil
}

// RedeemContentToken implements ContentTokens.
func (m *Memory) RedeemContentToken(_ context.Context, channel, token string, mem Member) (*ContentToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := m.contents[channel]
	if cc == nil {
		return nil, nil
	}
	ct := cc.tokens[token]
	if ct == nil || m.since() >= ct.expires {
		return nil, nil
	}
	delete(cc.tokens, token)
	cc.members[mem.SocketID] = &contentMember{m: mem, tok: &ct.t}
	return &ct.t, nil
}

// LeaveContentChannel implements ContentTokens.
func (m *Memory) LeaveContentChannel(_ context.Context, channel, socketID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := m.contents[channel]
	if cc == nil {
		return false, nil
	}
	cm := cc.members[socketID]
	if cm == nil {
		return false, nil
	}
	delete(cc.members, socketID)
	if cm.tok.Notify {
		if cc.left == nil {
			cc.left = make(map[string]string)
		}
		cc.left[contentUser(cm.m.UID, cm.m.AuthToken)] = socketID
	}
	return cm.tok.Notify, nil
}

// ContentLeaveDue implements ContentTokens.
func (m *Memory) ContentLeaveDue(_ context.Context, channel string, uid int64, authToken, socketID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := m.contents[channel]
	if cc == nil {
		return false, nil
	}
	user := contentUser(uid, authToken)
	if cc.left[user] != socketID {
		return false, nil
	}
	delete(cc.left, user)
	for _, cm := range cc.members {
		if cm.m.UID == uid && (uid != 0 || cm.m.AuthToken == authToken) {
			return false, nil
		}
	}
	return true, nil
}

// contentUser names a member's user: its uid, or its auth token when
// anonymous (uid 0), as drupal-node.js's notifyOnDisconnect check tells them
// apart.
func contentUser(uid int64, authToken string) string {
	if uid == 0 {
		return "t:" + authToken
	}
	return "u:" + strconv.FormatInt(uid, 10)
}

// ContentChannelExists implements ContentTokens.
func (m *Memory) ContentChannelExists(_ context.Context, channel string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.contents[channel] != nil, nil
}

// ContentChannelUsers implements ContentTokens.
func (m *Memory) ContentChannelUsers(_ context.Context, channel string) ([]int64, []string, error) {
	uids, authTokens := []int64{}, []string{}
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := m.contents[channel]
	if cc == nil {
		return uids, authTokens, nil
	}
	for _, cm := range cc.members {
		if cm.m.UID != 0 {
			if !slices.Contains(uids, cm.m.UID) {
				uids = append(uids, cm.m.UID)
			}
		} else if !slices.Contains(authTokens, cm.m.AuthToken) {
			authTokens = append(authTokens, cm.m.AuthToken)
		}
	}
	slices.Sort(uids)
	slices.Sort(authTokens)
	return uids, authTokens, nil
}

// ContentChannels implements ContentTokens.
func (m *Memory) ContentChannels(context.Context) ([]ContentChannel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ContentChannel, 0, len(m.contents))
	for name, cc := range m.contents {
		c := ContentChannel{Name: name, Tokens: make(map[string]json.RawMessage, len(cc.tokens)), Sockets: make(map[string]json.RawMessage, len(cc.members))}
		for tok, ct := range cc.tokens {
			c.Tokens[tok] = ct.t.Body
		}
		for id, cm := range cc.members {
			c.Sockets[id] = cm.tok.Body
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ContentChannel) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// sweepContentLocked drops tokens nobody redeemed in time (drupal-node.js kept
// them forever: every page view that never connected leaked one), then
// channels left with neither tokens nor members.
func (m *Memory) sweepContentLocked(now time.Duration) {
	for name, cc := range m.contents {
		for tok, ct := range cc.tokens {
			if now >= ct.expires {
				delete(cc.tokens, tok)
			}
		}
		if len(cc.tokens) == 0 && len(cc.members) == 0 {
			delete(m.contents, name)
		}
	}
}
