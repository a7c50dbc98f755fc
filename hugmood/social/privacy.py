"""The privacy rules: the one module that decides who may hug whom, who sees whose presence and
moods, and in which audience room a follower sits. Every transport and fan-out path asks here.

Settings (`privacy_settings`, a row per user from registration on, all `friends` by default):
`allow_hugs_from`, `show_mood_to`, `show_activity_to`, each everyone / friends / nobody. Friends
are mutual follows; a block hides both people from each other whatever the settings. A mood
entry's own visibility (everyone / friends / private) can only narrow `show_mood_to`.

`audience_allows` is the rule; everything else here applies it: to a pair (`hug_refusals`, the
REST mood feed), to the tiers of audience rooms that live events go to (`tiers_for`), and to
the people a viewer's snapshot covers (`visible_people`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from redis.commands.core import AsyncScript

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.delivery.rooms import TIERS, Tier
from hugmood.moods.models import Visibility
from hugmood.social import relations
from hugmood.social.models import Audience, LostSight, Privacy
from hugmood.social.relations import Relation

_COLUMNS = "allow_hugs_from, show_mood_to, show_activity_to"
FORBIDDEN_HUG = "this user does not accept hugs from you"
# How long a copy of `show_activity_to` in Redis (`Keys.presence_audience`) lives: the presence
# script hands it back with each change, so announcing reads no database. A change deletes the
# copy before it commits and writes the new one after (versioned: see `_KEEP_NEWER`); only if
# Redis fails between the two while a reader refills the old value is the copy wrong, for at
# most this long.
AUDIENCE_COPY_TTL_SECS = 60


def audience_allows(audience: Audience, rel: Relation) -> bool:
    """Whether a setting admits the viewer standing towards its owner as `rel`."""
    if rel.blocked or audience == "nobody":
        return False
    return audience == "everyone" or rel.friends


def tier_of(rel: Relation) -> Tier | None:
    """Which of my audience rooms `other` belongs in: followers only see what I share with
    everyone, friends also what I share with friends; nobody else is in my rooms."""
    if rel.blocked or not rel.follows_me:
        return None
    return "friends" if rel.friends else "followers"


# A member of each tier, so the rooms a setting reaches follow from `audience_allows` itself.
_MEMBER: dict[Tier, Relation] = {
    "friends": Relation(blocked=False, friends=True, follows_me=True, following=True),
    "followers": Relation(blocked=False, friends=False, follows_me=True, following=False),
}


def tiers_for(audience: Audience) -> list[Tier]:
    """The audience-room tiers an event shown to `audience` goes to."""
    return [tier for tier in TIERS if audience_allows(audience, _MEMBER[tier])]


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


def _mood_grants(show_mood_to: Audience, rel: Relation) -> list[Visibility]:
    """Which entry visibilities of an owner with `show_mood_to` a viewer as `rel` may see."""
    return [v for v in ("everyone", "friends") if audience_allows(narrow(show_mood_to, v), rel)]


def _live_sight(settings: Privacy, rel: Relation) -> tuple[bool, set[Visibility]]:
    """What a viewer as `rel` sees of an owner live: presence, and which mood visibilities.
    Only followers sit in an owner's audience rooms, so only they see anything live."""
    if tier_of(rel) is None:
        return False, set()
    return audience_allows(settings.show_activity_to, rel), set(
        _mood_grants(settings.show_mood_to, rel)
    )


def _lost(
    before: tuple[bool, set[Visibility]], after: tuple[bool, set[Visibility]]
) -> tuple[bool, bool]:
    (presence_before, moods_before), (presence_after, moods_after) = before, after
    return presence_before and not presence_after, bool(moods_before - moods_after)


def lost_sight(settings: Privacy, old: Relation, new: Relation) -> tuple[bool, bool]:
    """Whether a viewer whose relation went from `old` to `new` lost sight of the owner's
    presence, and of some of their moods: they then get `presence.hidden` / `mood.hidden`."""
    return _lost(_live_sight(settings, old), _live_sight(settings, new))


def tiers_losing_sight(old: Privacy, new: Privacy) -> tuple[list[Tier], list[Tier]]:
    """The audience tiers that lose sight of the owner's presence, and of some moods, when the
    owner's settings change from `old` to `new`."""
    lost = {t: _lost(_live_sight(old, _MEMBER[t]), _live_sight(new, _MEMBER[t])) for t in TIERS}
    return [t for t in TIERS if lost[t][0]], [t for t in TIERS if lost[t][1]]


# --- the settings --------------------------------------------------------------------------


async def get(ctx: Context, user_id: uuid.UUID) -> Privacy:
    return Privacy(**dict(await _settings(ctx.db, user_id, "user not found")))


async def put(ctx: Context, user_id: uuid.UUID, settings: Privacy) -> Privacy:
    """Replace all three settings; the owner's other devices get `privacy.updated`, and
    followers who lose sight of the owner get `presence.hidden` / `mood.hidden`. The Redis
    copy of `show_activity_to` goes before the commit (Redis down: nothing changes) and comes
    back after it, so no announcement after the change uses the old audience."""
    await ctx.redis.delete(ctx.keys.presence_audience(user_id))
    row = await ctx.db.fetchrow(
        # clock_timestamp(): taken once the row is locked, so a later change has a later one
        "UPDATE privacy_settings p SET allow_hugs_from = $2, show_mood_to = $3, "
        "show_activity_to = $4, updated_at = clock_timestamp() "
        f"FROM (SELECT {_COLUMNS} FROM privacy_settings WHERE user_id = $1 FOR UPDATE) old "
        "WHERE p.user_id = $1 RETURNING old.allow_hugs_from, old.show_mood_to, "
        "old.show_activity_to, p.updated_at",
        user_id,
        settings.allow_hugs_from,
        settings.show_mood_to,
        settings.show_activity_to,
    )
    if row is None:
        raise AppError("not_found", "user not found")
    await _keep_copy(ctx, user_id, row["updated_at"], settings.show_activity_to)
    old = Privacy(row["allow_hugs_from"], row["show_mood_to"], row["show_activity_to"])
    presence_lost, moods_lost = tiers_losing_sight(old, settings)
    await ctx.bus.to_user(user_id, "privacy.updated", settings)
    seen = LostSight(user_id)
    if presence_lost:
        await ctx.bus.to_audience(user_id, presence_lost, "presence.hidden", seen, False)
    if moods_lost:
        await ctx.bus.to_audience(user_id, moods_lost, "mood.hidden", seen, False)
    return settings


async def settings_of(
    conn: asyncpg.Connection, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Privacy]:
    rows = await conn.fetch(
        f"SELECT user_id, {_COLUMNS} FROM privacy_settings WHERE user_id = ANY($1::uuid[])",
        user_ids,
    )
    return {row["user_id"]: Privacy(*row[1:]) for row in rows}


async def _settings(
    conn: asyncpg.Connection | asyncpg.Pool, owner: uuid.UUID, missing: str = "no such user"
) -> asyncpg.Record:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM privacy_settings WHERE user_id = $1", owner)
    if row is None:
        raise AppError("not_found", missing)
    return row


# --- applying the rule ---------------------------------------------------------------------


# Writes the copy "<version> <show_activity_to>" unless the copy holds a newer version, so a
# reader refilling what it read before a change can never overwrite the change's own write.
# KEYS: 1 copy. ARGV: 1 version (the row's updated_at, epoch microseconds), 2 value, 3 ttl.
_KEEP_NEWER = AsyncScript(
    None,
    b"""
local old = redis.call('GET', KEYS[1])
if old and tonumber(string.match(old, '^%d+')) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
""",
)


async def _keep_copy(ctx: Context, owner: uuid.UUID, updated_at: datetime, audience: str) -> None:
    version = int(updated_at.timestamp() * 1_000_000)
    key = ctx.keys.presence_audience(owner)
    await _KEEP_NEWER(
        keys=[key], args=[version, audience, AUDIENCE_COPY_TTL_SECS], client=ctx.redis
    )


async def activity_tiers(ctx: Context, owner: uuid.UUID, copy: bytes | None = None) -> list[Tier]:
    """Where the owner's presence goes now: from `copy` (the Redis copy of `show_activity_to`
    as the presence script read it), else from PostgreSQL, refilling the copy."""
    if copy is not None:
        return tiers_for(copy.split(b" ", 1)[1].decode())  # type: ignore[arg-type]
    row = await ctx.db.fetchrow(
        "SELECT show_activity_to, updated_at FROM privacy_settings WHERE user_id = $1", owner
    )
    if row is None:
        raise AppError("not_found", "no such user")
    await _keep_copy(ctx, owner, row["updated_at"], row["show_activity_to"])
    return tiers_for(row["show_activity_to"])


async def mood_tiers(ctx: Context, owner: uuid.UUID, entry: Visibility) -> list[Tier]:
    """Where one of the owner's mood entries goes now."""
    return tiers_for(narrow((await _settings(ctx.db, owner))["show_mood_to"], entry))


async def audience_tiers(
    conn: asyncpg.Connection, viewer: uuid.UUID
) -> list[tuple[uuid.UUID, Tier]]:
    """Each audience `viewer` belongs in (everyone they follow, blocks aside), with the tier."""
    return [
        (owner, tier)
        for owner, rel in await relations.followed(conn, viewer)
        if (tier := tier_of(rel)) is not None
    ]


async def friend_ids(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    return [owner for owner, tier in await audience_tiers(conn, user_id) if tier == "friends"]


async def visible_people(
    conn: asyncpg.Connection, viewer: uuid.UUID
) -> tuple[list[uuid.UUID], dict[uuid.UUID, list[Visibility]]]:
    """Of the people `viewer` follows: whose presence they may see live, and which entry
    visibilities of whose moods."""
    followed = await relations.followed(conn, viewer)
    if not followed:
        return [], {}
    rows = await conn.fetch(
        f"SELECT user_id, {_COLUMNS} FROM privacy_settings WHERE user_id = ANY($1::uuid[])",
        [owner for owner, _ in followed],
    )
    settings = {row["user_id"]: row for row in rows}
    activity: list[uuid.UUID] = []
    moods: dict[uuid.UUID, list[Visibility]] = {}
    for owner, rel in followed:
        if (row := settings.get(owner)) is None:
            continue
        if audience_allows(row["show_activity_to"], rel):
            activity.append(owner)
        if grants := _mood_grants(row["show_mood_to"], rel):
            moods[owner] = grants
    return activity, moods


async def mood_audience_for(
    conn: asyncpg.Connection, viewer: uuid.UUID, owner: uuid.UUID
) -> list[Visibility]:
    """Which entry visibilities of `owner` the `viewer` may read in the feed (empty: none)."""
    if viewer == owner:
        return ["everyone", "friends", "private"]
    show = (await _settings(conn, owner))["show_mood_to"]
    rel = await relations.relation(conn, owner, viewer)
    if rel.blocked:
        raise AppError("not_found", "no such user")
    return _mood_grants(show, rel)


async def hug_refusals(
    conn: asyncpg.Connection, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> list[AppError | None]:
    """For each `(sender, recipient)`, in order: None if the recipient's allow_hugs_from admits
    the sender, else the refusal on `to`: `not_found` for no such user and, since a block looks
    like absence, for a block either way; `forbidden` when the setting does not admit the
    sender. Two queries for any number."""
    allow = dict(
        await conn.fetch(
            "SELECT user_id, allow_hugs_from FROM privacy_settings WHERE user_id = ANY($1::uuid[])",
            list({recipient for _, recipient in pairs}),
        )
    )
    rels = await relations.relations(conn, [(recipient, sender) for sender, recipient in pairs])
    refusals: list[AppError | None] = []
    for (_, recipient), rel in zip(pairs, rels, strict=True):
        if (audience := allow.get(recipient)) is None or rel.blocked:
            refusals.append(AppError("not_found", "no such user", "to"))
        elif not audience_allows(audience, rel):
            refusals.append(AppError("forbidden", FORBIDDEN_HUG, "to"))
        else:
            refusals.append(None)
    return refusals
