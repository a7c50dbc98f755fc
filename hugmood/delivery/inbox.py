"""The durable inbox: the core of the delivery guarantee.

Guarantees:
- `append` runs inside the caller's transaction, so an event exists exactly when the fact it
  reports committed. Its `seq` is the user's next one: gap-free and increasing, because the head
  (`users.inbox_seq`) is bumped under the row lock and a rollback undoes both.
- Appends to several users lock their rows in id order, so concurrent transactions that touch the
  same users cannot deadlock.
- Pushable events get their push intent (`notify.intents`, outbox rows: one more INSERT per
  append that has any) in the same transaction, so a process killed right after the commit
  loses no push.
- `publish` runs only after commit and is best effort: a lost publish (Redis down, process killed)
  loses nothing, because `sync` returns every event after a given seq, in order.
- `sync` never replays partially: it returns every event after `since` (in pages, `has_more`),
  or `recovered: false` when retention already removed some of them.
- `advance_ack` is cumulative and monotonic: acking 7 acknowledges 1..7, acking 5 later is a no-op.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.delivery.models import InboxEvent, SyncResult
from hugmood.notify import intents

log = logging.getLogger("hugmood.inbox")
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Delivery:
    """An appended event and whose inbox it is in: what `publish` sends after commit."""

    user_id: uuid.UUID
    event: InboxEvent


async def append(
    conn: asyncpg.Connection, entries: list[tuple[uuid.UUID, str, Any]]
) -> list[Delivery]:
    """Append `(user_id, type, data)` entries, in order per user, in the caller's transaction."""
    counts: dict[uuid.UUID, int] = {}
    for user_id, _, _ in entries:
        counts[user_id] = counts.get(user_id, 0) + 1
    users = sorted(counts)
    heads = dict(
        await conn.fetch(
            "WITH locked AS (SELECT id FROM users WHERE id = ANY($1::uuid[]) "
            "                ORDER BY id FOR NO KEY UPDATE) "
            "UPDATE users u SET inbox_seq = u.inbox_seq + c.n "
            "FROM locked, unnest($1::uuid[], $2::int[]) AS c(id, n) "
            "WHERE u.id = locked.id AND u.id = c.id RETURNING u.id, u.inbox_seq",
            users,
            [counts[user] for user in users],
        )
    )
    if len(heads) != len(users):
        raise AppError("not_found", "user not found")
    next_seq = {user: heads[user] - counts[user] + 1 for user in users}
    seqs = []
    for user_id, _, _ in entries:
        seqs.append(next_seq[user_id])
        next_seq[user_id] += 1
    rows = await conn.fetch(
        "INSERT INTO inbox_events (user_id, seq, type, payload) "
        "SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]::jsonb[]) "
        "RETURNING created_at",
        [user_id for user_id, _, _ in entries],
        seqs,
        [kind for _, kind, _ in entries],
        [_encoder.encode(data).decode() for _, _, data in entries],
    )
    await intents.record(
        conn, [(user_id, seq, kind) for (user_id, kind, _), seq in zip(entries, seqs, strict=True)]
    )
    return [
        Delivery(user_id, InboxEvent(seq=seq, type=kind, at=row["created_at"], data=data))
        for (user_id, kind, data), seq, row in zip(entries, seqs, rows, strict=True)
    ]


async def publish(ctx: Context, deliveries: list[Delivery]) -> None:
    """Send committed events to live connections, in one publish; failures are logged, never
    raised (the events are in the inbox)."""
    if not deliveries:
        return
    try:
        await ctx.bus.to_users(
            [(d.user_id, d.event.type, d.event.data, d.event.seq, d.event.at) for d in deliveries]
        )
    except Exception:
        log.exception(
            "publish failed; clients recover the events with sync",
            extra={"events": len(deliveries)},
        )


async def _head_at_least(conn: asyncpg.Connection, user_id: uuid.UUID, seq: int, field: str) -> int:
    """The user's newest seq; a client naming a later one is confused (`invalid`)."""
    head = await conn.fetchval("SELECT inbox_seq FROM users WHERE id = $1", user_id)
    if head is None:
        raise AppError("not_found", "user not found")
    if seq > head:
        raise AppError("invalid", f"{field} is ahead of the inbox (head is {head})", field)
    return head


async def sync(ctx: Context, user_id: uuid.UUID, since: int, limit: int) -> SyncResult:
    async with (
        ctx.db.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        head = await _head_at_least(conn, user_id, since, "since")
        rows = await conn.fetch(
            "SELECT seq, type, created_at, payload FROM inbox_events "
            "WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            user_id,
            since,
            limit + 1,
        )
    if since < head and (not rows or rows[0]["seq"] != since + 1):
        return SyncResult(recovered=False, events=[], head=head, has_more=False)
    events = [
        InboxEvent(seq=r["seq"], type=r["type"], at=r["created_at"], data=r["payload"])
        for r in rows[:limit]
    ]
    return SyncResult(recovered=True, events=events, head=head, has_more=len(rows) > limit)


async def advance_ack(conn: asyncpg.Connection, user_id: uuid.UUID, seq: int) -> int:
    """Move the user's ack up to `seq` inside the caller's transaction; returns the previous ack
    (at or above `seq` when there is nothing new to acknowledge)."""
    await _head_at_least(conn, user_id, seq, "seq")
    # RETURNING's subquery sees the row as it was before this statement: the previous ack. Under
    # a concurrent ack it may be older than the true previous one; the caller's work on the
    # range (previous, seq] must therefore be idempotent, which receipts are.
    previous = await conn.fetchval(
        "INSERT INTO inbox_acks AS a (user_id, seq) VALUES ($1, $2) "
        "ON CONFLICT (user_id) DO UPDATE SET seq = GREATEST(a.seq, EXCLUDED.seq) "
        "RETURNING (SELECT seq FROM inbox_acks WHERE user_id = $1)",
        user_id,
        seq,
    )
    return previous or 0


# Rows per retention DELETE: each statement holds its locks briefly and writes a bounded burst
# of WAL, however much expired at once (a first run after an outage, a lowered retention).
PURGE_BATCH_ROWS = 5000
PURGE_SQL = (
    "DELETE FROM inbox_events WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM inbox_events WHERE created_at < now() - make_interval(secs => $1) "
    "LIMIT $2))"
)


async def purge_older_than(ctx: Context, retention_secs: int) -> int:
    """Drop events past retention, `PURGE_BATCH_ROWS` per statement until none are left;
    returns how many. `sync` from before them answers `recovered: false`."""
    total = 0
    while True:
        result = await ctx.db.execute(PURGE_SQL, retention_secs, PURGE_BATCH_ROWS)
        deleted = int(result.split()[-1])
        total += deleted
        if deleted < PURGE_BATCH_ROWS:
            return total
