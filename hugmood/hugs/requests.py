"""'I need a hug': a request that reaches each chosen person whose settings admit the requester,
as a durable `hug.requested`; who was skipped is never revealed."""

from __future__ import annotations

import uuid

from hugmood.core.context import Context
from hugmood.core.ratelimit import RateLimiter
from hugmood.delivery import inbox
from hugmood.hugs.models import HugRequest, HugRequested
from hugmood.identity.users import fetch_card
from hugmood.social import privacy


async def request(
    ctx: Context, limiter: RateLimiter, requester_id: uuid.UUID, data: HugRequest
) -> uuid.UUID:
    """Ask for a hug: `hug.requested` reaches each target whose allow_hugs_from admits the
    requester. Who was skipped is not revealed. Returns the request id."""
    await limiter.hit("hug request", str(requester_id), ctx.settings.rate_hug_request)
    async with ctx.db.acquire() as conn:
        if data.to == "friends":
            targets = await privacy.friend_ids(conn, requester_id)
        else:
            targets = list(dict.fromkeys(t for t in data.to if t != requester_id))
        refusals = await privacy.hug_refusals(conn, [(requester_id, target) for target in targets])
        allowed = [t for t, refusal in zip(targets, refusals, strict=True) if refusal is None]
        async with conn.transaction():
            card = await fetch_card(conn, requester_id)
            request_id = await conn.fetchval(
                "INSERT INTO hug_requests (requester_id, message) VALUES ($1, $2) RETURNING id",
                requester_id,
                data.message,
            )
            event = HugRequested(request_id, card, data.message)
            deliveries = (
                await inbox.append(conn, [(t, "hug.requested", event) for t in allowed])
                if allowed
                else []
            )
    await inbox.publish(ctx, deliveries)
    return request_id
