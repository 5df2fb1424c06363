package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Registry in one Redis hash: field = tag, value = lease end (Redis
// server time, ms) + id + URL. Every operation is one Lua script, so a lease
// is checked and taken atomically and measured by one clock, Redis's. Expired
// entries are deleted by whoever lists the members. Needs Redis 5 or later
// (scripts that write after reading TIME).
type Redis struct {
	client redis.Scripter
	key    string
}

var _ Registry = (*Redis)(nil)

// DefaultRedisKey is the hash NewRedis uses when given no key.
const DefaultRedisKey = "socketd#nodes"

// NewRedis returns a registry on client in the hash key ("" means
// DefaultRedisKey). Clusters that share a Redis server need distinct keys.
func NewRedis(client redis.Scripter, key string) *Redis {
	if key == "" {
		key = DefaultRedisKey
	}
	return &Redis{client: client, key: key}
}

// The clock of every script: Redis's TIME in milliseconds.
const redisNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// announceScript: KEYS[1] hash; ARGV tag, id, url, ttl ms. Returns 1, or 0 when
// another id holds the tag with a lease that has not ended.
var announceScript = redis.NewScript(redisNow + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local e, id = string.match(cur, '^(%d+) (%S+) ')
  if id ~= ARGV[2] and e and tonumber(e) > now then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + tonumber(ARGV[4])) .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return 1
`)

// withdrawScript: KEYS[1] hash; ARGV tag, id. Deletes the entry if it is id's.
var withdrawScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and string.match(cur, '^%d+ (%S+) ') == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// membersScript: KEYS[1] hash. Deletes ended leases and returns
// {tag, entry, tag, entry, ...} of the live ones. An entry it cannot read is
// returned as is: the Go side refuses it, the script does not judge it.
var membersScript = redis.NewScript(redisNow + `
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local e = tonumber(string.match(all[i + 1], '^(%d+) '))
  if e and e <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`)

// Announce implements Registry.
func (r *Redis) Announce(ctx context.Context, m Member, ttl time.Duration) error {
	if err := m.check(); err != nil {
		return err
	}
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	n, err := announceScript.Run(ctx, r.client, []string{r.key}, m.Tag, m.ID, m.URL, ms).Int()
	if err != nil {
		return fmt.Errorf("cluster: announce in redis: %w", err)
	}
	if n == 0 {
		return ErrTagTaken
	}
	return nil
}

// Withdraw implements Registry.
func (r *Redis) Withdraw(ctx context.Context, m Member) error {
	if err := withdrawScript.Run(ctx, r.client, []string{r.key}, m.Tag, m.ID).Err(); err != nil {
		return fmt.Errorf("cluster: withdraw from redis: %w", err)
	}
	return nil
}

// Members implements Registry. Entries that do not decode (written by
// something else, or damaged) are skipped, never trusted.
func (r *Redis) Members(ctx context.Context) ([]Member, error) {
	flat, err := membersScript.Run(ctx, r.client, []string{r.key}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("cluster: list members in redis: %w", err)
	}
	return decodeMembers(flat), nil
}

// decodeMembers reads the script's {tag, entry, ...} reply.
func decodeMembers(flat []string) []Member {
	out := make([]Member, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		m, _, err := decodeEntry(flat[i], flat[i+1])
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	sortMembers(out)
	return out
}
