"""Writing and relaying outbox intents.

Guarantees:
- `add` runs in the caller's transaction: an intent exists exactly when the fact it follows
  from committed, whatever happens to the process right after the commit.
- `relay` hands each intent to its topic's handler at least once and deletes it only in the
  same transaction, after the handler returned: a relay killed half-way leaves the intents for
  the next run. Handlers must therefore be idempotent (arq jobs with deterministic ids are).
- Two relays never take the same intent at once (`FOR UPDATE SKIP LOCKED`); each takes the
  oldest first, so an intent waits behind at most the batches before it.
- Topics a relay has no handler for are left alone, for the process that has one.

A worker runs `relay_forever` with the handlers of every topic it serves (one loop, one poll).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from hugmood.core.context import Context
from hugmood.core.outages import DATABASE_DOWN, NETWORK_DOWN, REDIS_DOWN, Outages

RELAY_BATCH = 500  # intents per relay transaction: bounds its locks and the handler's burst

_encoder = msgspec.json.Encoder()
log = logging.getLogger("hugmood.outbox")


@dataclass(frozen=True, slots=True)
class Intent:
    id: int
    topic: str
    payload: Any  # the decoded JSON that `add` was given
    created_at: datetime


Handler = Callable[[list[Intent]], Awaitable[None]]


async def add(conn: asyncpg.Connection, topic: str, payloads: list[Any]) -> None:
    """Write one intent per payload (JSON-encodable) in one statement, in `conn`'s transaction."""
    await conn.execute(
        "INSERT INTO outbox (topic, payload) SELECT $1, p FROM unnest($2::text[]::jsonb[]) AS p",
        topic,
        [_encoder.encode(payload).decode() for payload in payloads],
    )


async def relay(ctx: Context, handlers: Mapping[str, Handler], limit: int = RELAY_BATCH) -> int:
    """Hand the oldest pending intents (up to `limit`) to their topics' handlers, then delete
    them; returns how many were relayed. A handler that raises rolls the batch back."""
    async with ctx.db.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, topic, payload::text AS payload, created_at FROM outbox "
            "WHERE topic = ANY($1::text[]) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            list(handlers),
            limit,
        )
        if not rows:
            return 0
        by_topic: dict[str, list[Intent]] = {}
        for row in rows:
            intent = Intent(
                row["id"], row["topic"], msgspec.json.decode(row["payload"]), row["created_at"]
            )
            by_topic.setdefault(intent.topic, []).append(intent)
        for topic, intents in by_topic.items():
            await handlers[topic](intents)
        await conn.execute(
            "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [row["id"] for row in rows]
        )
    return len(rows)


async def relay_forever(ctx: Context, handlers: Mapping[str, Handler]) -> None:
    """`relay` until cancelled: at once again after a full batch, else every
    `OUTBOX_POLL_SECS`. A database or Redis outage is logged once and waited out (the intents
    stay); a handler's bug is logged and the loop goes on."""
    outages = Outages()
    while True:
        try:
            relayed = await relay(ctx, handlers)
        except DATABASE_DOWN + REDIS_DOWN + NETWORK_DOWN as exc:
            outages.failed(exc)
            relayed = 0
        except Exception:
            log.exception("outbox relay failed", extra={"topics": sorted(handlers)})
            relayed = 0
        else:
            outages.succeeded()
        if relayed < RELAY_BATCH:
            await asyncio.sleep(ctx.settings.outbox_poll_secs)
