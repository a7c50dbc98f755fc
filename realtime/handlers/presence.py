"""`presence:set`: this connection's own status (the user's is merged over all of theirs)."""

from __future__ import annotations

from typing import Any

from hugmood.delivery.connections import Live
from hugmood.presence import status
from hugmood.presence.models import PresenceSet
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def presence_set(svc: Services, live: Live, data: PresenceSet) -> dict[str, Any]:
    await status.set_status(svc.ctx, live.user_id, live.sid, data.status)
    live.status = data.status  # what the heartbeat registers it with, should its entry be lost
    return {}


EVENTS = {"presence:set": ClientEvent(PresenceSet, presence_set)}
