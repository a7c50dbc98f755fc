"""What the social tests share: accounts, REST calls for follows and blocks, stored rows."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from tests.conftest import bearer, uid

NOT_FOUND = {"error": {"code": "not_found", "message": "no such user"}}
BAD_ID = {"error": {"code": "invalid", "message": "not a valid id", "field": "id"}}
LISTS = ("followers", "following", "friends")


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
