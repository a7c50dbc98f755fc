"""Status changes of a group hug, each exactly once: PENDING -> ACTIVE -> COMPLETED, PENDING ->
EXPIRED, PENDING or ACTIVE -> CANCELED.

Guarantees:
- A transition is one conditional UPDATE (`WHERE id = ... AND status = <the status it leaves>`)
  inside a transaction that holds the group hug's row lock, and the durable event of each
  participant is appended in that same transaction (`delivery.inbox`). Two workers, a retried
  job and the sweep may all try the same start: one UPDATE matches, the rest find the new status
  and do nothing. So every transition is announced once.
- What is due is decided from the row and the clock, never from which job woke up: `advance`
  is the one entry point, called by the scheduled jobs (their due times are written to the
  outbox in the transaction that makes them due, and a worker turns them into arq jobs) and by
  a periodic sweep (`due`), so a job lost with Redis only delays a transition by a sweep period.
- `started` is sent a lead time (`GROUP_HUG_LEAD_SECS`) before `starts_at`, which is server time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.delivery import inbox
from hugmood.delivery.rooms import group_hug_room
from hugmood.group_hugs import store
from hugmood.group_hugs.models import Ended, GroupHug, ParticipantStatus, Started, Status
from hugmood.outbox import store as outbox

log = logging.getLogger("hugmood.group_hugs")

TOPIC = "group_hug"  # outbox topic: [group hug id, ISO time at which `advance` is due]
# A scheduled start is due this long before its announcement must go out: a job runs up to a
# queue poll (and a busy worker's delay) late, and `starts_at` stays `scheduled_for` as long as
# the announcement still leaves the full lead time.
START_EARLY_SECS = 0.5
SWEEP_LIMIT = 500  # group hugs one sweep advances at most; the next sweep takes the rest
# Who hears of each end: everyone still involved (an invitee would otherwise wait forever for
# a group hug that expired or was canceled); completion only concerns those who took part.
_TOLD: dict[Status, tuple[ParticipantStatus, ...]] = {
    "COMPLETED": ("JOINED",),
    "EXPIRED": ("INVITED", "JOINED"),
    "CANCELED": ("INVITED", "JOINED"),
}


def now() -> datetime:
    return datetime.now(UTC)


async def schedule(conn: asyncpg.Connection, group_id: uuid.UUID, dues: list[datetime]) -> None:
    """In the caller's transaction: `advance` must run for this group hug at each of `dues`."""
    await outbox.add(conn, TOPIC, [[str(group_id), due.isoformat()] for due in dues])


def lead(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.group_hug_lead_secs)


def start_due(ctx: Context, scheduled_for: datetime) -> datetime:
    """When the start of a group hug scheduled for `scheduled_for` is due."""
    return scheduled_for - lead(ctx) - timedelta(seconds=START_EARLY_SECS)


def ready(ctx: Context, group: GroupHug, at: datetime) -> bool:
    """Whether a PENDING group hug starts now: enough people joined, its time (less the lead)
    has come, and it has not expired."""
    return (
        group.status == "PENDING"
        and group.participants >= group.min_participants
        and (group.scheduled_for is None or start_due(ctx, group.scheduled_for) <= at)
        and (group.expires_at is None or at < group.expires_at)
    )


async def start(
    ctx: Context, conn: asyncpg.Connection, group: GroupHug, at: datetime
) -> list[inbox.Delivery]:
    """PENDING -> ACTIVE in the caller's transaction, `starts_at` at least a lead time away;
    every joined participant gets `group_hug.started`, and completion is scheduled."""
    starts_at = max(group.scheduled_for or at, at + lead(ctx))
    ends_at = await conn.fetchval(
        "UPDATE group_hugs SET status = 'ACTIVE', starts_at = $2::timestamptz, "
        "ends_at = $2::timestamptz + make_interval(secs => duration_s), updated_at = now() "
        "WHERE id = $1 AND status = 'PENDING' RETURNING ends_at",
        group.id,
        starts_at,
    )
    if ends_at is None:
        return []
    await schedule(conn, group.id, [ends_at])
    started = Started(group.id, group.name, starts_at, group.duration_s, ends_at)
    joined = await store.members(conn, group.id, ("JOINED",))
    return await inbox.append(conn, [(user, "group_hug.started", started) for user in joined])


async def end(conn: asyncpg.Connection, group: GroupHug, status: Status) -> list[inbox.Delivery]:
    """`group.status` -> `status` (COMPLETED, EXPIRED or CANCELED) in the caller's transaction,
    durable for everyone it concerns; nothing if the status changed meanwhile."""
    changed = await conn.fetchval(
        "UPDATE group_hugs SET status = $2, updated_at = now() "
        "WHERE id = $1 AND status = $3 RETURNING id",
        group.id,
        status,
        group.status,
    )
    if changed is None:
        return []
    told = await store.members(conn, group.id, _TOLD[status])
    event, data = f"group_hug.{status.lower()}", Ended(group.id, status)
    return await inbox.append(conn, [(user, event, data) for user in told])


async def announce_end(ctx: Context, group_id: uuid.UUID, deliveries: list[inbox.Delivery]) -> None:
    """After an end committed: its events, then the group's room is emptied everywhere."""
    await inbox.publish(ctx, deliveries)
    room = group_hug_room(group_id)
    await ctx.bus.move(room, [room], [])


async def advance(ctx: Context, group_id: uuid.UUID) -> str:
    """Make whatever transition is due for the group hug now; returns what happened (`started`,
    `completed`, `expired`, or `nothing`). Safe to call any number of times, anywhere."""
    at = now()
    async with ctx.db.acquire() as conn, conn.transaction():
        try:
            group = await store.fetch(conn, group_id, lock=True)
        except AppError:
            return "nothing"  # deleted with its creator
        if group.status == "PENDING" and group.expires_at is not None and group.expires_at <= at:
            deliveries, outcome = await end(conn, group, "EXPIRED"), "expired"
        elif ready(ctx, group, at):
            deliveries, outcome = await start(ctx, conn, group, at), "started"
        elif group.status == "ACTIVE" and group.ends_at is not None and group.ends_at <= at:
            deliveries, outcome = await end(conn, group, "COMPLETED"), "completed"
        else:
            return "nothing"
    if outcome == "started":
        await inbox.publish(ctx, deliveries)
    else:
        await announce_end(ctx, group_id, deliveries)
    return outcome


async def due(ctx: Context) -> list[uuid.UUID]:
    """Group hugs with a transition due now (what the sweep advances): expired, ready to start,
    or past their end."""
    rows = await ctx.db.fetch(
        "SELECT g.id FROM group_hugs g WHERE g.status IN ('PENDING', 'ACTIVE') AND ("
        " (g.status = 'ACTIVE' AND g.ends_at <= now())"
        " OR (g.status = 'PENDING' AND g.expires_at <= now())"
        " OR (g.status = 'PENDING'"
        "     AND (g.scheduled_for IS NULL OR g.scheduled_for <= now() + make_interval(secs => $1))"
        "     AND (SELECT count(*) FROM group_hug_participants p"
        "          WHERE p.group_hug_id = g.id AND p.status = 'JOINED') >= g.min_participants)"
        ") ORDER BY g.created_at LIMIT $2",
        ctx.settings.group_hug_lead_secs + START_EARLY_SECS,
        SWEEP_LIMIT,
    )
    return [row["id"] for row in rows]


async def sweep(ctx: Context) -> int:
    """Advance every group hug whose transition is due; returns how many changed."""
    changed = 0
    for group_id in await due(ctx):
        if await advance(ctx, group_id) != "nothing":
            changed += 1
    return changed
