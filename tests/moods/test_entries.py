"""Mood entries over REST: recording, the owner's history and other people's feeds, filtered by
privacy and each entry's visibility."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import bearer, follow, register, uid
from tests.moods.support import (
    all_pages,
    ids,
    insert,
    invalid,
    post_mood,
    recorded,
    show_mood_to,
    stored_count,
)

# --- recording -----------------------------------------------------------------------------------


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


async def test_a_retry_with_its_client_id_returns_the_first_entry_and_stores_nothing(
    api, db
) -> None:
    session, other = await register(api), await register(api)
    first = await post_mood(api, session, client_id="calm-1", tags=["tea"])
    assert first.status_code == 201, first.text
    again = await post_mood(api, session, client_id="calm-1", mood="angry", tags=["x", "y"])
    assert again.status_code == 200 and again.json() == first.json()  # the first, as it was
    assert await stored_count(db, session) == (1, 1)
    # Keys are per user, and an entry without one is never a duplicate.
    assert (await post_mood(api, other, client_id="calm-1")).status_code == 201
    assert (await post_mood(api, session)).status_code == 201
    assert (await post_mood(api, session)).status_code == 201
    assert await stored_count(db, session) == (3, 1)
    refused = await post_mood(api, session, client_id="")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "client_id"


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


# --- the owner's history -------------------------------------------------------------------------


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


# --- other people's feeds ------------------------------------------------------------------------


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
