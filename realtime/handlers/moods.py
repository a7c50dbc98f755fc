"""`mood:update`: record an entry; the allowed audience gets `mood.updated`."""

from __future__ import annotations

from typing import Any

from hugmood.delivery.connections import Live
from hugmood.moods import entries
from hugmood.moods.models import MoodUpdate
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def mood_update(svc: Services, live: Live, data: MoodUpdate) -> dict[str, Any]:
    entry, created = await entries.record(svc.ctx, live.user_id, data)
    return {"entry": entry, "duplicate": not created}


EVENTS = {"mood:update": ClientEvent(MoodUpdate, mood_update)}
