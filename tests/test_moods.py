"""Moods over REST: recording with validation, the owner's history, other people's feeds filtered
by privacy and blocks, aggregates and streaks in the owner's time zone. Checked against what the
caller sees and what is stored (entries are dated directly in the database where time matters)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.conftest import bearer, register

# --- helpers -------------------------------------------------------------------------------

VALID = {"mood": "calm", "intensity": 0.5, "valence": 0.5, "arousal": 0.5}


def uid(session: dict[str, Any]) -> str:
    return session["user"]["id"]


def invalid(message: str, field: str) -> dict[str, Any]:
    return {"error": {"code": "invalid", "message": message, "field": field}}


async def post_mood(api: httpx.AsyncClient, session: dict, **fields: Any) -> httpx.Response:
    return await api.post("/me/moods", json=VALID | fields, headers=bearer(session))


async def recorded(api: httpx.AsyncClient, session: dict, **fields: Any) -> dict[str, Any]:
    response = await post_mood(api, session, **fields)
    assert response.status_code == 201, response.text
    return response.json()


async def insert(
    db: asyncpg.Pool,
    session: dict,
    at: datetime,
    mood: str = "calm",
    valence: float = 0.5,
    arousal: float = 0.5,
    visibility: str = "everyone",
) -> str:
    """An entry dated `at`, written directly so that tests control time."""
    entry_id = await db.fetchval(
        "INSERT INTO mood_entries (user_id, mood, intensity, valence, arousal, visibility, "
        "created_at) VALUES ($1, $2, 0.5, $3, $4, $5, $6) RETURNING id",
        uuid.UUID(uid(session)),
        mood,
        valence,
        arousal,
        visibility,
        at,
    )
    return str(entry_id)


async def stored_count(db: asyncpg.Pool, session: dict) -> tuple[int, int]:
    """(entries, tags) stored for the user."""
    row = await db.fetchrow(
        "SELECT count(DISTINCT m.id) AS entries, count(t.tag) AS tags FROM mood_entries m "
        "LEFT JOIN mood_entry_tags t ON t.mood_entry_id = m.id WHERE m.user_id = $1",
        uuid.UUID(uid(session)),
    )
    return row["entries"], row["tags"]


async def set_time_zone(api: httpx.AsyncClient, session: dict, tz: str) -> None:
    response = await api.patch("/me", json={"time_zone": tz}, headers=bearer(session))
    assert response.status_code == 200, response.text


async def show_mood_to(api: httpx.AsyncClient, session: dict, audience: str) -> None:
    settings = {
        "allow_hugs_from": "friends",
        "show_mood_to": audience,
        "show_activity_to": "friends",
    }
    response = await api.put("/me/privacy", json=settings, headers=bearer(session))
    assert response.status_code == 200, response.text


async def follow(api: httpx.AsyncClient, me: dict, other: dict) -> None:
    response = await api.post(f"/users/{uid(other)}/follow", headers=bearer(me))
    assert response.status_code == 200, response.text


async def all_pages(api: httpx.AsyncClient, session: dict, url: str, limit: int) -> list[list]:
    """Every page of a mood list, following next_cursor."""
    pages, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await api.get(url, params=params, headers=bearer(session))
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def ids(pages: list[list]) -> list[str]:
    return [item["id"] for page in pages for item in page]


# --- recording -----------------------------------------------------------------------------


async def test_record_answers_and_stores_the_entry_with_deduplicated_sorted_tags(api, db) -> None:
    session = await register(api)
    fields = {
        "mood": "grateful",
        "intensity": 0.7,
        "valence": 0.9,
        "arousal": 0.3,
        "note": "tea with Sam ☕",
        "tags": ["work", "family", "work", "Tea", "family"],
        "visibility": "friends",
    }
    before = datetime.now(UTC)
    response = await post_mood(api, session, **fields)
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    entry = response.json()
    created_at = datetime.fromisoformat(entry.pop("created_at"))
    entry_id = entry.pop("id")
    assert entry == fields | {"user_id": uid(session), "tags": ["Tea", "family", "work"]}
    assert before - timedelta(seconds=5) <= created_at <= after + timedelta(seconds=5)

    row = await db.fetchrow("SELECT * FROM mood_entries WHERE id = $1", uuid.UUID(entry_id))
    columns = [name for name in fields if name != "tags"]
    assert [row[name] for name in columns] == [fields[name] for name in columns]
    assert (str(row["user_id"]), row["created_at"]) == (uid(session), created_at)
    tags = await db.fetch(
        "SELECT tag FROM mood_entry_tags WHERE mood_entry_id = $1", uuid.UUID(entry_id)
    )
    assert sorted(t["tag"] for t in tags) == ["Tea", "family", "work"]


async def test_record_defaults_everyone_no_note_no_tags(api, db) -> None:
    session = await register(api)
    entry = await recorded(api, session)
    assert {k: entry[k] for k in ("note", "tags", "visibility")} == {
        "note": None,
        "tags": [],
        "visibility": "everyone",
    }
    assert await stored_count(db, session) == (1, 0)


async def test_record_accepts_every_bound_inclusive(api, db) -> None:
    session = await register(api)
    await recorded(api, session, intensity=0, valence=1, arousal=0.0, mood="m" * 50)
    entry = await recorded(
        api, session, note="n" * 500, tags=[f"{i}" + "t" * 49 for i in range(10)], mood="x"
    )
    assert entry["tags"] == [f"{i}" + "t" * 49 for i in range(10)]
    assert await stored_count(db, session) == (2, 10)


INVALID = [
    ({"intensity": -0.01}, "Expected `float` >= 0.0", "intensity"),
    ({"intensity": 1.01}, "Expected `float` <= 1.0", "intensity"),
    ({"valence": -1}, "Expected `float` >= 0.0", "valence"),
    ({"valence": 1.5}, "Expected `float` <= 1.0", "valence"),
    ({"arousal": -0.5}, "Expected `float` >= 0.0", "arousal"),
    ({"arousal": 2}, "Expected `float` <= 1.0", "arousal"),
    ({"intensity": True}, "Expected `float`, got `bool`", "intensity"),
    ({"mood": ""}, "Expected `str` of length >= 1", "mood"),
    ({"mood": "m" * 51}, "Expected `str` of length <= 50", "mood"),
    ({"mood": None}, "Expected `str`, got `null`", "mood"),
    ({"note": "n" * 501}, "Expected `str` of length <= 500", "note"),
    ({"tags": [f"t{i}" for i in range(11)]}, "Expected `array` of length <= 10", "tags"),
    ({"tags": ["ok", "t" * 51]}, "Expected `str` of length <= 50", "tags[1]"),
    ({"tags": [""]}, "Expected `str` of length >= 1", "tags[0]"),
    ({"mood": "ca\u0000lm"}, "contains characters that are not allowed here", "mood"),
    ({"note": "\u0000"}, "contains characters that are not allowed here", "note"),
    ({"tags": ["ok", "a\u0000"]}, "contains characters that are not allowed here", "tags[1]"),
    ({"visibility": "public"}, "Invalid enum value 'public'", "visibility"),
    ({"visibility": "nobody"}, "Invalid enum value 'nobody'", "visibility"),
    ({"colour": "blue"}, "unknown field", "colour"),
]


@pytest.mark.parametrize(("fields", "message", "field"), INVALID)
async def test_invalid_entry_is_refused_with_its_field_and_stores_nothing(
    api, db, fields, message, field
) -> None:
    session = await register(api)
    response = await post_mood(api, session, **({"tags": ["kept"]} | fields))
    assert (response.status_code, response.json()) == (400, invalid(message, field))
    assert await stored_count(db, session) == (0, 0)


async def test_missing_field_and_malformed_json_are_invalid(api, db) -> None:
    session = await register(api)
    missing = await api.post("/me/moods", json={"mood": "calm"}, headers=bearer(session))
    assert (missing.status_code, missing.json()) == (
        400,
        invalid("required field is missing", "intensity"),
    )
    garbage = await api.post("/me/moods", content=b"{mood", headers=bearer(session))
    assert (garbage.status_code, garbage.json()) == (
        400,
        {"error": {"code": "invalid", "message": "body is not valid JSON"}},
    )
    assert await stored_count(db, session) == (0, 0)


# --- the owner's history -------------------------------------------------------------------

BASE = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


async def test_own_history_pages_newest_first_with_every_visibility(api, db) -> None:
    session, other = await register(api), await register(api)
    # Minutes after BASE, out of insertion order; 30 is shared by three entries so that a page
    # boundary at limit=3 splits a tie (ties are ordered by id, descending).
    minutes = [10, 30, 5, 30, 45, 30, 1]
    visibilities = ["everyone", "friends", "private"] * 3
    entries = [
        (m, await insert(db, session, BASE + timedelta(minutes=m), visibility=v))
        for m, v in zip(minutes, visibilities, strict=False)
    ]
    await insert(db, other, BASE + timedelta(minutes=20))
    expected = [e for _, e in sorted(entries, key=lambda p: (p[0], uuid.UUID(p[1])), reverse=True)]

    pages = await all_pages(api, session, "/me/moods", limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert ids(pages) == expected
    assert pages[0][0]["created_at"] == "2026-02-01T09:45:00Z"


async def test_history_items_carry_their_tags(api) -> None:
    session = await register(api)
    first = await recorded(api, session, tags=["b", "a"])
    second = await recorded(api, session, mood="sad", valence=0.1)
    response = await api.get("/me/moods", headers=bearer(session))
    assert response.json() == {"items": [second, first], "next_cursor": None}
    assert first["tags"] == ["a", "b"]


async def test_history_with_malformed_cursor_is_invalid(api) -> None:
    session = await register(api)
    response = await api.get("/me/moods", params={"cursor": "%%%"}, headers=bearer(session))
    assert (response.status_code, response.json()) == (400, invalid("malformed cursor", "cursor"))


async def test_history_cursor_with_an_out_of_range_time_is_invalid(api) -> None:
    session = await register(api)
    raw = json.dumps(["0001-01-01T00:00:00+01:00", str(uuid.uuid4())]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await api.get("/me/moods", params={"cursor": cursor}, headers=bearer(session))
    assert (response.status_code, response.json()) == (400, invalid("malformed cursor", "cursor"))


# --- other people's feeds ------------------------------------------------------------------


async def relate(api: httpx.AsyncClient, owner: dict, viewer: dict, relation: str) -> None:
    if relation in ("follower", "friend"):
        await follow(api, viewer, owner)
    if relation in ("followed", "friend"):
        await follow(api, owner, viewer)


# What a viewer sees of entries posted as everyone, then friends, then private (newest first).
FEED_MATRIX = {
    ("everyone", "stranger"): ["everyone"],
    ("everyone", "followed"): ["everyone"],
    ("everyone", "follower"): ["everyone"],
    ("everyone", "friend"): ["friends", "everyone"],
    ("friends", "stranger"): [],
    ("friends", "followed"): [],
    ("friends", "follower"): [],
    ("friends", "friend"): ["friends", "everyone"],
    ("nobody", "stranger"): [],
    ("nobody", "followed"): [],
    ("nobody", "follower"): [],
    ("nobody", "friend"): [],
}


@pytest.mark.parametrize(("audience", "relation"), list(FEED_MATRIX))
async def test_feed_shows_exactly_what_privacy_and_entry_visibility_allow(
    api, audience, relation
) -> None:
    owner, viewer = await register(api), await register(api)
    await show_mood_to(api, owner, audience)
    await relate(api, owner, viewer, relation)
    posted = {
        v: await recorded(api, owner, visibility=v) for v in ("everyone", "friends", "private")
    }

    response = await api.get(f"/users/{uid(owner)}/moods", headers=bearer(viewer))
    assert response.status_code == 200, response.text
    expected = [posted[v] for v in FEED_MATRIX[audience, relation]]
    assert response.json() == {"items": expected, "next_cursor": None}


@pytest.mark.parametrize("audience", ["everyone", "friends", "nobody"])
async def test_owner_sees_every_own_entry_whatever_the_settings(api, audience) -> None:
    owner = await register(api)
    await show_mood_to(api, owner, audience)
    posted = [await recorded(api, owner, visibility=v) for v in ("everyone", "friends", "private")]
    for url in (f"/users/{uid(owner)}/moods", "/me/moods"):
        response = await api.get(url, headers=bearer(owner))
        assert response.json() == {"items": posted[::-1], "next_cursor": None}


async def test_filtered_feed_pages_over_visible_entries_only(api, db) -> None:
    owner, stranger = await register(api), await register(api)
    await show_mood_to(api, owner, "everyone")
    visibilities = ["everyone", "private", "everyone", "friends", "everyone", "private", "everyone"]
    entries = [
        (v, await insert(db, owner, BASE + timedelta(minutes=i), visibility=v))
        for i, v in enumerate(visibilities)
    ]
    pages = await all_pages(api, stranger, f"/users/{uid(owner)}/moods", limit=2)
    assert [len(page) for page in pages] == [2, 2]
    assert ids(pages) == [e for v, e in reversed(entries) if v == "everyone"]


@pytest.mark.parametrize("owner_blocks", [True, False])
async def test_feed_between_blocked_people_is_not_found_both_ways(api, owner_blocks) -> None:
    owner, viewer = await register(api), await register(api)
    await show_mood_to(api, owner, "everyone")
    await show_mood_to(api, viewer, "everyone")
    await recorded(api, owner)
    await recorded(api, viewer)
    blocker, blocked = (owner, viewer) if owner_blocks else (viewer, owner)
    response = await api.post(f"/users/{uid(blocked)}/block", headers=bearer(blocker))
    assert response.status_code == 204

    not_found = {"error": {"code": "not_found", "message": "no such user"}}
    for me, other in ((viewer, owner), (owner, viewer)):
        response = await api.get(f"/users/{uid(other)}/moods", headers=bearer(me))
        assert (response.status_code, response.json()) == (404, not_found)
    own = await api.get(f"/users/{uid(owner)}/moods", headers=bearer(owner))
    assert len(own.json()["items"]) == 1


async def test_feed_of_unknown_or_malformed_id(api) -> None:
    viewer = await register(api)
    unknown = await api.get(f"/users/{uuid.uuid4()}/moods", headers=bearer(viewer))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    bad = await api.get("/users/nope/moods", headers=bearer(viewer))
    assert (bad.status_code, bad.json()) == (400, invalid("not a valid id", "id"))


# --- aggregates ----------------------------------------------------------------------------

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


# --- streak --------------------------------------------------------------------------------


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
