"""Mood aggregates and streaks, counted in the owner's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.conftest import bearer, register
from tests.moods.support import insert, invalid, set_time_zone

# --- aggregates ----------------------------------------------------------------------------------


# (UTC time, mood, valence, arousal)
DAY_ENTRIES = [
    (datetime(2026, 3, 10, 12, 0, tzinfo=UTC), "sad", 0.2, 0.4),
    (datetime(2026, 3, 10, 23, 30, tzinfo=UTC), "happy", 0.8, 0.6),
    (datetime(2026, 3, 11, 2, 0, tzinfo=UTC), "calm", 0.6, 0.2),
    (datetime(2026, 3, 11, 16, 0, tzinfo=UTC), "happy", 1.0, 0.8),
]


def bucket(start: str, moods: dict[str, int], valence: float, arousal: float) -> dict:
    return {
        "start": start,
        "entries": sum(moods.values()),
        "moods": moods,
        "mean_valence": pytest.approx(valence, abs=1e-4),
        "mean_arousal": pytest.approx(arousal, abs=1e-4),
    }


DAY_BUCKETS = {
    # 23:30Z on the 10th is the 10th in UTC, the 11th (08:30) in Tokyo, the 10th (19:30 EDT) in
    # New York; 02:00Z on the 11th is still the 10th (22:00) in New York.
    "UTC": [
        bucket("2026-03-11", {"calm": 1, "happy": 1}, 0.8, 0.5),
        bucket("2026-03-10", {"sad": 1, "happy": 1}, 0.5, 0.5),
    ],
    "Asia/Tokyo": [
        bucket("2026-03-12", {"happy": 1}, 1.0, 0.8),
        bucket("2026-03-11", {"happy": 1, "calm": 1}, 0.7, 0.4),
        bucket("2026-03-10", {"sad": 1}, 0.2, 0.4),
    ],
    "America/New_York": [
        bucket("2026-03-11", {"happy": 1}, 1.0, 0.8),
        bucket("2026-03-10", {"sad": 1, "happy": 1, "calm": 1}, 1.6 / 3, 0.4),
    ],
}


async def stats(api: httpx.AsyncClient, session: dict, **params: Any) -> httpx.Response:
    return await api.get("/me/moods/stats", params=params, headers=bearer(session))


@pytest.mark.parametrize("tz", list(DAY_BUCKETS))
async def test_daily_stats_bucket_by_local_day(api, db, tz) -> None:
    session, other = await register(api), await register(api)
    await set_time_zone(api, session, tz)
    for at, mood, valence, arousal in DAY_ENTRIES:
        await insert(db, session, at, mood, valence, arousal)
    await insert(db, other, DAY_ENTRIES[0][0], "angry", 0.0, 1.0)  # someone else's: not counted

    response = await stats(api, session, period="day")
    assert response.status_code == 200, response.text
    assert response.json() == {"period": "day", "time_zone": tz, "buckets": DAY_BUCKETS[tz]}
    default = await stats(api, session)
    assert default.json() == response.json()
    newest = await stats(api, session, period="day", limit=1)
    assert newest.json()["buckets"] == DAY_BUCKETS[tz][:1]


WEEK_ENTRIES = [
    (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "calm", 0.4, 0.4),  # Sunday
    (datetime(2026, 3, 9, 12, 0, tzinfo=UTC), "happy", 0.8, 0.6),  # Monday
    (datetime(2026, 3, 15, 12, 0, tzinfo=UTC), "sad", 0.2, 0.2),  # Sunday
    (datetime(2026, 3, 15, 23, 30, tzinfo=UTC), "calm", 0.6, 1.0),  # Sunday; Monday in Tokyo
]
WEEK_BUCKETS = {
    "UTC": [
        bucket("2026-03-09", {"happy": 1, "sad": 1, "calm": 1}, 1.6 / 3, 0.6),
        bucket("2026-03-02", {"calm": 1}, 0.4, 0.4),
    ],
    "Asia/Tokyo": [
        bucket("2026-03-16", {"calm": 1}, 0.6, 1.0),
        bucket("2026-03-09", {"happy": 1, "sad": 1}, 0.5, 0.4),
        bucket("2026-03-02", {"calm": 1}, 0.4, 0.4),
    ],
}


@pytest.mark.parametrize("tz", list(WEEK_BUCKETS))
async def test_weekly_stats_start_on_local_monday(api, db, tz) -> None:
    session = await register(api)
    await set_time_zone(api, session, tz)
    for at, mood, valence, arousal in WEEK_ENTRIES:
        await insert(db, session, at, mood, valence, arousal)
    response = await stats(api, session, period="week")
    assert response.json() == {"period": "week", "time_zone": tz, "buckets": WEEK_BUCKETS[tz]}


MONTH_ENTRIES = [
    (datetime(2026, 2, 28, 20, 0, tzinfo=UTC), "calm", 0.4, 0.2),
    (datetime(2026, 3, 15, 12, 0, tzinfo=UTC), "happy", 0.8, 0.8),
    (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "sad", 0.2, 0.6),
]
MONTH_BUCKETS = {
    "UTC": [
        bucket("2026-03-01", {"happy": 1, "sad": 1}, 0.5, 0.7),
        bucket("2026-02-01", {"calm": 1}, 0.4, 0.2),
    ],
    "Asia/Tokyo": [  # 2026-03-01 05:00 and 2026-04-01 08:30 local
        bucket("2026-04-01", {"sad": 1}, 0.2, 0.6),
        bucket("2026-03-01", {"calm": 1, "happy": 1}, 0.6, 0.5),
    ],
    "America/New_York": [  # 2026-02-28 15:00 EST and 2026-03-31 19:30 EDT
        bucket("2026-03-01", {"happy": 1, "sad": 1}, 0.5, 0.7),
        bucket("2026-02-01", {"calm": 1}, 0.4, 0.2),
    ],
}


@pytest.mark.parametrize("tz", list(MONTH_BUCKETS))
async def test_monthly_stats_bucket_by_local_month(api, db, tz) -> None:
    session = await register(api)
    await set_time_zone(api, session, tz)
    for at, mood, valence, arousal in MONTH_ENTRIES:
        await insert(db, session, at, mood, valence, arousal)
    response = await stats(api, session, period="month")
    assert response.json() == {"period": "month", "time_zone": tz, "buckets": MONTH_BUCKETS[tz]}


async def test_stats_without_entries_have_no_buckets(api) -> None:
    session = await register(api)
    response = await stats(api, session, period="week")
    assert response.json() == {"period": "week", "time_zone": "UTC", "buckets": []}


@pytest.mark.parametrize(
    ("params", "message", "field"),
    [
        ({"period": "year"}, "Invalid enum value 'year'", "period"),
        ({"period": ""}, "Invalid enum value ''", "period"),
        ({"limit": 0}, "Expected `int` >= 1", "limit"),
        ({"limit": 367}, "Expected `int` <= 366", "limit"),
        ({"from": "2026-01-01"}, "unknown field", "from"),
    ],
)
async def test_bad_stats_query_is_invalid(api, params, message, field) -> None:
    session = await register(api)
    response = await stats(api, session, **params)
    assert (response.status_code, response.json()) == (400, invalid(message, field))


# --- streak --------------------------------------------------------------------------------------


def local_today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def local(day: date, tz: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(tz))


async def streak_after(
    api: httpx.AsyncClient, db: asyncpg.Pool, tz: str, days_ago: list[int]
) -> dict[str, Any]:
    """A new user in `tz` with an entry at local noon of each of `days_ago`; their streak."""
    session = await register(api)
    await set_time_zone(api, session, tz)
    today = local_today(tz)
    for n in days_ago:
        await insert(db, session, local(today - timedelta(days=n), tz))
    response = await api.get("/me/moods/streak", headers=bearer(session))
    if local_today(tz) != today:
        pytest.skip("local midnight passed during the test; the days no longer line up")
    assert response.status_code == 200, response.text
    return response.json()


ZONES = ["UTC", "Pacific/Kiritimati", "America/Los_Angeles"]
STREAKS = [
    # (local days ago with an entry, current, longest)
    ([], 0, 0),
    ([0], 1, 1),
    ([0, 1, 2, 3], 4, 4),
    ([1, 2, 3], 3, 3),  # ending yesterday: today is not over yet
    ([2, 3, 4], 0, 3),  # ending the day before yesterday: broken
    ([0, 1, 3, 4, 5, 6], 2, 4),  # one missed day restarts the current streak
    ([0, 0, 1, 1, 1, 2], 3, 3),  # several entries a day count once
    ([0, 2, 4, 6], 1, 1),
    ([1, 5, 6, 7, 9, 10], 1, 3),
]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(("days_ago", "current", "longest"), STREAKS)
async def test_streak_counts_consecutive_local_days(api, db, tz, days_ago, current, longest):
    assert await streak_after(api, db, tz, days_ago) == {
        "current": current,
        "longest": longest,
        "time_zone": tz,
    }


async def streak_of(api: httpx.AsyncClient, db: asyncpg.Pool, tz: str, times: list) -> dict:
    session = await register(api)
    await set_time_zone(api, session, tz)
    for at in times:
        await insert(db, session, at)
    response = await api.get("/me/moods/streak", headers=bearer(session))
    assert response.status_code == 200, response.text
    return response.json()


async def test_streak_counts_local_days_that_share_a_utc_day(api, db) -> None:
    tz = "Asia/Tokyo"
    today = local_today(tz)
    # Yesterday 08:30 and the day before 20:00 in Tokyo: both on the same UTC day.
    times = [local(today - timedelta(days=1), tz, 8, 30), local(today - timedelta(days=2), tz, 20)]
    assert times[0].astimezone(UTC).date() == times[1].astimezone(UTC).date()
    result = await streak_of(api, db, tz, times)
    if local_today(tz) != today:
        pytest.skip("local midnight passed during the test")
    assert result == {"current": 2, "longest": 2, "time_zone": tz}


async def test_streak_counts_one_local_day_spread_over_two_utc_days(api, db) -> None:
    tz = "Asia/Tokyo"
    today = local_today(tz)
    # Yesterday 08:00 and 10:00 in Tokyo: 23:00 and 01:00 UTC, on two UTC days.
    times = [local(today - timedelta(days=1), tz, 8), local(today - timedelta(days=1), tz, 10)]
    assert times[0].astimezone(UTC).date() != times[1].astimezone(UTC).date()
    result = await streak_of(api, db, tz, times)
    if local_today(tz) != today:
        pytest.skip("local midnight passed during the test")
    assert result == {"current": 1, "longest": 1, "time_zone": tz}


async def test_streak_follows_a_change_of_time_zone(api, db) -> None:
    session = await register(api)
    # One UTC day, but 2026-01-05 10:00 and 2026-01-06 08:30 in Tokyo.
    for at in (datetime(2026, 1, 5, 1, 0, tzinfo=UTC), datetime(2026, 1, 5, 23, 30, tzinfo=UTC)):
        await insert(db, session, at)
    response = await api.get("/me/moods/streak", headers=bearer(session))
    assert response.json() == {"current": 0, "longest": 1, "time_zone": "UTC"}
    await set_time_zone(api, session, "Asia/Tokyo")
    response = await api.get("/me/moods/streak", headers=bearer(session))
    assert response.json() == {"current": 0, "longest": 2, "time_zone": "Asia/Tokyo"}
