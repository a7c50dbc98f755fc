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
- Presence heals: every heartbeat (re-)registers each live connection of the process with its
  own status, so entries lost to a frozen process (swept while it was stopped), a Redis restart
  or a flush are back within one heartbeat, and a user announced offline meanwhile is announced
  again. The heartbeat is Redis only; announcing what it found runs apart from it.
- Every expiry and due time is read from Redis's clock (`TIME` inside the scripts), one clock
  for every process whatever theirs say.
- Disconnects that arrive together are removed together: one script call per user and one
  pipeline per batch (`GroupCommit`), so a mass disconnect never queues thousands of calls for
  the Redis pool.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hugmood.core.batching import Answer, GroupCommit
from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.outages import dependency_of
from hugmood.core.turns import Turns
from hugmood.presence import scripts
from hugmood.presence.models import Presence, Status
from hugmood.social import privacy

log = logging.getLogger("hugmood.presence")

SWEEP_BATCH = 500  # users handled per sweep call; the next call takes the rest
REMOVE_BATCH = 1000  # disconnects applied in one pipeline; a storm's rest goes in the next ones
HEAL_CONCURRENCY = 16  # re-announcements in flight at once after a heartbeat found lost entries


def _keys(ctx: Context, user_id: uuid.UUID) -> list[str]:
    k = ctx.keys
    return [
        k.presence_conns(user_id),
        k.presence_statuses(user_id),
        k.presence_announced(user_id),
        k.presence_index,
        k.presence_active(user_id),
        k.presence_audience(user_id),
    ]


def _update_args(
    ctx: Context, user_id: uuid.UUID, op: str, status: str = "", sids: tuple[str, ...] = ()
) -> list[object]:
    settings = ctx.settings
    return [
        op,
        status,
        settings.presence_ttl_secs,
        settings.presence_grace_secs,
        str(user_id),
        *sids,
    ]


# Announcing is a script call then a publish: two announcements of one user must not overtake
# each other in between.
_turns: Turns[uuid.UUID] = Turns()


async def _announce(ctx: Context, user_id: uuid.UUID, changed: list[bytes]) -> Status:
    """Publish what the script decided (called within the user's turn)."""
    announced: Status = changed[0].decode()  # type: ignore[assignment]
    last_active = datetime.fromtimestamp(float(changed[1]), UTC)
    if announced == "offline":
        await ctx.db.execute(
            "UPDATE users SET last_active = $2 WHERE id = $1", user_id, last_active
        )
    tiers = await privacy.activity_tiers(ctx, user_id, changed[2] if len(changed) > 2 else None)
    await ctx.bus.to_audience(
        user_id,
        tiers,
        "presence.changed",
        Presence(user_id, announced, last_active),
        include_owner=False,
    )
    return announced


async def _change(
    ctx: Context, user_id: uuid.UUID, op: str, sid: str = "", status: str = ""
) -> Status | None:
    """Apply `op` to the user's connections and announce the user's status if it changed."""
    async with _turns.of(user_id):
        changed = await scripts.UPDATE(
            keys=_keys(ctx, user_id),
            args=_update_args(ctx, user_id, op, status, (sid,) if sid else ()),
            client=ctx.redis,
        )
        if not changed:
            return None
        return await _announce(ctx, user_id, changed)


def _logged(ctx: Context, exc: Exception, what: str) -> None:
    """A dependency that is down is counted as an outage (logged when it starts and ends; the
    next heartbeat tries again); anything else is a bug, logged with its traceback."""
    if ctx.outages.failed(exc) is None:
        log.error(what, exc_info=exc)


class _Removals:
    """This process's disconnects, group-committed: one pipeline per batch, one script call per
    user in it (all of the user's closing connections at once), within the users' turns."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.commits: GroupCommit[tuple[uuid.UUID, str], None] = GroupCommit(
            self._commit, REMOVE_BATCH, waits_on="redis"
        )

    async def _commit(self, removals: list[tuple[uuid.UUID, str]], answer: Answer[None]) -> None:
        ctx = self.ctx
        by_user: dict[uuid.UUID, list[str]] = {}
        for user_id, sid in removals:
            by_user.setdefault(user_id, []).append(sid)
        async with AsyncExitStack() as turns:
            for user_id in by_user:
                await turns.enter_async_context(_turns.of(user_id))
            try:
                async with ctx.redis.pipeline(transaction=False) as pipe:
                    for user_id, sids in by_user.items():
                        await scripts.UPDATE(
                            keys=_keys(ctx, user_id),
                            args=_update_args(ctx, user_id, "remove", "", tuple(sids)),
                            client=pipe,
                        )
                    results = await pipe.execute()
            except Exception as exc:
                if dependency_of(exc) is None:
                    raise
                # The entries expire with the TTL: no heartbeat registers them any more.
                raise AppError("unavailable", "presence unavailable; entries expire") from exc
            answer([None] * len(removals))
            for user_id, changed in zip(by_user, results, strict=True):
                if changed:
                    try:
                        await _announce(ctx, user_id, changed)
                    except Exception as exc:
                        _logged(ctx, exc, "announcing a disconnect failed")


_removals: dict[int, _Removals] = {}  # by id(ctx): one batcher per process's context


def _removals_of(ctx: Context) -> _Removals:
    removals = _removals.get(id(ctx))
    if removals is None or removals.ctx is not ctx:
        removals = _removals[id(ctx)] = _Removals(ctx)
    return removals


def heartbeat_secs(ctx: Context) -> float:
    return ctx.settings.presence_ttl_secs / 3


async def connected(ctx: Context, user_id: uuid.UUID, sid: str) -> None:
    await set_status(ctx, user_id, sid, "online")


async def set_status(ctx: Context, user_id: uuid.UUID, sid: str, status: Status) -> None:
    """This connection's own status; the user's is merged over all of theirs."""
    await _change(ctx, user_id, "set", sid, status)


async def disconnected(ctx: Context, user_id: uuid.UUID, sid: str) -> None:
    """Remove the connection, batched with the other disconnects in flight on this process."""
    await _removals_of(ctx).commits.submit((user_id, sid))


@dataclass
class Found:
    """What a heartbeat found out of place, for `heal` to put right."""

    unsettled: list[uuid.UUID] = field(default_factory=list)  # announced != what entries say
    added: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # entries it re-added

    def __bool__(self) -> bool:
        return bool(self.unsettled or self.added)


async def heartbeat(ctx: Context, connections: list[tuple[uuid.UUID, str, str]]) -> Found:
    """(Re-)register this process's live connections, `(user, sid, status)`, in one round trip
    to Redis and nothing else: an entry that was lost is added back with its status."""
    by_user: dict[uuid.UUID, list[str]] = {}
    for user_id, sid, status in connections:
        by_user.setdefault(user_id, []).extend((sid, status))
    found = Found()
    if not by_user:
        return found
    ttl = ctx.settings.presence_ttl_secs
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for user_id, pairs in by_user.items():
            conns, statuses, announced, index, *_ = _keys(ctx, user_id)
            await scripts.HEARTBEAT(
                keys=[conns, statuses, announced, index],
                args=[ttl, str(user_id), *pairs],
                client=pipe,
            )
        results = await pipe.execute()
    for user_id, (settled, added) in zip(by_user, results, strict=True):
        if not settled:
            found.unsettled.append(user_id)
        found.added += [(user_id, sid.decode()) for sid in added]
    return found


async def heal(ctx: Context, found: Found, is_live: Callable[[str], bool]) -> None:
    """After a heartbeat: remove again what it re-added for connections that closed meanwhile
    (their removal ran before the heartbeat's write), then announce each unsettled user's status
    (`presence.changed` through the usual path, e.g. online again after being swept)."""
    closed = [(user_id, sid) for user_id, sid in found.added if not is_live(sid)]
    removals = _removals_of(ctx).commits
    await asyncio.gather(*(removals.submit(removal) for removal in closed), return_exceptions=True)
    slots = asyncio.Semaphore(HEAL_CONCURRENCY)

    async def settle(user_id: uuid.UUID) -> None:
        async with slots:
            await _change(ctx, user_id, "sweep")

    failures = [
        outcome
        for outcome in await asyncio.gather(
            *(settle(user_id) for user_id in found.unsettled), return_exceptions=True
        )
        if isinstance(outcome, Exception)
    ]
    if failures:  # one line per heartbeat, however many users
        _logged(
            ctx, failures[0], f"announcing presence after a heartbeat failed for {len(failures)}"
        )


async def sweep(ctx: Context) -> int:
    """Announce users whose grace period ran out or whose connections all expired (a dead
    process). Safe to run on every process at once; returns how many went offline."""
    due = await scripts.DUE(keys=[ctx.keys.presence_index], args=[SWEEP_BATCH], client=ctx.redis)
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
