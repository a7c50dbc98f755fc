"""Squeezes in, pulses out: what a group hug feels like while ACTIVE, at a cost set by the
pulse rate, not by the number of participants.

Time is cut into slots of 1 / `GROUP_HUG_PULSE_HZ` seconds (wall clock, the same on every
process). A squeeze is checked (a participant who joined, the group hug ACTIVE, the per-user
rate limit), then only added to this process's tally of its group and slot: a count, a sum and
the few strongest squeezers. Right after a slot ends, every process that took squeezes in it
merges its tally into Redis (one script call per group hug); half a slot later each of them
tries to claim the slot's pulse (SET NX), and the one that wins reads the merged tally and
publishes one `group_hug.pulse` to the group's room. So a group hug gets at most one pulse per
slot whatever the number of processes or squeezers, and the server's work per second is
(processes x pulse rate) small scripts plus one publish per pulse; each squeeze costs only its
check and an in-memory addition.

Who may squeeze is read from PostgreSQL at most once per `STATE_TTL_SECS` per group hug and
process: someone who left can still squeeze for that long, and a squeeze that lands in the
last slot after `ends_at` is refused by the time check.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.commands.core import AsyncScript

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.keys import PULSE_SLOT_TTL_SECS
from hugmood.core.ratelimit import RateLimiter
from hugmood.delivery.rooms import group_hug_room
from hugmood.group_hugs.models import TOP_SQUEEZERS, Pulse, Squeeze, Squeezer

log = logging.getLogger("hugmood.group_hugs")

STATE_TTL_SECS = 1.0  # how stale this process's view of who may squeeze may be
HOT_SLOTS = 3  # slots a group hug keeps being ticked after this process's last squeeze in it
MAX_CATCH_UP_SLOTS = 20  # slots a late process claims at once

# KEYS: the slot's tally hash, top zset and claim, then the next slot's tally and top.
# ARGV: count, sum, ttl, then user, intensity pairs. A tally that arrives after its slot's
# pulse was claimed (this process was late) goes into the next slot: late, never lost.
_MERGE = AsyncScript(
    None,
    b"""
local tally, top = KEYS[1], KEYS[2]
if redis.call('EXISTS', KEYS[3]) == 1 then tally, top = KEYS[4], KEYS[5] end
redis.call('HINCRBY', tally, 'count', ARGV[1])
redis.call('HINCRBYFLOAT', tally, 'sum', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('ZADD', top, 'GT', ARGV[i + 1], ARGV[i]) end
redis.call('EXPIRE', tally, ARGV[3])
redis.call('EXPIRE', top, ARGV[3])
""",
)
# KEYS: tally hash, top zset, claim. ARGV: ttl, top n. The tally for the one caller that
# claims the slot, else nothing.
_CLAIM = AsyncScript(
    None,
    b"""
if not redis.call('SET', KEYS[3], 1, 'NX', 'EX', ARGV[1]) then return false end
local tally = redis.call('HMGET', KEYS[1], 'count', 'sum')
if not tally[1] then return false end
return {tally[1], tally[2], redis.call('ZREVRANGE', KEYS[2], 0, ARGV[2] - 1, 'WITHSCORES')}
""",
)


@dataclass(slots=True)
class _Tally:
    count: int = 0
    total: float = 0.0
    strongest: dict[uuid.UUID, float] = field(default_factory=dict)

    def add(self, user: uuid.UUID, intensity: float) -> None:
        self.count += 1
        self.total += intensity
        if intensity > self.strongest.get(user, -1.0):
            self.strongest[user] = intensity

    def top(self) -> list[tuple[uuid.UUID, float]]:
        return heapq.nlargest(TOP_SQUEEZERS, self.strongest.items(), key=lambda item: item[1])


@dataclass(frozen=True, slots=True)
class _State:
    loaded: float  # time.monotonic()
    active: bool
    ends_at: float  # epoch seconds
    joined: frozenset[uuid.UUID]


class Pulses:
    """This process's squeezes; its ticker starts with the first squeeze, `close` stops it."""

    def __init__(self, ctx: Context, limiter: RateLimiter) -> None:
        self._ctx = ctx
        self._limiter = limiter
        self._slot_secs = 1 / ctx.settings.group_hug_pulse_hz
        self._tallies: dict[uuid.UUID, _Tally] = {}  # the current slot's, per group hug
        self._hot: dict[uuid.UUID, int] = {}  # group hug -> last slot with a squeeze here
        self._states: dict[uuid.UUID, _State] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[_State]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self.pulses_sent = 0

    def slot(self, at: float) -> int:
        return math.floor(at / self._slot_secs)

    async def squeeze(self, user: uuid.UUID, data: Squeeze) -> None:
        ctx = self._ctx
        await self._limiter.hit("group squeeze", str(user), ctx.settings.rate_group_squeeze)
        state = await self._state(data.group_hug_id)
        if user not in state.joined:
            raise AppError("forbidden", "only participants who joined can squeeze", "group_hug_id")
        if not state.active or time.time() >= state.ends_at:
            raise AppError("conflict", "this group hug is not active", "group_hug_id")
        self._tallies.setdefault(data.group_hug_id, _Tally()).add(user, data.intensity)
        self._hot[data.group_hug_id] = self.slot(time.time())
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="group hug pulses")

    async def _state(self, group_id: uuid.UUID) -> _State:
        state = self._states.get(group_id)
        if state is not None and time.monotonic() - state.loaded < STATE_TTL_SECS:
            return state
        if (loading := self._loading.get(group_id)) is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[_State] = asyncio.get_running_loop().create_future()
        self._loading[group_id] = future
        try:
            state = await self._load(group_id)
            future.set_result(state)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: callers waiting on it get it, nobody else logs it
            raise
        finally:
            del self._loading[group_id]
        self._states[group_id] = state
        return state

    async def _load(self, group_id: uuid.UUID) -> _State:
        rows = await self._ctx.db.fetch(
            "SELECT g.status, g.ends_at, p.user_id FROM group_hugs g "
            "LEFT JOIN group_hug_participants p ON p.group_hug_id = g.id AND p.status = 'JOINED' "
            "WHERE g.id = $1",
            group_id,
        )
        if not rows:
            raise AppError("not_found", "no such group hug", "group_hug_id")
        ends_at = rows[0]["ends_at"]
        return _State(
            time.monotonic(),
            rows[0]["status"] == "ACTIVE",
            ends_at.timestamp() if ends_at else 0.0,
            frozenset(row["user_id"] for row in rows if row["user_id"] is not None),
        )

    async def _tick_forever(self) -> None:
        """At each slot's end: merge this process's tallies of the slot that ended; half a slot
        later: claim and publish the pulses of that slot.

        A process that falls behind (a busy event loop) merges what it has into the slot now
        running, whose claim is still at least half a slot away, and then claims every slot
        since its last claim, so no tally is left in a slot nobody claims."""
        claimed = self.slot(time.time()) - 1  # the first squeeze's slot is claimed next
        while True:
            ended = self.slot(time.time())  # the slot now running ends next
            await asyncio.sleep(max(0.0, (ended + 1) * self._slot_secs - time.time()))
            tallies, self._tallies = self._tallies, {}
            target = ended
            if time.time() >= (ended + 1.5) * self._slot_secs:  # late: it may be claimed
                target = self.slot(time.time())
            try:
                await asyncio.gather(*(self._merge(g, target, t) for g, t in tallies.items()))
            except Exception as exc:
                self._failed(exc)
            ended = max(ended, target)
            await asyncio.sleep(max(0.0, (ended + 1.5) * self._slot_secs - time.time()))
            hot = [g for g, last in self._hot.items() if last >= ended - HOT_SLOTS]
            self._hot = {g: self._hot[g] for g in hot}
            slots = range(max(claimed + 1, ended - MAX_CATCH_UP_SLOTS), ended + 1)
            try:
                await asyncio.gather(*(self._claim(g, slot) for g in hot for slot in slots))
            except Exception as exc:
                self._failed(exc)
            claimed = ended
            for group_id in [g for g in self._states if g not in self._hot]:
                del self._states[group_id]

    def _failed(self, exc: Exception) -> None:
        """Pulses are ephemeral: a slot lost to an outage is simply not felt."""
        if self._ctx.outages.failed(exc) is None:
            log.exception("group hug pulses failed for one slot")

    def _keys(self, group_id: uuid.UUID, slot: int) -> list[str]:
        key = self._ctx.keys.group_hug_pulse(group_id, slot)
        return [key, f"{key}:top", f"{key}:sent"]

    async def _merge(self, group_id: uuid.UUID, slot: int, tally: _Tally) -> None:
        args: list[object] = [tally.count, tally.total, PULSE_SLOT_TTL_SECS]
        for user, intensity in tally.top():
            args += [str(user), intensity]
        keys = self._keys(group_id, slot) + self._keys(group_id, slot + 1)[:2]
        await _MERGE(keys=keys, args=args, client=self._ctx.redis)

    async def _claim(self, group_id: uuid.UUID, slot: int) -> None:
        won = await _CLAIM(
            keys=self._keys(group_id, slot),
            args=[PULSE_SLOT_TTL_SECS, TOP_SQUEEZERS],
            client=self._ctx.redis,
        )
        if not won:
            return
        count, total, top = int(won[0]), float(won[1]), won[2]
        squeezers = [
            Squeezer(uuid.UUID(top[i].decode()), round(float(top[i + 1]), 4))
            for i in range(0, len(top), 2)
        ]
        at = datetime.fromtimestamp((slot + 1) * self._slot_secs, UTC)
        pulse = Pulse(group_id, count, round(total / count, 4), squeezers, at)
        await self._ctx.bus.to_room(group_hug_room(group_id), "group_hug.pulse", pulse)
        self.pulses_sent += 1

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
