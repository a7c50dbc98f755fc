"""Mood entries: recording (stored, then `mood.updated` to exactly the allowed audience), the
owner's history, other people's feeds, and each person's latest entry for snapshots.

`mood.updated` is ephemeral: whoever misses it gets the latest mood in the next snapshot.
"""

from __future__ import annotations

import uuid

import asyncpg

from hugmood.core.context import Context
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page, PageQuery
from hugmood.core.turns import Turns
from hugmood.moods.models import MoodEntry, MoodUpdate, Visibility
from hugmood.social import privacy

BASE_COLUMNS = (
    "m.id, m.user_id, m.mood, m.intensity, m.valence, m.arousal, m.note, m.visibility, m.created_at"
)
# An entry's tags in byte order (COLLATE "C"), like Python's sorted() in `record`, whatever the
# database locale.
TAGS = (
    'coalesce((SELECT array_agg(t.tag ORDER BY t.tag COLLATE "C") '
    "FROM mood_entry_tags t WHERE t.mood_entry_id = {entry}), '{{}}')"
)
ENTRY_COLUMNS = f"{BASE_COLUMNS}, {TAGS.format(entry='m.id')} AS tags"


def _entry(row: asyncpg.Record, tags: list[str] | None = None) -> MoodEntry:
    values = {name: row[name] for name in MoodEntry.__struct_fields__ if name != "tags"}
    return MoodEntry(**values, tags=list(row["tags"]) if tags is None else tags)


# One owner's entries are stored and announced one at a time, in the order they came: else
# updates sent without waiting for each answer could reach followers out of order, and the
# last one they see would not be the owner's latest.
_turns: Turns[uuid.UUID] = Turns()


async def record(ctx: Context, user_id: uuid.UUID, data: MoodUpdate) -> tuple[MoodEntry, bool]:
    """Store an entry and its tags, then announce it to the owner's devices and audience; with
    a `client_id` used before, the first entry instead (announced then, not again). The
    second result is False for such a duplicate."""
    async with _turns.of(user_id):
        return await _record(ctx, user_id, data)


async def _record(ctx: Context, user_id: uuid.UUID, data: MoodUpdate) -> tuple[MoodEntry, bool]:
    tags = sorted(set(data.tags))
    async with ctx.db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO mood_entries AS m "
            "(user_id, mood, intensity, valence, arousal, note, visibility, client_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING "
            f"RETURNING {BASE_COLUMNS}",
            user_id,
            data.mood,
            data.intensity,
            data.valence,
            data.arousal,
            data.note,
            data.visibility,
            data.client_id,
        )
        if row is None:
            first = await conn.fetchrow(
                f"SELECT {ENTRY_COLUMNS} FROM mood_entries m "
                "WHERE m.user_id = $1 AND m.client_id = $2",
                user_id,
                data.client_id,
            )
            return _entry(first), False
        if tags:
            await conn.execute(
                "INSERT INTO mood_entry_tags (mood_entry_id, tag) SELECT $1, unnest($2::text[])",
                row["id"],
                tags,
            )
    entry = _entry(row, tags)
    tiers = await privacy.mood_tiers(ctx, user_id, data.visibility)
    await ctx.bus.to_audience(user_id, tiers, "mood.updated", entry, include_owner=True)
    return entry, True


async def _page(
    conn: asyncpg.Connection | asyncpg.Pool,
    owner: uuid.UUID,
    allowed: list[Visibility],
    query: PageQuery,
) -> Page[MoodEntry]:
    rows = await conn.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM mood_entries m WHERE m.user_id = $1 "
        "AND m.visibility = ANY($2::text[]) "
        "AND ($3::timestamptz IS NULL OR (m.created_at, m.id) < ($3, $4)) "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT $5",
        owner,
        allowed,
        *decode_cursor(query.cursor),
        query.limit + 1,
    )
    return page(rows, query.limit, _entry, lambda r: (r["created_at"], r["id"]))


async def feed(
    ctx: Context, viewer: uuid.UUID, owner: uuid.UUID, query: PageQuery
) -> Page[MoodEntry]:
    """`owner`'s entries that `viewer` may see (their own: all), newest first."""
    async with ctx.db.acquire() as conn:
        allowed = await privacy.mood_audience_for(conn, viewer, owner)
        if not allowed:
            return Page([], None)
        return await _page(conn, owner, allowed, query)


# Each owner's newest entry the viewer may see: per owner at most two probes of
# `mood_entries_user_visibility_created_idx` (the newest `everyone` entry and, when friends are
# granted, the newest `friends` one) instead of reading all their entries; tags only for the
# chosen rows. $1 the owners, $2 whether each granted `friends`; by owner id, as snapshots were.
LATEST_SQL = f"""
SELECT e.*, {TAGS.format(entry="e.id")} AS tags
FROM unnest($1::uuid[], $2::bool[]) AS g(owner, friends_ok)
CROSS JOIN LATERAL (
    SELECT c.* FROM (
        (SELECT {BASE_COLUMNS} FROM mood_entries m
         WHERE m.user_id = g.owner AND m.visibility = 'everyone'
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1)
        UNION ALL
        (SELECT {BASE_COLUMNS} FROM mood_entries m
         WHERE m.user_id = g.owner AND m.visibility = 'friends' AND g.friends_ok
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1)
    ) c
    ORDER BY c.created_at DESC, c.id DESC LIMIT 1
) e
ORDER BY e.user_id
"""


async def latest(ctx: Context, grants: dict[uuid.UUID, list[Visibility]]) -> list[MoodEntry]:
    """Each owner's newest entry among the visibilities granted to the viewer (newest by
    `created_at`, then `id`); owners with no such entry are left out."""
    if not grants:
        return []
    rows = await ctx.db.fetch(
        LATEST_SQL, list(grants), ["friends" in allowed for allowed in grants.values()]
    )
    return [_entry(row) for row in rows]
