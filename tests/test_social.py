"""The social graph over REST: follow / unfollow, friends, block / unblock, lookups and the
follower / following / friends lists, checked against what callers see and what is stored."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import bearer, register

# --- helpers -------------------------------------------------------------------------------

NOT_FOUND = {"error": {"code": "not_found", "message": "no such user"}}
BAD_ID = {"error": {"code": "invalid", "message": "not a valid id", "field": "id"}}
LISTS = ("followers", "following", "friends")


def uid(session: dict[str, Any]) -> str:
    return session["user"]["id"]


def card(session: dict[str, Any]) -> dict[str, Any]:
    user = session["user"]
    return {key: user[key] for key in ("id", "username", "display_name", "profile_image")}


def profile(other: dict, following: bool, followed_by: bool, friends: bool) -> dict[str, Any]:
    return {
        "user": card(other),
        "following": following,
        "followed_by": followed_by,
        "friends": friends,
    }


async def follow(api: httpx.AsyncClient, me: dict, other: dict) -> httpx.Response:
    return await api.post(f"/users/{uid(other)}/follow", headers=bearer(me))


async def unfollow(api: httpx.AsyncClient, me: dict, other: dict) -> httpx.Response:
    return await api.delete(f"/users/{uid(other)}/follow", headers=bearer(me))


async def block(api: httpx.AsyncClient, me: dict, other: dict) -> httpx.Response:
    return await api.post(f"/users/{uid(other)}/block", headers=bearer(me))


async def unblock(api: httpx.AsyncClient, me: dict, other: dict) -> httpx.Response:
    return await api.delete(f"/users/{uid(other)}/block", headers=bearer(me))


async def lookup(api: httpx.AsyncClient, me: dict, username: str) -> httpx.Response:
    return await api.get(f"/users/by-username/{username}", headers=bearer(me))


async def listing(
    api: httpx.AsyncClient, me: dict, owner: dict, which: str, **params: Any
) -> httpx.Response:
    return await api.get(f"/users/{uid(owner)}/{which}", params=params, headers=bearer(me))


async def listed_ids(api: httpx.AsyncClient, me: dict, owner: dict, which: str) -> list[str]:
    response = await listing(api, me, owner, which)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [item["id"] for item in response.json()["items"]]


async def follow_rows(db: asyncpg.Pool, *sessions: dict) -> set[tuple[str, str]]:
    """Every stored follow among `sessions`, as (follower, following) id pairs."""
    ids = [uuid.UUID(uid(s)) for s in sessions]
    rows = await db.fetch(
        "SELECT follower_id, following_id FROM follows "
        "WHERE follower_id = ANY($1::uuid[]) AND following_id = ANY($1::uuid[])",
        ids,
    )
    return {(str(r["follower_id"]), str(r["following_id"])) for r in rows}


async def block_rows(db: asyncpg.Pool, *sessions: dict) -> set[tuple[str, str]]:
    ids = [uuid.UUID(uid(s)) for s in sessions]
    rows = await db.fetch(
        "SELECT blocker_id, blocked_id FROM blocks "
        "WHERE blocker_id = ANY($1::uuid[]) AND blocked_id = ANY($1::uuid[])",
        ids,
    )
    return {(str(r["blocker_id"]), str(r["blocked_id"])) for r in rows}


async def befriend(api: httpx.AsyncClient, a: dict, b: dict) -> None:
    assert (await follow(api, a, b)).status_code == 200
    assert (await follow(api, b, a)).status_code == 200


# --- follow / unfollow ---------------------------------------------------------------------


async def test_follow_answers_the_profile_and_stores_one_row_idempotently(api, db) -> None:
    alice, bob = await register(api, display_name="Alice"), await register(api)

    for _ in range(2):
        response = await follow(api, alice, bob)
        assert (response.status_code, response.json()) == (200, profile(bob, True, False, False))
    assert await follow_rows(db, alice, bob) == {(uid(alice), uid(bob))}

    seen_by_bob = await lookup(api, bob, alice["user"]["username"])
    assert seen_by_bob.json() == profile(alice, False, True, False)


async def test_mutual_follows_are_friends_seen_from_both_sides(api) -> None:
    alice, bob, carol = await register(api), await register(api), await register(api)
    await follow(api, alice, bob)
    assert (await follow(api, carol, alice)).json() == profile(alice, True, False, False)

    response = await follow(api, bob, alice)
    assert response.json() == profile(alice, True, True, True)
    assert (await lookup(api, alice, bob["user"]["username"])).json() == profile(
        bob, True, True, True
    )
    assert await listed_ids(api, alice, alice, "friends") == [uid(bob)]
    assert await listed_ids(api, bob, bob, "friends") == [uid(alice)]
    assert await listed_ids(api, carol, carol, "friends") == []  # following alone is not friends


async def test_unfollow_is_idempotent_and_ends_the_friendship(api, db) -> None:
    alice, bob = await register(api), await register(api)
    await befriend(api, alice, bob)

    for _ in range(2):
        response = await unfollow(api, alice, bob)
        assert (response.status_code, response.json()) == (200, profile(bob, False, True, False))
    assert await follow_rows(db, alice, bob) == {(uid(bob), uid(alice))}
    assert (await lookup(api, bob, alice["user"]["username"])).json() == profile(
        alice, True, False, False
    )
    assert await listed_ids(api, bob, bob, "friends") == []
    assert await listed_ids(api, bob, bob, "following") == [uid(alice)]
    assert await listed_ids(api, alice, alice, "followers") == [uid(bob)]


async def test_following_yourself_is_invalid(api) -> None:
    alice = await register(api)
    response = await follow(api, alice, alice)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": "you cannot follow yourself", "field": "id"}
    }


async def test_blocking_yourself_is_invalid(api) -> None:
    alice = await register(api)
    response = await block(api, alice, alice)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": "you cannot block yourself", "field": "id"}
    }


ID_ROUTES = [
    ("POST", "/users/{}/follow"),
    ("DELETE", "/users/{}/follow"),
    ("POST", "/users/{}/block"),
    *(("GET", f"/users/{{}}/{which}") for which in LISTS),
]


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
async def test_unknown_id_is_not_found_and_malformed_id_is_invalid(api, method, path) -> None:
    alice = await register(api)
    unknown = await api.request(method, path.format(uuid.uuid4()), headers=bearer(alice))
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    for bad in ("not-a-uuid", "123", uid(alice) + "0"):
        malformed = await api.request(method, path.format(bad), headers=bearer(alice))
        assert (malformed.status_code, malformed.json()) == (400, BAD_ID)


async def test_unblock_with_malformed_id_is_invalid(api) -> None:
    alice = await register(api)
    response = await api.delete("/users/nope/block", headers=bearer(alice))
    assert (response.status_code, response.json()) == (400, BAD_ID)


# --- block / unblock -----------------------------------------------------------------------


async def test_block_removes_follows_both_ways_and_is_idempotent(api, db) -> None:
    alice, bob, carol = await register(api), await register(api), await register(api)
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)

    for _ in range(2):
        response = await block(api, alice, bob)
        assert (response.status_code, response.content) == (204, b"")
    assert await follow_rows(db, alice, bob, carol) == {
        (uid(alice), uid(carol)),
        (uid(carol), uid(alice)),
    }
    assert await block_rows(db, alice, bob, carol) == {(uid(alice), uid(bob))}


@pytest.mark.parametrize("blocker_is_alice", [True, False])
async def test_a_block_hides_both_people_from_each_other(api, db, blocker_is_alice) -> None:
    alice, bob = await register(api), await register(api)
    await befriend(api, alice, bob)
    blocker, blocked = (alice, bob) if blocker_is_alice else (bob, alice)
    assert (await block(api, blocker, blocked)).status_code == 204

    for me, other in ((alice, bob), (bob, alice)):
        answers = [
            await lookup(api, me, other["user"]["username"]),
            await lookup(api, me, other["user"]["username"].upper()),
            await follow(api, me, other),
            await unfollow(api, me, other),
            *[await listing(api, me, other, which) for which in LISTS],
        ]
        assert [(r.status_code, r.json()) for r in answers] == [(404, NOT_FOUND)] * len(answers)
    assert await follow_rows(db, alice, bob) == set()  # the refused follows stored nothing
    assert await listed_ids(api, alice, alice, "followers") == []
    assert await listed_ids(api, bob, bob, "following") == []


async def test_unblock_restores_visibility_but_not_the_follows(api, db) -> None:
    alice, bob = await register(api), await register(api)
    await befriend(api, alice, bob)
    await block(api, alice, bob)

    response = await unblock(api, alice, bob)
    assert (response.status_code, response.content) == (204, b"")
    assert await block_rows(db, alice, bob) == set()
    assert await follow_rows(db, alice, bob) == set()
    for me, other in ((alice, bob), (bob, alice)):
        seen = await lookup(api, me, other["user"]["username"])
        assert (seen.status_code, seen.json()) == (200, profile(other, False, False, False))
        for which in LISTS:
            assert await listed_ids(api, me, other, which) == []
    assert (await follow(api, bob, alice)).json() == profile(alice, True, False, False)


async def test_unblock_when_not_blocked_is_not_found(api, db) -> None:
    alice, bob, carol = await register(api), await register(api), await register(api)
    expected = {"error": {"code": "not_found", "message": "you have not blocked this user"}}

    never = await unblock(api, alice, bob)
    assert (never.status_code, never.json()) == (404, expected)

    await block(api, alice, bob)
    by_the_blocked = await unblock(api, bob, alice)  # only the blocker can lift a block
    assert (by_the_blocked.status_code, by_the_blocked.json()) == (404, expected)
    assert await block_rows(db, alice, bob) == {(uid(alice), uid(bob))}

    assert (await unblock(api, alice, bob)).status_code == 204
    again = await unblock(api, alice, bob)
    assert (again.status_code, again.json()) == (404, expected)
    unknown = await api.delete(f"/users/{uuid.uuid4()}/block", headers=bearer(carol))
    assert (unknown.status_code, unknown.json()) == (404, expected)


async def test_block_of_an_unknown_user_is_not_found_and_stores_nothing(api, db) -> None:
    alice = await register(api)
    response = await api.post(f"/users/{uuid.uuid4()}/block", headers=bearer(alice))
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    blocks = await db.fetchval(
        "SELECT count(*) FROM blocks WHERE blocker_id = $1", uuid.UUID(uid(alice))
    )
    assert blocks == 0


# --- lists ---------------------------------------------------------------------------------

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


# --- lookup --------------------------------------------------------------------------------


async def test_lookup_by_username_is_case_insensitive(api) -> None:
    me = await register(api)
    name = f"Mixed.Case_{uuid.uuid4().hex[:6]}"
    other = await register(api, username=name, display_name="Mixed")
    for spelling in (name, name.lower(), name.upper()):
        response = await lookup(api, me, spelling)
        assert (response.status_code, response.json()) == (200, profile(other, False, False, False))

    missing = await lookup(api, me, f"nobody_{uuid.uuid4().hex[:8]}")
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)


async def test_lookup_of_a_name_with_a_nul_character_is_not_found(api) -> None:
    me = await register(api)
    response = await lookup(api, me, "ab%00cd")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# --- concurrency ---------------------------------------------------------------------------


async def lock_waiters(db: asyncpg.Pool) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )


async def until(db: asyncpg.Pool, done: Any, waiters: int) -> None:
    """Poll until `done()` or `waiters` sessions wait on a lock (bounded; not a timing check)."""
    for _ in range(200):
        if done() or await lock_waiters(db) >= waiters:
            return
        await asyncio.sleep(0.025)
    pytest.fail("the requests neither finished nor waited on a lock")


async def test_a_follow_racing_a_block_does_not_survive_it(api, db) -> None:
    alice, bob = await register(api), await register(api)
    async with db.acquire() as conn:
        # An uncommitted row with the same key holds alice's follow INSERT after its block
        # check, which is where a slow request would be when bob's block arrives.
        holder = conn.transaction()
        await holder.start()
        await conn.execute(
            "INSERT INTO follows (follower_id, following_id) VALUES ($1, $2)",
            uuid.UUID(uid(alice)),
            uuid.UUID(uid(bob)),
        )
        following = asyncio.create_task(follow(api, alice, bob))
        await until(db, following.done, 1)
        if following.done():
            pytest.fail("alice's follow did not wait on the uncommitted row")
        blocking = asyncio.create_task(block(api, bob, alice))
        await until(db, blocking.done, 2)
        await holder.rollback()
    await following
    assert (await blocking).status_code == 204

    assert await block_rows(db, alice, bob) == {(uid(bob), uid(alice))}
    assert await follow_rows(db, alice, bob) == set()
