"""The Lua scripts behind presence (`hugmood.presence.status`), each one atomic in Redis: the
per-user merge and announcement decision, the heartbeat that re-registers live connections,
and the sweep's due users. `now` is always Redis's clock (`TIME`), one for every process."""

from __future__ import annotations

from redis.commands.core import AsyncScript

# Lua shared by the scripts: `now` from Redis's clock; `status` (and its rank `best`), the
# highest-priority status over the user's connection statuses in KEYS[2].
_NOW = b"""
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
"""
_MERGE = b"""
local rank = {away = 1, online = 2, dnd = 3}
local best, status = 0, 'offline'
for _, s in ipairs(redis.call('HVALS', KEYS[2])) do
  if (rank[s] or 0) > best then best, status = rank[s], s end
end
"""

# Scripts run by EVALSHA (loaded on first use). `now` is always Redis's clock (`TIME`).
# KEYS: 1 conns (zset sid -> expiry), 2 statuses (hash sid -> status), 3 announced (string),
#       4 index (zset user -> when to look again: the earliest connection expiry, so a dead
#       process's entries are swept even while the user stays online elsewhere), 5 active,
#       6 audience (the user's `show_activity_to`, as `social.privacy` keeps it)
# ARGV: 1 op (set | remove | sweep), 2 status, 3 ttl, 4 grace, 5 user, 6.. sids (one for set,
#       any number for remove)
# Returns the newly announced status, when it began (epoch seconds, a string) and the audience
# (false when the copy is missing), or false when nothing is to be announced.
UPDATE = AsyncScript(
    None,
    _NOW
    + b"""
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, sid in ipairs(dead) do
  redis.call('ZREM', KEYS[1], sid)
  redis.call('HDEL', KEYS[2], sid)
end
if ARGV[1] == 'set' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[6])
  redis.call('HSET', KEYS[2], ARGV[6], ARGV[2])
elseif ARGV[1] == 'remove' then
  for i = 6, #ARGV do
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
"""
    + _MERGE
    + b"""
local keep = tonumber(ARGV[3]) * 2
if best > 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[4], first[2], ARGV[5])
  redis.call('EXPIRE', KEYS[1], keep)
  redis.call('EXPIRE', KEYS[2], keep)
elseif ARGV[1] == 'remove' then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), ARGV[5])
  return false
else
  redis.call('ZREM', KEYS[4], ARGV[5])
end
if redis.call('GET', KEYS[3]) == status then return false end
-- When the status begins: Redis's clock, one for every process, and always after the user's
-- previous announcement, so viewers can order a user's changes by it.
local at = now
local previous = tonumber(redis.call('GET', KEYS[5]) or '0')
if at <= previous then at = previous + 0.000001 end
at = string.format('%.6f', at)
redis.call('SET', KEYS[3], status, 'EX', 30 * 86400)
redis.call('SET', KEYS[5], at, 'EX', 30 * 86400)
return {status, at, redis.call('GET', KEYS[6])}
""",
)

# (Re-)registers the given live connections of one user: each gets an expiry of now + TTL, and
# one that is missing (swept while its process was frozen, lost with Redis's data) is added
# back with the status its process holds; an entry that is there keeps its own status (a
# concurrent `presence:set` wins). Re-indexes the user at the earliest expiry.
# KEYS: 1 conns, 2 statuses, 3 announced, 4 index. ARGV: 1 ttl, 2 user, 3.. sid, status pairs
# Returns {settled, added sids}: settled is 1 when the announced status is what the entries
# merge to, 0 when the user must be looked at again (`heal`).
HEARTBEAT = AsyncScript(
    None,
    _NOW
    + b"""
local ttl = tonumber(ARGV[1])
local added = {}
for i = 3, #ARGV, 2 do
  if redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) == 1 then added[#added + 1] = ARGV[i] end
  redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[4], first[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], ttl * 2)
redis.call('EXPIRE', KEYS[2], ttl * 2)
"""
    + _MERGE
    + b"""
local settled = 0
if redis.call('GET', KEYS[3]) == status then settled = 1 end
return {settled, added}
""",
)

# The users due in the index by Redis's clock. KEYS: 1 index. ARGV: 1 at most this many.
DUE = AsyncScript(
    None,
    _NOW
    + b"""
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
""",
)
