"""Push intents: written with the event (hot path), turned into one job per device by the relay.

`record` costs a hug batch one multi-row INSERT, whatever its size, and nothing for batches
without pushable events. `jobs` runs in the worker's relay: one query for the devices of every
user in the batch, one job per (event, device) with a deterministic id, due `PUSH_GRACE_SECS`
after the event was written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from hugmood.core.context import Context
from hugmood.notify.events import PUSH_TOPIC, PUSHED
from hugmood.outbox import store as outbox


@dataclass(frozen=True, slots=True)
class PushJob:
    job_id: str  # push:<user>:<seq>:<device>: the same event and device is always the same job
    user_id: str
    seq: int
    device_id: str
    due: datetime


async def record(conn: asyncpg.Connection, events: list[tuple[uuid.UUID, int, str]]) -> None:
    """Write a push intent for each `(user_id, seq, type)` whose type is pushed, in `conn`'s
    transaction (the one that appends the events)."""
    payloads = [[str(user), seq] for user, seq, kind in events if kind in PUSHED]
    if payloads:
        await outbox.add(conn, PUSH_TOPIC, payloads)


def job_id(user_id: str, seq: int, device_id: str) -> str:
    return f"push:{user_id}:{seq}:{device_id}"


async def jobs(ctx: Context, intents: list[outbox.Intent]) -> list[PushJob]:
    """The push jobs for `intents`: one per device the user has now; users without devices
    need none (the inbox keeps their events)."""
    users = list({intent.payload[0] for intent in intents})
    rows = await ctx.db.fetch(
        "SELECT user_id::text, id::text FROM devices WHERE user_id = ANY($1::uuid[])", users
    )
    devices: dict[str, list[str]] = {}
    for row in rows:
        devices.setdefault(row["user_id"], []).append(row["id"])
    grace = timedelta(seconds=ctx.settings.push_grace_secs)
    return [
        PushJob(job_id(user, seq, device), user, seq, device, intent.created_at + grace)
        for intent in intents
        for user, seq in [intent.payload]
        for device in devices.get(user, ())
    ]
