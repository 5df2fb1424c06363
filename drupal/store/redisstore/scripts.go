package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts of the store. Each runs atomically in Redis, so a decision
// (a user comes online, goes offline, a token is redeemed) is taken once for
// the whole cluster. KEYS[1] is the key prefix, a hash tag ("{socketd:drupal}"):
// every key the scripts build from it lives in one slot, so the store also
// works on Redis Cluster. Times are milliseconds; a negative "now" argument
// means Redis's own clock (TIME), so the nodes' clocks need not agree.
//
// Keys (P is the prefix):
//
//	P:auth:<token>       hash uid, reply, exp     a cached authentication
//	P:auth-uid:<uid>     set of tokens            the cached tokens of a user
//	P:auths              zset token -> exp        counts live entries
//	P:channels           hash name -> 0|1         the channel registry (client writable)
//	P:nodes              zset node -> since       the nodes whose counts are here
//	P:node:<id>:uids     hash uid -> sockets      a node's authenticated sockets by user
//	P:node:<id>:tokens   hash token -> sockets    ... by auth token
//	P:node:<id>:content  set of channels          content channels it has members in
//	P:node-sockets       hash node -> sockets
//	P:online             hash uid -> list         online users and their presence lists
//	P:grace              zset uid -> deadline     users with no socket, going offline
//	P:epoch              string                   set once; a new one means Redis lost its data
//	P:ct-channels        set of names             content token channels
//	P:ct:<name>:tokens   hash token -> {"f":notify,"b":body}
//	P:ct:<name>:expiry   zset token -> exp
//	P:ct:<name>:members  hash socket id -> {"n":node,"u":uid,"t":authToken,"tok":{...}}

// prelude is shared by the scripts: the prefix, the clock and a user's
// sockets on every live node.
const prelude = `
local P = KEYS[1]
local function now_ms(a)
  local n = tonumber(a)
  if n < 0 then
    local t = redis.call('TIME')
    n = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return n
end
local function user_total(uid)
  local total = 0
  for _, n in ipairs(redis.call('ZRANGE', P .. ':nodes', 0, -1)) do
    total = total + (tonumber(redis.call('HGET', P .. ':node:' .. n .. ':uids', uid)) or 0)
  end
  return total
end
local function dec(key, field)
  if redis.call('HINCRBY', key, field, -1) <= 0 then
    redis.call('HDEL', key, field)
  end
end
-- drop_node forgets a node's sockets and content memberships; its users with
-- no socket left elsewhere go offline at deadline.
local function drop_node(n, deadline)
  local uk = P .. ':node:' .. n .. ':uids'
  local uids = redis.call('HKEYS', uk)
  redis.call('DEL', uk, P .. ':node:' .. n .. ':tokens')
  redis.call('HDEL', P .. ':node-sockets', n)
  redis.call('ZREM', P .. ':nodes', n)
  for _, uid in ipairs(uids) do
    if uid ~= '0' and user_total(uid) == 0 and redis.call('HEXISTS', P .. ':online', uid) == 1 then
      redis.call('ZADD', P .. ':grace', 'LT', deadline, uid)
    end
  end
  local ck = P .. ':node:' .. n .. ':content'
  for _, ch in ipairs(redis.call('SMEMBERS', ck)) do
    local mk = P .. ':ct:' .. ch .. ':members'
    local all = redis.call('HGETALL', mk)
    for i = 1, #all, 2 do
      local ok, m = pcall(cjson.decode, all[i + 1])
      if ok and type(m) == 'table' and m.n == n then
        redis.call('HDEL', mk, all[i])
      end
    end
  end
  redis.call('DEL', ck)
end
`

func script(body string) *redis.Script { return redis.NewScript(prelude + body) }

// register records this node in the store: ARGV node, now, epoch to set if
// there is none. The score is when it registered, kept while it stays (the
// table of live nodes, not the store, says whether it is alive). Returns {1
// if the node was not registered, the epoch}.
var registerScript = script(`
local added = redis.call('ZADD', P .. ':nodes', 'NX', now_ms(ARGV[2]), ARGV[1])
local e = redis.call('GET', P .. ':epoch')
if not e then
  redis.call('SET', P .. ':epoch', ARGV[3])
  e = ARGV[3]
end
return {added, e}
`)

// reap drops nodes the caller found missing from the table of live nodes,
// unless one registered (again) less than settle ago: ARGV now, settle, ids.
// Returns how many it dropped.
var reapScript = script(`
local now = now_ms(ARGV[1])
local reaped = 0
for i = 3, #ARGV do
  local since = redis.call('ZSCORE', P .. ':nodes', ARGV[i])
  if since and tonumber(since) <= now - tonumber(ARGV[2]) then
    drop_node(ARGV[i], now)
    reaped = reaped + 1
  end
end
return reaped
`)

// leave drops this node (it is closing): ARGV self, now, grace.
var leaveScript = script(`
drop_node(ARGV[1], now_ms(ARGV[2]) + tonumber(ARGV[3]))
return 0
`)

// connected counts a socket: ARGV node, uid, token, presence list. Returns 1
// when the user came online, 0 when not, -1 when this node is not registered
// (it was taken for dead: it must announce itself again).
var connectedScript = script(`
local node, uid = ARGV[1], ARGV[2]
redis.call('HINCRBY', P .. ':node:' .. node .. ':uids', uid, 1)
redis.call('HINCRBY', P .. ':node:' .. node .. ':tokens', ARGV[3], 1)
redis.call('HINCRBY', P .. ':node-sockets', node, 1)
if not redis.call('ZSCORE', P .. ':nodes', node) then return -1 end
if uid == '0' then return 0 end
redis.call('ZREM', P .. ':grace', uid)
if redis.call('HEXISTS', P .. ':online', uid) == 1 then return 0 end
redis.call('HSET', P .. ':online', uid, ARGV[4])
return 1
`)

// disconnected uncounts a socket: ARGV node, uid, token, now, grace. Returns
// the milliseconds until the user's grace period ends when its last socket
// anywhere left, -1 when not, -2 when this node is not registered.
var disconnectedScript = script(`
local node, uid = ARGV[1], ARGV[2]
dec(P .. ':node:' .. node .. ':uids', uid)
dec(P .. ':node:' .. node .. ':tokens', ARGV[3])
dec(P .. ':node-sockets', node)
if not redis.call('ZSCORE', P .. ':nodes', node) then return -2 end
if uid == '0' or user_total(uid) > 0 or redis.call('HEXISTS', P .. ':online', uid) == 0 then return -1 end
redis.call('ZADD', P .. ':grace', now_ms(ARGV[4]) + tonumber(ARGV[5]), uid)
return tonumber(ARGV[5])
`)

// sweep takes the users whose grace period ended with no socket back offline:
// ARGV now. Returns {ms until the next deadline or -1, uid, list, uid, list...}.
var sweepScript = script(`
local now = now_ms(ARGV[1])
local out = {-1}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', P .. ':grace', '-inf', now)) do
  redis.call('ZREM', P .. ':grace', uid)
  if user_total(uid) == 0 then
    local list = redis.call('HGET', P .. ':online', uid)
    if list then
      redis.call('HDEL', P .. ':online', uid)
      out[#out + 1] = uid
      out[#out + 1] = list
    end
  end
end
local nxt = redis.call('ZRANGE', P .. ':grace', 0, 0, 'WITHSCORES')
if nxt[2] then out[1] = math.max(0, tonumber(nxt[2]) - now) end
return out
`)

// reconcileUser announces this node's sockets of a user after an outage:
// ARGV node, uid, sockets, list, known (1: this node saw the user online
// before), lost (1: Redis lost its data), now, grace, settle. Returns 1 when
// the user comes online now (Drupal must be told), else 0.
var reconcileUserScript = script(`
local node, uid, c = ARGV[1], ARGV[2], tonumber(ARGV[3])
local uk = P .. ':node:' .. node .. ':uids'
if c > 0 then redis.call('HSET', uk, uid, c) else redis.call('HDEL', uk, uid) end
if uid == '0' then return 0 end
local now = now_ms(ARGV[7])
local silent = ARGV[5] == '1' and ARGV[6] == '1'
local online = redis.call('HEXISTS', P .. ':online', uid) == 1
if user_total(uid) > 0 then
  redis.call('ZREM', P .. ':grace', uid)
  if online then return 0 end
  redis.call('HSET', P .. ':online', uid, ARGV[4])
  if silent then return 0 end
  return 1
end
if online then
  redis.call('ZADD', P .. ':grace', 'NX', now + tonumber(ARGV[8]), uid)
elseif silent then
  -- Drupal was told it is online, and Redis forgot: it goes offline, once,
  -- after the other nodes have had the time to announce theirs.
  redis.call('HSET', P .. ':online', uid, ARGV[4])
  redis.call('ZADD', P .. ':grace', 'NX', now + tonumber(ARGV[9]), uid)
end
return 0
`)

// sessions sums a field of the nodes' uids or tokens hashes: ARGV kind, field.
var sessionsScript = script(`
local total = 0
for _, n in ipairs(redis.call('ZRANGE', P .. ':nodes', 0, -1)) do
  total = total + (tonumber(redis.call('HGET', P .. ':node:' .. n .. ':' .. ARGV[1], ARGV[2])) or 0)
end
return total
`)

// stats: ARGV now. Returns {cached auths, sockets, online users, content channels}.
var statsScript = script(`
local now = now_ms(ARGV[1])
local sockets = 0
for _, v in ipairs(redis.call('HVALS', P .. ':node-sockets')) do sockets = sockets + tonumber(v) end
return {redis.call('ZCOUNT', P .. ':auths', '(' .. now, '+inf'), sockets,
  redis.call('HLEN', P .. ':online'), redis.call('SCARD', P .. ':ct-channels')}
`)

// cacheAuth: ARGV token, uid, reply, ttl, now.
var cacheAuthScript = script(`
local tok, uid, ttl = ARGV[1], ARGV[2], tonumber(ARGV[4])
local now = now_ms(ARGV[5])
local k = P .. ':auth:' .. tok
local old = redis.call('HGET', k, 'uid')
if old and old ~= uid then redis.call('SREM', P .. ':auth-uid:' .. old, tok) end
redis.call('HSET', k, 'uid', uid, 'reply', ARGV[3], 'exp', now + ttl)
-- Redis's own expiry is a backstop for entries nobody reads again.
redis.call('PEXPIRE', k, ttl + 60000)
local uk = P .. ':auth-uid:' .. uid
redis.call('SADD', uk, tok)
if redis.call('PTTL', uk) < ttl + 60000 then redis.call('PEXPIRE', uk, ttl + 60000) end
redis.call('ZADD', P .. ':auths', now + ttl, tok)
return 0
`)

// cachedAuth: ARGV token, now. Returns {uid, reply} of a live entry, or nil
// (an expired one is dropped).
var cachedAuthScript = script(`
local tok = ARGV[1]
local k = P .. ':auth:' .. tok
local v = redis.call('HMGET', k, 'uid', 'reply', 'exp')
if not v[1] or not v[2] then return false end
if (tonumber(v[3]) or 0) <= now_ms(ARGV[2]) then
  redis.call('DEL', k)
  redis.call('ZREM', P .. ':auths', tok)
  redis.call('SREM', P .. ':auth-uid:' .. v[1], tok)
  return false
end
return {v[1], v[2]}
`)

// forgetToken: ARGV token, now. Returns 1 when a live entry was dropped.
var forgetTokenScript = script(`
local tok = ARGV[1]
local k = P .. ':auth:' .. tok
local v = redis.call('HMGET', k, 'uid', 'exp')
if not v[1] then return 0 end
redis.call('DEL', k)
redis.call('ZREM', P .. ':auths', tok)
redis.call('SREM', P .. ':auth-uid:' .. v[1], tok)
if (tonumber(v[2]) or 0) <= now_ms(ARGV[2]) then return 0 end
return 1
`)

// forgetUser: ARGV uid.
var forgetUserScript = script(`
local uk = P .. ':auth-uid:' .. ARGV[1]
for _, tok in ipairs(redis.call('SMEMBERS', uk)) do
  local k = P .. ':auth:' .. tok
  if redis.call('HGET', k, 'uid') == ARGV[1] then
    redis.call('DEL', k)
    redis.call('ZREM', P .. ':auths', tok)
  end
end
redis.call('DEL', uk)
return 0
`)

// forgetAll drops every cached authentication (more kicks and logouts were
// made while Redis was away than a node keeps). The per-user token sets are
// left to their expiry: they only name tokens, and forgetUser checks each.
var forgetAllScript = script(`
for _, tok in ipairs(redis.call('ZRANGE', P .. ':auths', 0, -1)) do
  redis.call('DEL', P .. ':auth:' .. tok)
end
redis.call('DEL', P .. ':auths')
return 0
`)

// replaceReply swaps a cached reply if it is still the one read: ARGV token,
// old reply, new reply. The entry keeps its expiry.
var replaceReplyScript = script(`
local k = P .. ':auth:' .. ARGV[1]
if redis.call('HGET', k, 'reply') ~= ARGV[2] then return 0 end
redis.call('HSET', k, 'reply', ARGV[3])
return 1
`)

// addContentToken: ARGV channel, token, value, ttl, now.
var addContentTokenScript = script(`
local ch, tok = ARGV[1], ARGV[2]
redis.call('SADD', P .. ':ct-channels', ch)
redis.call('HSET', P .. ':ct:' .. ch .. ':tokens', tok, ARGV[3])
redis.call('ZADD', P .. ':ct:' .. ch .. ':expiry', now_ms(ARGV[5]) + tonumber(ARGV[4]), tok)
return 0
`)

// redeem consumes a token and records the member: ARGV channel, token, socket
// id, member head (the member's JSON up to its token), node, now. Returns the
// token's value, or nil.
var redeemScript = script(`
local ch, tok = ARGV[1], ARGV[2]
local tk = P .. ':ct:' .. ch .. ':tokens'
local v = redis.call('HGET', tk, tok)
if not v then return false end
local xk = P .. ':ct:' .. ch .. ':expiry'
local exp = redis.call('ZSCORE', xk, tok)
redis.call('HDEL', tk, tok)
redis.call('ZREM', xk, tok)
if exp and tonumber(exp) <= now_ms(ARGV[6]) then return false end
redis.call('HSET', P .. ':ct:' .. ch .. ':members', ARGV[3], ARGV[4] .. v .. '}')
redis.call('SADD', P .. ':node:' .. ARGV[5] .. ':content', ch)
return v
`)

// leaveContent: ARGV channel, socket id. Returns the member's value or nil.
var leaveContentScript = script(`
local mk = P .. ':ct:' .. ARGV[1] .. ':members'
local v = redis.call('HGET', mk, ARGV[2])
if not v then return false end
redis.call('HDEL', mk, ARGV[2])
return v
`)

// sweepSlow drops expired cache entries and content tokens, and content
// channels left with neither tokens nor members: ARGV now.
var sweepSlowScript = script(`
local now = now_ms(ARGV[1])
for _, tok in ipairs(redis.call('ZRANGEBYSCORE', P .. ':auths', '-inf', now)) do
  local k = P .. ':auth:' .. tok
  local v = redis.call('HMGET', k, 'uid', 'exp')
  if v[1] and (tonumber(v[2]) or 0) <= now then
    redis.call('DEL', k)
    redis.call('SREM', P .. ':auth-uid:' .. v[1], tok)
  end
end
redis.call('ZREMRANGEBYSCORE', P .. ':auths', '-inf', now)
for _, ch in ipairs(redis.call('SMEMBERS', P .. ':ct-channels')) do
  local tk, xk = P .. ':ct:' .. ch .. ':tokens', P .. ':ct:' .. ch .. ':expiry'
  for _, tok in ipairs(redis.call('ZRANGEBYSCORE', xk, '-inf', now)) do
    redis.call('HDEL', tk, tok)
  end
  redis.call('ZREMRANGEBYSCORE', xk, '-inf', now)
  local mk = P .. ':ct:' .. ch .. ':members'
  if redis.call('HLEN', tk) == 0 and redis.call('HLEN', mk) == 0 then
    redis.call('DEL', tk, xk, mk)
    redis.call('SREM', P .. ':ct-channels', ch)
  end
end
return 0
`)
