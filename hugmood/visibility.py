"""Who sees a user's activity (presence) and moods: `show_activity_to` / `show_mood_to`,
narrowed per mood entry by its own visibility, over the viewer's tier (friend or follower).

Live events reach the owner's followers through audience rooms by tier; the REST feed applies
the same rules to any viewer, so what a stranger can fetch is exactly what "everyone" means.
"""

from __future__ import annotations

import uuid

import asyncpg

from hugmood import social
from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.events import Tier
from hugmood.models import Audience, Visibility

_NARROW: dict[Visibility, Audience] = {
    "everyone": "everyone",
    "friends": "friends",
    "private": "nobody",
}
_STRICTNESS: dict[Audience, int] = {"everyone": 0, "friends": 1, "nobody": 2}


def narrow(audience: Audience, visibility: Visibility) -> Audience:
    """The stricter of the owner's setting and the entry's own visibility."""
    entry = _NARROW[visibility]
    return entry if _STRICTNESS[entry] > _STRICTNESS[audience] else audience


def tiers_for(audience: Audience) -> list[Tier]:
    return {"everyone": ["friends", "followers"], "friends": ["friends"], "nobody": []}[audience]


async def _settings(conn: asyncpg.Connection | asyncpg.Pool, owner: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT show_mood_to, show_activity_to FROM privacy_settings WHERE user_id = $1", owner
    )
    if row is None:
        raise AppError("not_found", "no such user")
    return row


async def activity_tiers(ctx: Context, owner: uuid.UUID) -> list[Tier]:
    return tiers_for((await _settings(ctx.db, owner))["show_activity_to"])


async def mood_tiers(ctx: Context, owner: uuid.UUID, entry: Visibility) -> list[Tier]:
    return tiers_for(narrow((await _settings(ctx.db, owner))["show_mood_to"], entry))


async def visible_people(
    conn: asyncpg.Connection, viewer: uuid.UUID
) -> tuple[list[uuid.UUID], dict[uuid.UUID, list[Visibility]]]:
    """Whose presence `viewer` may see live, and which entry visibilities of whose moods."""
    tiers = dict(await social.audience_tiers(conn, viewer))
    if not tiers:
        return [], {}
    rows = await conn.fetch(
        "SELECT user_id, show_activity_to, show_mood_to FROM privacy_settings "
        "WHERE user_id = ANY($1::uuid[])",
        list(tiers),
    )
    activity = [
        r["user_id"] for r in rows if tiers[r["user_id"]] in tiers_for(r["show_activity_to"])
    ]
    moods: dict[uuid.UUID, list[Visibility]] = {}
    for r in rows:
        allowed: list[Visibility] = [
            v
            for v in ("everyone", "friends")
            if tiers[r["user_id"]] in tiers_for(narrow(r["show_mood_to"], v))
        ]
        if allowed:
            moods[r["user_id"]] = allowed
    return activity, moods


async def mood_audience_for(
    conn: asyncpg.Connection, viewer: uuid.UUID, owner: uuid.UUID
) -> list[Visibility]:
    """Which entry visibilities of `owner` the `viewer` may read in the feed (empty: none)."""
    if viewer == owner:
        return ["everyone", "friends", "private"]
    show = (await _settings(conn, owner))["show_mood_to"]
    rel = await social.relation(conn, owner, viewer)
    if rel.blocked:
        raise AppError("not_found", "no such user")
    return [v for v in ("everyone", "friends") if social.audience_allows(narrow(show, v), rel)]
