"""`sync` (resume from the inbox, with a fresh snapshot) and `ack` (delivery receipts)."""

from __future__ import annotations

from typing import Any

from hugmood.delivery import inbox
from hugmood.delivery.connections import Live
from hugmood.delivery.models import AckIn, SyncIn
from hugmood.delivery.snapshot import snapshot
from hugmood.hugs import receipts
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def sync(svc: Services, live: Live, data: SyncIn) -> dict[str, Any]:
    result = await inbox.sync(svc.ctx, live.user_id, data.since, data.limit)
    return {
        "recovered": result.recovered,
        "events": result.events,
        "head": result.head,
        "has_more": result.has_more,
        "snapshot": await snapshot(svc.ctx, live.user_id),
    }


async def ack(svc: Services, live: Live, data: AckIn) -> dict[str, Any]:
    await receipts.acknowledge(svc.ctx, live.user_id, data.seq)
    return {}


EVENTS = {"sync": ClientEvent(SyncIn, sync), "ack": ClientEvent(AckIn, ack)}
