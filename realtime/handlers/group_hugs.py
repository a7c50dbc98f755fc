"""`group_hug:create|invite|join|leave|cancel|squeeze` and `time:sync`."""

from __future__ import annotations

import time
from typing import Any

from hugmood.delivery.connections import Live
from hugmood.group_hugs import lifecycle
from hugmood.group_hugs.models import (
    GroupHugCreate,
    GroupHugInvite,
    GroupHugRef,
    Squeeze,
    TimeSync,
    TimeSyncIn,
)
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def create(svc: Services, live: Live, data: GroupHugCreate) -> dict[str, Any]:
    return {"group_hug": await lifecycle.create(svc.ctx, live.user_id, data)}


async def invite(svc: Services, live: Live, data: GroupHugInvite) -> dict[str, Any]:
    return {"group_hug": await lifecycle.invite(svc.ctx, live.user_id, data)}


async def join(svc: Services, live: Live, data: GroupHugRef) -> dict[str, Any]:
    return {"group_hug": await lifecycle.join(svc.ctx, live.user_id, data.group_hug_id)}


async def leave(svc: Services, live: Live, data: GroupHugRef) -> dict[str, Any]:
    return {"group_hug": await lifecycle.leave(svc.ctx, live.user_id, data.group_hug_id)}


async def cancel(svc: Services, live: Live, data: GroupHugRef) -> dict[str, Any]:
    return {"group_hug": await lifecycle.cancel(svc.ctx, live.user_id, data.group_hug_id)}


async def squeeze(svc: Services, live: Live, data: Squeeze) -> dict[str, Any]:
    await svc.pulses.squeeze(live.user_id, data)
    return {}


async def time_sync(svc: Services, live: Live, data: TimeSyncIn) -> dict[str, Any]:
    """Server receive and send times in epoch milliseconds; nothing awaited in between."""
    received = time.time() * 1000
    return {"time": TimeSync(data.t0, received, time.time() * 1000)}


EVENTS = {
    "group_hug:create": ClientEvent(GroupHugCreate, create),
    "group_hug:invite": ClientEvent(GroupHugInvite, invite),
    "group_hug:join": ClientEvent(GroupHugRef, join),
    "group_hug:leave": ClientEvent(GroupHugRef, leave),
    "group_hug:cancel": ClientEvent(GroupHugRef, cancel),
    "group_hug:squeeze": ClientEvent(Squeeze, squeeze),
    "time:sync": ClientEvent(TimeSyncIn, time_sync),
}
