"""Mood entries: recording (stored, then `mood.updated` to exactly the allowed audience), the
owner's history, aggregates and streak in their own time zone, and other people's feeds.

`mood.updated` is ephemeral: whoever misses it gets the latest mood in the next snapshot.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from hugmood import visibility
from hugmood.context import Context
from hugmood.models import (
    MoodBucket,
    MoodEntry,
    MoodPage,
    MoodStats,
    MoodStatsQuery,
    MoodUpdate,
    PageQuery,
    Streak,
    Visibility,
)
from hugmood.pagination import decode_cursor, encode_cursor

BASE_COLUMNS = (
    "m.id, m.user_id, m.mood, m.intensity, m.valence, m.arousal, m.note, m.visibility, m.created_at"
)
ENTRY_COLUMNS = (
    # Byte order (COLLATE "C"), like Python's sorted() in `record`, whatever the database locale.
    f'{BASE_COLUMNS}, coalesce((SELECT array_agg(t.tag ORDER BY t.tag COLLATE "C") '
    "FROM mood_entry_tags t WHERE t.mood_entry_id = m.id), '{}') AS tags"
)
STREAK_SCAN_DAYS = 3660  # a decade of daily entries bounds the scan


def _entry(row: asyncpg.Record, tags: list[str] | None = None) -> MoodEntry:
    values = {name: row[name] for name in MoodEntry.__struct_fields__ if name != "tags"}
    return MoodEntry(**values, tags=list(row["tags"]) if tags is None else tags)


async def record(ctx: Context, user_id: uuid.UUID, data: MoodUpdate) -> MoodEntry:
    """Store an entry and its tags, then announce it to the owner's devices and audience."""
    tags = sorted(set(data.tags))
    async with ctx.db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO mood_entries AS m "
            "(user_id, mood, intensity, valence, arousal, note, visibility) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {BASE_COLUMNS}",
            user_id,
            data.mood,
            data.intensity,
            data.valence,
            data.arousal,
            data.note,
            data.visibility,
        )
        if tags:
            await conn.execute(
                "INSERT INTO mood_entry_tags (mood_entry_id, tag) SELECT $1, unnest($2::text[])",
                row["id"],
                tags,
            )
    entry = _entry(row, tags)
    tiers = await visibility.mood_tiers(ctx, user_id, data.visibility)
    await ctx.bus.to_audience(user_id, tiers, "mood.updated", entry, include_owner=True)
    return entry


async def _page(
    conn: asyncpg.Connection | asyncpg.Pool,
    owner: uuid.UUID,
    allowed: list[Visibility],
    query: PageQuery,
) -> MoodPage:
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
    items = [_entry(row) for row in rows[: query.limit]]
    last = items[-1] if len(rows) > query.limit else None
    return MoodPage(items, encode_cursor(last.created_at, last.id) if last else None)


async def feed(ctx: Context, viewer: uuid.UUID, owner: uuid.UUID, query: PageQuery) -> MoodPage:
    """`owner`'s entries that `viewer` may see (their own: all), newest first."""
    async with ctx.db.acquire() as conn:
        allowed = await visibility.mood_audience_for(conn, viewer, owner)
        if not allowed:
            return MoodPage([], None)
        return await _page(conn, owner, allowed, query)


async def _time_zone(ctx: Context, user_id: uuid.UUID) -> str:
    return await ctx.db.fetchval("SELECT time_zone FROM users WHERE id = $1", user_id)


async def stats(ctx: Context, user_id: uuid.UUID, query: MoodStatsQuery) -> MoodStats:
    """Per local day/week/month: entry count, count per mood, mean valence and arousal."""
    tz = await _time_zone(ctx, user_id)
    rows = await ctx.db.fetch(
        """
        WITH local AS (
          SELECT date_trunc($2, created_at AT TIME ZONE $3)::date AS start, mood, valence, arousal
          FROM mood_entries WHERE user_id = $1
        ), buckets AS (
          SELECT start, count(*) AS entries, avg(valence) AS valence, avg(arousal) AS arousal
          FROM local GROUP BY start ORDER BY start DESC LIMIT $4
        )
        SELECT b.start, b.entries, b.valence, b.arousal,
               (SELECT jsonb_object_agg(mood, n) FROM
                  (SELECT mood, count(*) AS n FROM local l WHERE l.start = b.start GROUP BY mood) c
               ) AS moods
        FROM buckets b ORDER BY b.start DESC
        """,
        user_id,
        query.period,
        tz,
        query.limit,
    )
    buckets = [
        MoodBucket(
            start=r["start"].isoformat(),
            entries=r["entries"],
            moods=r["moods"],
            mean_valence=round(r["valence"], 4),
            mean_arousal=round(r["arousal"], 4),
        )
        for r in rows
    ]
    return MoodStats(period=query.period, time_zone=tz, buckets=buckets)


def _runs(days: list[date]) -> list[tuple[date, int]]:
    """(last day, length) of each run of consecutive days, from newest; `days` newest first."""
    runs: list[tuple[date, int]] = []
    for day in days:
        if runs and runs[-1][0] - timedelta(days=runs[-1][1]) == day:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    return runs


async def streak(ctx: Context, user_id: uuid.UUID, now: datetime | None = None) -> Streak:
    """Consecutive local days with at least one entry. The current streak counts if its last
    day is today or yesterday (today is not over yet)."""
    tz = await _time_zone(ctx, user_id)
    rows = await ctx.db.fetch(
        "SELECT DISTINCT (created_at AT TIME ZONE $2)::date AS day FROM mood_entries "
        "WHERE user_id = $1 ORDER BY day DESC LIMIT $3",
        user_id,
        tz,
        STREAK_SCAN_DAYS,
    )
    runs = _runs([r["day"] for r in rows])
    today = (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz)).date()
    current = runs[0][1] if runs and runs[0][0] >= today - timedelta(days=1) else 0
    return Streak(current=current, longest=max((n for _, n in runs), default=0), time_zone=tz)


async def latest(ctx: Context, grants: dict[uuid.UUID, list[Visibility]]) -> list[MoodEntry]:
    """Each owner's newest entry among the visibilities granted to the viewer."""
    if not grants:
        return []
    rows = await ctx.db.fetch(
        f"SELECT DISTINCT ON (m.user_id) {ENTRY_COLUMNS} FROM mood_entries m "
        "JOIN unnest($1::uuid[], $2::bool[]) AS g(owner, friends_ok) ON g.owner = m.user_id "
        "WHERE m.visibility = 'everyone' OR (m.visibility = 'friends' AND g.friends_ok) "
        "ORDER BY m.user_id, m.created_at DESC, m.id DESC",
        list(grants),
        ["friends" in allowed for allowed in grants.values()],
    )
    return [_entry(row) for row in rows]
