"""The snapshot a client gets on connect and with every `sync`: current presence and latest
moods of exactly the people it may see now, instead of a replay of ephemeral events."""

from __future__ import annotations

import uuid

from hugmood import moods, presence, visibility
from hugmood.context import Context
from hugmood.models import Snapshot


async def snapshot(ctx: Context, viewer: uuid.UUID) -> Snapshot:
    async with ctx.db.acquire() as conn:
        activity, mood_grants = await visibility.visible_people(conn, viewer)
    return Snapshot(
        presence=await presence.snapshot(ctx, activity),
        moods=await moods.latest(ctx, mood_grants),
    )
