"""One push job: decide whether the event still needs a push to this device, then send it.

Judged when the job runs (`PUSH_GRACE_SECS` after the event), in this order, each a reason
counted in `hugmood_push_skipped_total` or `hugmood_push_held_total`:
- `sent`: this job's push already went out (a re-run): nothing, so nothing pushes twice;
- `online`: the user has a live connection (that is not DnD): the socket has the event;
- `dnd` (held): a live connection is in do-not-disturb, or DnD is the last status announced;
- `gone`: the event or the device is gone (retention, unregistered, moved to another user);
- `acked`: a device of the user acknowledged the event already;
- `muted` / `quiet_hours` (held): the user's preferences; the inbox keeps the event;
- `no_provider`: the platform has no credentials in this deployment.
Otherwise the provider gets it; tokens it rejects are deleted. `TryAgain` reaches the job.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from redis.commands.core import AsyncScript

from hugmood.core.context import Context
from hugmood.core.keys import PUSH_SENT_TTL_SECS
from hugmood.notify import content, devices, metrics
from hugmood.notify.events import PUSHED
from hugmood.notify.intents import job_id
from hugmood.notify.provider import Provider, TryAgain

log = logging.getLogger("hugmood.push")

# KEYS: presence conns (zset sid -> expiry), statuses (hash sid -> status), announced status,
# this job's sent marker. Returns {live non-DnD connections, live DnD connections, announced
# status, whether the push was sent already}; liveness by Redis's clock, as presence does.
_PRESENCE = AsyncScript(
    None,
    b"""
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local online, dnd = 0, 0
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  if redis.call('HGET', KEYS[2], sid) == 'dnd' then dnd = dnd + 1 else online = online + 1 end
end
return {online, dnd, redis.call('GET', KEYS[3]) or 'offline', redis.call('EXISTS', KEYS[4])}
""",
)

_JOB = """
SELECT e.type, e.payload::text AS payload, d.platform, d.token, d.locale,
       e.seq <= COALESCE(a.seq, 0) AS acked,
       n.muted,
       n.quiet_start IS NOT NULL AND CASE
         WHEN n.quiet_start < n.quiet_end THEN l.t >= n.quiet_start AND l.t < n.quiet_end
         ELSE l.t >= n.quiet_start OR l.t < n.quiet_end END AS quiet
FROM users u
JOIN inbox_events e ON e.user_id = u.id AND e.seq = $2
JOIN devices d ON d.id = $3 AND d.user_id = u.id
LEFT JOIN inbox_acks a ON a.user_id = u.id
LEFT JOIN notification_settings n ON n.user_id = u.id
CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE u.time_zone)::time AS t) l
WHERE u.id = $1
"""

# Badge (unread hugs) and the other person's name: the event's actor, or for a reaction the
# hug's recipient (who reacted).
_DETAILS = """
SELECT (SELECT count(*) FROM hugs WHERE recipient_id = $1 AND read_at IS NULL) AS unread,
       (SELECT COALESCE(display_name, username) FROM users
        WHERE id = COALESCE($2, (SELECT recipient_id FROM hugs WHERE id = $3))) AS name
"""


def _actor(kind: str, data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(user id to name, hug id whose recipient to name, name given by the event)."""
    if kind == "hug.received":
        return data.get("sender_id"), None, None
    if kind == "hug.reacted":
        return None, data.get("hug_id"), None
    person = data.get("requester") or data.get("host") or {}
    return None, None, person.get("display_name") or person.get("username")


def _skip(reason: str, held: bool = False) -> str:
    metrics.inc("hugmood_push_held_total" if held else "hugmood_push_skipped_total", reason=reason)
    return reason


async def deliver(
    ctx: Context, providers: dict[str, Provider], user_id: str, seq: int, device_id: str
) -> str:
    """Push inbox event `seq` of `user_id` to `device_id` if it still needs one; returns what
    happened: `answered` (the provider answered; its verdict is counted), `token_deleted`,
    or the reason it was not sent."""
    keys, job = ctx.keys, job_id(user_id, seq, device_id)
    online, dnd, announced, sent = await _PRESENCE(
        keys=[
            keys.presence_conns(user_id),
            keys.presence_statuses(user_id),
            keys.presence_announced(user_id),
            keys.push_sent(job),
        ],
        client=ctx.redis,
    )
    if sent:
        return _skip("sent")
    if online:
        return _skip("online")
    if dnd or announced == b"dnd":
        return _skip("dnd", held=True)
    row = await ctx.db.fetchrow(_JOB, uuid.UUID(user_id), seq, uuid.UUID(device_id))
    if row is None or row["type"] not in PUSHED:
        return _skip("gone")
    if row["acked"]:
        return _skip("acked")
    if PUSHED[row["type"]] in (row["muted"] or ()):
        return _skip("muted", held=True)
    if row["quiet"]:
        return _skip("quiet_hours", held=True)
    provider = providers.get(row["platform"])
    if provider is None:
        return _skip("no_provider")
    kind, data = row["type"], msgspec.json.decode(row["payload"])
    actor, hug, name = _actor(kind, data)
    details = await ctx.db.fetchrow(
        _DETAILS,
        uuid.UUID(user_id),
        uuid.UUID(actor) if actor else None,
        uuid.UUID(hug) if hug else None,
    )
    note = content.build(
        kind,
        seq,
        data,
        locale=row["locale"],
        name=name or details["name"],
        badge=details["unread"],
        ttl_secs=ctx.settings.push_ttl_secs,
    )
    try:
        rejected = await provider.send(note, [row["token"]])
    except TryAgain as again:
        await devices.forget_tokens(ctx, provider.name, again.rejected)
        raise
    if rejected:
        await devices.forget_tokens(ctx, provider.name, rejected)
        metrics.inc("hugmood_push_tokens_deleted_total", len(rejected), provider=provider.name)
        return "token_deleted"
    await ctx.redis.set(keys.push_sent(job), b"1", ex=PUSH_SENT_TTL_SECS)
    return "answered"
