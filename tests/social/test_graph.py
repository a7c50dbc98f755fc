"""Follow, unfollow, block, unblock and lookup over REST: the answers, the stored rows, and a block
hiding both people from each other."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from tests.conftest import bearer, register, uid
from tests.social.support import (
    BAD_ID,
    LISTS,
    NOT_FOUND,
    befriend,
    block,
    block_rows,
    follow,
    follow_rows,
    listed_ids,
    listing,
    lookup,
    profile,
    unblock,
    unfollow,
)

# --- follow / unfollow ---------------------------------------------------------------------------


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


# --- block / unblock -----------------------------------------------------------------------------


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


# --- lookup --------------------------------------------------------------------------------------


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


# --- concurrency ---------------------------------------------------------------------------------


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
