"""A person's moods over time, in their own time zone: per day/week/month aggregates and the
streak of consecutive days with an entry."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hugmood.core.context import Context
from hugmood.identity.users import time_zone
from hugmood.moods.models import MoodBucket, MoodStats, MoodStatsQuery, Streak

STREAK_SCAN_DAYS = 3660  # a decade of daily entries bounds the scan


async def stats(ctx: Context, user_id: uuid.UUID, query: MoodStatsQuery) -> MoodStats:
    """Per local day/week/month: entry count, count per mood, mean valence and arousal."""
    tz = await time_zone(ctx.db, user_id)
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
    tz = await time_zone(ctx.db, user_id)
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
