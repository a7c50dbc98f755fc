"""`hug:send`, `hug:read`, `hug:react`, `hug:request`."""

from __future__ import annotations

from typing import Any

from hugmood.delivery.connections import Live
from hugmood.hugs import receipts, requests
from hugmood.hugs.models import HugReact, HugRead, HugRequest, HugSend
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def hug_send(svc: Services, live: Live, data: HugSend) -> dict[str, Any]:
    hug, created = await svc.hug_sender.send(live.user_id, data)
    return {"hug": hug, "duplicate": not created}


async def hug_read(svc: Services, live: Live, data: HugRead) -> dict[str, Any]:
    return {"receipt": await receipts.mark_read(svc.ctx, live.user_id, data.hug_id)}


async def hug_react(svc: Services, live: Live, data: HugReact) -> dict[str, Any]:
    return {"reaction": await receipts.react(svc.ctx, live.user_id, data)}


async def hug_request(svc: Services, live: Live, data: HugRequest) -> dict[str, Any]:
    return {"request_id": await requests.request(svc.ctx, svc.limiter, live.user_id, data)}


EVENTS = {
    "hug:send": ClientEvent(HugSend, hug_send),
    "hug:read": ClientEvent(HugRead, hug_read),
    "hug:react": ClientEvent(HugReact, hug_react),
    "hug:request": ClientEvent(HugRequest, hug_request),
}
