"""`sync` (resume from the inbox, with a fresh snapshot) and `ack` (delivery receipts)."""

from __future__ import annotations

from typing import Any

from hugmood.delivery import inbox
from hugmood.delivery.models import AckIn, SyncIn
from hugmood.delivery.snapshot import snapshot
from hugmood.hugs import receipts
from hugmood.identity.models import Principal
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def sync(svc: Services, caller: Principal, sid: str, data: SyncIn) -> dict[str, Any]:
    result = await inbox.sync(svc.ctx, caller.user_id, data.since, data.limit)
    return {
        "recovered": result.recovered,
        "events": result.events,
        "head": result.head,
        "has_more": result.has_more,
        "snapshot": await snapshot(svc.ctx, caller.user_id),
    }


async def ack(svc: Services, caller: Principal, sid: str, data: AckIn) -> dict[str, Any]:
    await receipts.acknowledge(svc.ctx, caller.user_id, data.seq)
    return {}


EVENTS = {"sync": ClientEvent(SyncIn, sync), "ack": ClientEvent(AckIn, ack)}
