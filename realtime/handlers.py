"""One small handler per client event: decode the Struct, call one domain function, answer.

`EVENTS` maps each event name to its payload Struct and handler; the server's dispatcher does
the shared work (auth context, rate limit, validation, error mapping) for all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hugmood import hugs, inbox, moods, presence, receipts
from hugmood.context import Context
from hugmood.models import (
    AckIn,
    HugReact,
    HugRead,
    HugRequest,
    HugSend,
    Inbound,
    MoodUpdate,
    PresenceSet,
    Principal,
    SyncIn,
)
from hugmood.snapshot import snapshot

Handler = Callable[[Context, Principal, str, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    payload: type[Inbound]
    handler: Handler


async def hug_send(ctx: Context, caller: Principal, sid: str, data: HugSend) -> dict[str, Any]:
    hug, created = await hugs.send(ctx, caller.user_id, data)
    return {"hug": hug, "duplicate": not created}


async def hug_read(ctx: Context, caller: Principal, sid: str, data: HugRead) -> dict[str, Any]:
    return {"receipt": await receipts.mark_read(ctx, caller.user_id, data.hug_id)}


async def hug_react(ctx: Context, caller: Principal, sid: str, data: HugReact) -> dict[str, Any]:
    return {"reaction": await receipts.react(ctx, caller.user_id, data)}


async def hug_request(
    ctx: Context, caller: Principal, sid: str, data: HugRequest
) -> dict[str, Any]:
    return {"request_id": await hugs.request(ctx, caller.user_id, data)}


async def sync(ctx: Context, caller: Principal, sid: str, data: SyncIn) -> dict[str, Any]:
    result = await inbox.sync(ctx, caller.user_id, data.since, data.limit)
    return {
        "recovered": result.recovered,
        "events": result.events,
        "head": result.head,
        "has_more": result.has_more,
        "snapshot": await snapshot(ctx, caller.user_id),
    }


async def ack(ctx: Context, caller: Principal, sid: str, data: AckIn) -> dict[str, Any]:
    await receipts.acknowledge(ctx, caller.user_id, data.seq)
    return {}


async def presence_set(
    ctx: Context, caller: Principal, sid: str, data: PresenceSet
) -> dict[str, Any]:
    await presence.set_status(ctx, caller.user_id, sid, data.status)
    return {}


async def mood_update(
    ctx: Context, caller: Principal, sid: str, data: MoodUpdate
) -> dict[str, Any]:
    return {"entry": await moods.record(ctx, caller.user_id, data)}


EVENTS: dict[str, ClientEvent] = {
    "hug:send": ClientEvent(HugSend, hug_send),
    "hug:read": ClientEvent(HugRead, hug_read),
    "hug:react": ClientEvent(HugReact, hug_react),
    "hug:request": ClientEvent(HugRequest, hug_request),
    "sync": ClientEvent(SyncIn, sync),
    "ack": ClientEvent(AckIn, ack),
    "presence:set": ClientEvent(PresenceSet, presence_set),
    "mood:update": ClientEvent(MoodUpdate, mood_update),
}
