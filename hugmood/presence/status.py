"""Presence: per-connection entries in Redis, merged per user, announced only when it changes.

Guarantees:
- Each connection has an entry with an expiry (`Settings.presence_ttl_secs`), refreshed by its
  process every third of that (`heartbeat_secs`); a process that dies (even kill -9) stops
  refreshing and its users go offline within the TTL (plus one sweep), never stuck online.
- A user's status is the highest priority over their live connections: dnd > online > away >
  offline. It is computed and compared with the last announced status atomically (one Lua
  script), so two processes never announce the same change twice, and one change is one event.
- Losing the last connection is announced only after `Settings.presence_grace_secs`: a quick
  reconnect (a tunnel, an app switch) never flaps.
- Announcements go to the user's audience rooms chosen by `show_activity_to` at that moment.
- One user's announcements leave a process in the order the script decided them (a per-user
  turn covers the script call and the publish). Each carries `last_active` from Redis's clock,
  strictly increasing per user, so even two processes' announcements of one user can be put in
  order by viewers (docs/protocol.md): nobody need end on a stale status.
- `last_active` is the time of the last announcement, kept in Redis next to the status; it is
  written to PostgreSQL (`users.last_active`) when the user goes offline, so a status change
  costs no database write.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from redis.commands.core import AsyncScript

from hugmood.core.context import Context
from hugmood.presence.models import Presence, Status
from hugmood.social import privacy

SWEEP_BATCH = 500  # users handled per sweep call; the next call takes the rest

# Scripts run by EVALSHA (loaded on first use).
# KEYS: 1 conns (zset sid -> expiry), 2 statuses (hash sid -> status), 3 announced (string),
#       4 index (zset user -> when to look again: the earliest connection expiry, so a dead
#       process's entries are swept even while the user stays online elsewhere), 5 active
# ARGV: 1 now, 2 op (set | remove | sweep), 3 sid, 4 status, 5 ttl, 6 grace, 7 user
# Returns the newly announced status and when it began (epoch seconds, a string), or false when
# nothing is to be announced.
_UPDATE = AsyncScript(
    None,
    b"""
local now = tonumber(ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
if ARGV[2] == 'set' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
elseif ARGV[2] == 'remove' then
  redis.call('ZREM', KEYS[1], ARGV[3])
  redis.call('HDEL', KEYS[2], ARGV[3])
end
local rank = {away = 1, online = 2, dnd = 3}
local best, status = 0, 'offline'
for _, s in ipairs(redis.call('HVALS', KEYS[2])) do
  if rank[s] > best then best, status = rank[s], s end
end
local keep = tonumber(ARGV[5]) * 2
if best > 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[4], first[2], ARGV[7])
  redis.call('EXPIRE', KEYS[1], keep)
  redis.call('EXPIRE', KEYS[2], keep)
elseif ARGV[2] == 'remove' then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[6]), ARGV[7])
  return false
else
  redis.call('ZREM', KEYS[4], ARGV[7])
end
if redis.call('GET', KEYS[3]) == status then return false end
-- When the status begins: Redis's clock, one for every process, and always after the user's
-- previous announcement, so viewers can order a user's changes by it.
local time = redis.call('TIME')
local at = tonumber(time[1]) + tonumber(time[2]) / 1000000
local previous = tonumber(redis.call('GET', KEYS[5]) or '0')
if at <= previous then at = previous + 0.000001 end
at = string.format('%.6f', at)
redis.call('SET', KEYS[3], status, 'EX', 30 * 86400)
redis.call('SET', KEYS[5], at, 'EX', 30 * 86400)
return {status, at}
""",
)

# Extends the given connections of one user and re-indexes the user at the earliest expiry.
# KEYS: 1 conns, 2 statuses, 3 index. ARGV: 1 expiry, 2 keep (key TTL), 3 user, 4.. sids
_HEARTBEAT = AsyncScript(
    None,
    b"""
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i]) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then redis.call('ZADD', KEYS[3], first[2], ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
""",
)


def _keys(ctx: Context, user_id: uuid.UUID) -> list[str]:
    k = ctx.keys
    return [
        k.presence_conns(user_id),
        k.presence_statuses(user_id),
        k.presence_announced(user_id),
        k.presence_index,
        k.presence_active(user_id),
    ]


class _Turns:
    """Per-user turns in this process, first come first served: announcing is a script call then
    a publish, and two announcements of one user must not overtake each other in between."""

    def __init__(self) -> None:
        self._locks: dict[uuid.UUID, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def of(self, user_id: uuid.UUID) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (asyncio.Lock(), 0))
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users == 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)


_turns = _Turns()


async def _change(
    ctx: Context, user_id: uuid.UUID, op: str, sid: str = "", status: str = ""
) -> Status | None:
    """Apply `op` to the user's connections and announce the user's status if it changed."""
    async with _turns.of(user_id):
        changed = await _UPDATE(
            keys=_keys(ctx, user_id),
            args=[
                time.time(),
                op,
                sid,
                status,
                ctx.settings.presence_ttl_secs,
                ctx.settings.presence_grace_secs,
                str(user_id),
            ],
            client=ctx.redis,
        )
        if not changed:
            return None
        announced: Status = changed[0].decode()
        last_active = datetime.fromtimestamp(float(changed[1]), UTC)
        if announced == "offline":
            await ctx.db.execute(
                "UPDATE users SET last_active = $2 WHERE id = $1", user_id, last_active
            )
        tiers = await privacy.activity_tiers(ctx, user_id)
        await ctx.bus.to_audience(
            user_id,
            tiers,
            "presence.changed",
            Presence(user_id, announced, last_active),
            include_owner=False,
        )
        return announced


def heartbeat_secs(ctx: Context) -> float:
    return ctx.settings.presence_ttl_secs / 3


async def connected(ctx: Context, user_id: uuid.UUID, sid: str) -> None:
    await set_status(ctx, user_id, sid, "online")


async def set_status(ctx: Context, user_id: uuid.UUID, sid: str, status: Status) -> None:
    """This connection's own status; the user's is merged over all of theirs."""
    await _change(ctx, user_id, "set", sid, status)


async def disconnected(ctx: Context, user_id: uuid.UUID, sid: str) -> None:
    await _change(ctx, user_id, "remove", sid)


async def heartbeat(ctx: Context, connections: list[tuple[uuid.UUID, str]]) -> None:
    """Extend the expiry of this process's live connections, in one round trip."""
    by_user: dict[uuid.UUID, list[str]] = {}
    for user_id, sid in connections:
        by_user.setdefault(user_id, []).append(sid)
    if not by_user:
        return
    ttl = ctx.settings.presence_ttl_secs
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for user_id, sids in by_user.items():
            conns, statuses, _, index, _ = _keys(ctx, user_id)
            await _HEARTBEAT(
                keys=[conns, statuses, index],
                args=[time.time() + ttl, ttl * 2, str(user_id), *sids],
                client=pipe,
            )
        await pipe.execute()


async def sweep(ctx: Context) -> int:
    """Announce users whose grace period ran out or whose connections all expired (a dead
    process). Safe to run on every process at once; returns how many went offline."""
    due = await ctx.redis.zrangebyscore(
        ctx.keys.presence_index, "-inf", time.time(), 0, SWEEP_BATCH
    )
    offline = 0
    for raw in due:
        offline += await _change(ctx, uuid.UUID(raw.decode()), "sweep") == "offline"
    return offline


async def snapshot(ctx: Context, user_ids: list[uuid.UUID]) -> list[Presence]:
    """Current status and last activity of `user_ids` (already filtered for visibility)."""
    if not user_ids:
        return []
    keys = ctx.keys
    announced = await ctx.redis.mget(
        [keys.presence_announced(u) for u in user_ids] + [keys.presence_active(u) for u in user_ids]
    )
    statuses, actives = announced[: len(user_ids)], announced[len(user_ids) :]
    last_active: dict[uuid.UUID, datetime | None] = {
        user: datetime.fromtimestamp(float(active), UTC)
        for user, active in zip(user_ids, actives, strict=True)
        if active is not None
    }
    if missing := [user for user in user_ids if user not in last_active]:
        rows = await ctx.db.fetch(
            "SELECT id, last_active FROM users WHERE id = ANY($1::uuid[])", missing
        )
        last_active |= {row["id"]: row["last_active"] for row in rows}
    return [
        Presence(user, (status or b"offline").decode(), last_active.get(user))  # type: ignore[arg-type]
        for user, status in zip(user_ids, statuses, strict=True)
    ]
