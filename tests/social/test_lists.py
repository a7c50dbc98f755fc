"""Followers, following and friends lists: keyset pages, newest first, without blocked people."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from tests.conftest import register, uid
from tests.social.support import LISTS, block, card, follow, listed_ids, listing

BASE = datetime(2026, 1, 1, tzinfo=UTC)
# Minutes after BASE at which each of 7 relations began: out of creation order, with a tie
# (20, twice) that the first page boundary at limit=3 splits.
MINUTES = [5, 30, 1, 20, 12, 20, 40]


async def make_relations(
    api: httpx.AsyncClient, db: asyncpg.Pool, owner: dict, which: str, others: list[dict]
) -> None:
    """Make each of `others` appear in `owner`'s list `which`, then date the relations."""
    for other, minutes in zip(others, MINUTES, strict=True):
        if which in ("followers", "friends"):
            await follow(api, other, owner)
        if which in ("following", "friends"):
            await follow(api, owner, other)
        # The other person's follow is dated `at`, the owner's an hour earlier: for friends
        # the later of the two follows is when the friendship began.
        await db.execute(
            "UPDATE follows SET created_at = CASE WHEN follower_id = $1 THEN $3::timestamptz "
            "ELSE $3::timestamptz - interval '1 hour' END "
            "WHERE (follower_id = $1 AND following_id = $2) "
            "   OR (follower_id = $2 AND following_id = $1)",
            uuid.UUID(uid(other)),
            uuid.UUID(uid(owner)),
            BASE + timedelta(minutes=minutes),
        )


@pytest.mark.parametrize("which", LISTS)
async def test_lists_page_newest_first_each_user_exactly_once(api, db, which) -> None:
    owner = await register(api)
    others = [await register(api) for _ in MINUTES]
    await make_relations(api, db, owner, which, others)
    # Newest first; equal times by id, descending (the documented keyset order).
    expected = [
        uid(other)
        for _, other in sorted(
            zip(MINUTES, others, strict=True),
            key=lambda pair: (pair[0], uuid.UUID(uid(pair[1]))),
            reverse=True,
        )
    ]

    viewer = others[0]  # someone else's view pages the same way
    for me in (owner, viewer):
        pages, cursor = [], None
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            response = await listing(api, me, owner, which, **params)
            assert response.status_code == 200, response.text
            pages.append(response.json()["items"])
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert [len(page) for page in pages] == [3, 3, 1]
        assert [item["id"] for page in pages for item in page] == expected
        assert pages[0][0] == card(next(o for o in others if uid(o) == expected[0]))


async def test_list_with_exactly_limit_users_has_no_next_cursor(api) -> None:
    owner, a, b = await register(api), await register(api), await register(api)
    await follow(api, a, owner)
    await follow(api, b, owner)
    response = await listing(api, owner, owner, "followers", limit=2)
    assert [item["id"] for item in response.json()["items"]] == [uid(b), uid(a)]
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "message", "field"),
    [
        ({"cursor": "!!"}, "malformed cursor", "cursor"),
        ({"cursor": "bm90IGpzb24"}, "malformed cursor", "cursor"),  # base64 of "not json"
        ({"limit": 0}, "Expected `int` >= 1", "limit"),
        ({"limit": 101}, "Expected `int` <= 100", "limit"),
        ({"sort": "asc"}, "unknown field", "sort"),
    ],
)
async def test_malformed_page_query_is_invalid(api, params, message, field) -> None:
    owner = await register(api)
    response = await listing(api, owner, owner, "followers", **params)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid", "message": message, "field": field}}


def crafted_cursor(at: str) -> str:
    """A well-formed cursor holding `at`, as a client could forge one."""
    raw = json.dumps([at, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00"]
)
async def test_forged_cursor_time_out_of_range_or_naive_is_invalid(api, at) -> None:
    owner = await register(api)
    response = await listing(api, owner, owner, "followers", cursor=crafted_cursor(at))
    assert (response.status_code, response.json()) == (
        400,
        {"error": {"code": "invalid", "message": "malformed cursor", "field": "cursor"}},
    )


@pytest.mark.parametrize("which", LISTS)
async def test_viewer_does_not_see_people_blocked_either_way_in_others_lists(api, which) -> None:
    owner, viewer = await register(api), await register(api)
    shunned, shunning, plain = await register(api), await register(api), await register(api)
    for other in (shunned, shunning, plain):
        if which in ("followers", "friends"):
            await follow(api, other, owner)
        if which in ("following", "friends"):
            await follow(api, owner, other)
    await block(api, viewer, shunned)
    await block(api, shunning, viewer)

    assert await listed_ids(api, viewer, owner, which) == [uid(plain)]
    assert await listed_ids(api, owner, owner, which) == [uid(plain), uid(shunning), uid(shunned)]
    assert await listed_ids(api, plain, owner, which) == [uid(plain), uid(shunning), uid(shunned)]
