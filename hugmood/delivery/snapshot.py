"""The snapshot a client gets on connect and with every `sync`: current presence and latest
moods of exactly the people it may see now, instead of a replay of ephemeral events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hugmood.core.context import Context
from hugmood.delivery.models import Snapshot
from hugmood.group_hugs import store as group_hug_store
from hugmood.moods import entries
from hugmood.presence import status
from hugmood.social import privacy


async def snapshot(ctx: Context, viewer: uuid.UUID) -> Snapshot:
    async with ctx.db.acquire() as conn:
        activity, mood_grants = await privacy.visible_people(conn, viewer)
        group_hugs = await group_hug_store.open_states(conn, viewer, datetime.now(UTC))
    return Snapshot(
        presence=await status.snapshot(ctx, activity),
        moods=await entries.latest(ctx, mood_grants),
        group_hugs=group_hugs,
    )
