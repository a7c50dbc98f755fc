"""Keeping live connections seated in the audience rooms the rules allow, whatever the
interleaving of graph changes, publishes and connects.

A graph change between two people (follow, unfollow, block, unblock) runs as a *turn* of that
pair: one session-level advisory lock per pair, held from before the transaction until its room
moves are published, so moves of one pair reach every process in the order the changes
committed. Inside the turn:

1. both directions are read before the change, and again inside the transaction after it;
2. a direction that narrows (friends → followers, or out of the audience) is published
   *before* the commit, so a presence or mood published after the commit can only find the
   viewer already moved out;
3. after the commit the final seats of both directions are published (if the transaction
   failed, the seats as they were), then `presence.hidden` / `mood.hidden` go to a viewer who
   lost sight of the other.

While a turn runs, both people are marked as changing in Redis; `delivery.connections` makes
an opening connection of theirs wait for the mark to go before it reads the graph, so it cannot
seat itself from the uncommitted past.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from hugmood.core.context import Context
from hugmood.delivery.rooms import Tier
from hugmood.social import privacy
from hugmood.social.models import LostSight
from hugmood.social.relations import Relation, relations

# A turn is a handful of statements; a mark older than this belongs to a process that died.
GRAPH_CHANGE_MAX_MS = 5000
GRAPH_WAIT_POLL_SECS = 0.02

Pair = tuple[Relation, Relation]  # (how b stands towards a, how a stands towards b)
_RANK: dict[Tier | None, int] = {None: 0, "followers": 1, "friends": 2}


async def change_pair(
    ctx: Context,
    a: uuid.UUID,
    b: uuid.UUID,
    change: Callable[[asyncpg.Connection], Awaitable[None]],
) -> Relation:
    """Run `change` (in its own transaction) as a turn of the pair; returns how `b` then
    stands towards `a`."""
    async with ctx.db.acquire() as conn, _turn(ctx, conn, a, b):
        before = await _read(conn, a, b)
        narrowed = False
        try:
            async with conn.transaction():
                await change(conn)
                after = await _read(conn, a, b)
                for viewer, owner, old, new in _directions(a, b, before, after):
                    if _RANK[privacy.tier_of(new)] < _RANK[privacy.tier_of(old)]:
                        await ctx.bus.set_tier(viewer, owner, privacy.tier_of(new))
                        narrowed = True
        except BaseException:
            if narrowed:
                await _seat(ctx, a, b, before)
            raise
        await _seat(ctx, a, b, after)
        await _announce_lost_sight(ctx, conn, a, b, before, after)
        return after[0]


async def wait_for_graph(ctx: Context, user_id: uuid.UUID) -> None:
    """Return once no graph change involving `user_id` is being committed (or the mark of one
    whose process died has expired)."""
    key = ctx.keys.graph_changing(user_id)
    for _ in range(int(GRAPH_CHANGE_MAX_MS / 1000 / GRAPH_WAIT_POLL_SECS)):
        if not await ctx.redis.exists(key):
            return
        await asyncio.sleep(GRAPH_WAIT_POLL_SECS)


@asynccontextmanager
async def _turn(
    ctx: Context, conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID
) -> AsyncIterator[None]:
    first, second = sorted((a, b))
    await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", f"{first}:{second}")
    keys = [ctx.keys.graph_changing(a), ctx.keys.graph_changing(b)]
    try:
        async with ctx.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, 1, px=GRAPH_CHANGE_MAX_MS)
            await pipe.execute()
        yield
    finally:
        try:
            await ctx.redis.delete(*keys)
        finally:
            try:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended($1, 0))", f"{first}:{second}"
                )
            except BaseException:
                # A session lock must never outlive its turn on a pooled connection: closing
                # the connection releases it (the pool opens a fresh one).
                conn.terminate()
                raise


async def _read(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID) -> Pair:
    b_to_a, a_to_b = await relations(conn, [(a, b), (b, a)])
    return b_to_a, a_to_b


def _directions(
    a: uuid.UUID, b: uuid.UUID, before: Pair, after: Pair
) -> list[tuple[uuid.UUID, uuid.UUID, Relation, Relation]]:
    """(viewer, owner, relation before, relation after) for both directions of the pair."""
    return [(b, a, before[0], after[0]), (a, b, before[1], after[1])]


async def _seat(ctx: Context, a: uuid.UUID, b: uuid.UUID, pair: Pair) -> None:
    await ctx.bus.set_tier(viewer=b, owner=a, tier=privacy.tier_of(pair[0]))
    await ctx.bus.set_tier(viewer=a, owner=b, tier=privacy.tier_of(pair[1]))


async def _announce_lost_sight(
    ctx: Context, conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID, before: Pair, after: Pair
) -> None:
    settings = await privacy.settings_of(conn, [a, b])
    events = []
    for viewer, owner, old, new in _directions(a, b, before, after):
        if (audience := settings.get(owner)) is None:
            continue
        presence_lost, mood_lost = privacy.lost_sight(audience, old, new)
        if presence_lost:
            events.append((viewer, "presence.hidden", LostSight(owner), None, None))
        if mood_lost:
            events.append((viewer, "mood.hidden", LostSight(owner), None, None))
    if events:
        await ctx.bus.to_users(events)
