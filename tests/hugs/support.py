"""What the hug tests share: accounts with given settings, follows and blocks written directly,
sends, and event expectations that look past presence and mood broadcasts."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any
from unittest.mock import ANY

import asyncpg
import httpx
import pytest

from tests.conftest import Client, register, uid


def refusal(code: str, field: str | None = None) -> dict[str, Any]:
    """The exact ack of a refused event (any message)."""
    error = {"code": code, "message": ANY} | ({"field": field} if field else {})
    return {"ok": False, "error": error}


async def users(api: httpx.AsyncClient, db: asyncpg.Pool, *allows: str) -> list[dict[str, Any]]:
    """One new account per `allow_hugs_from` value given."""
    sessions = [await register(api) for _ in allows]
    for session, allow in zip(sessions, allows, strict=True):
        await db.execute(
            "UPDATE privacy_settings SET allow_hugs_from = $2 WHERE user_id = $1",
            uuid.UUID(uid(session)),
            allow,
        )
    return sessions


async def follow(db: asyncpg.Pool, follower: dict, following: dict) -> None:
    await db.execute(
        "INSERT INTO follows (follower_id, following_id) VALUES ($1, $2)",
        uuid.UUID(uid(follower)),
        uuid.UUID(uid(following)),
    )


async def befriend(db: asyncpg.Pool, a: dict, b: dict) -> None:
    await follow(db, a, b)
    await follow(db, b, a)


async def block(db: asyncpg.Pool, blocker: dict, blocked: dict) -> None:
    await db.execute(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
        uuid.UUID(uid(blocker)),
        uuid.UUID(uid(blocked)),
    )


async def stored(db: asyncpg.Pool, *sessions: dict) -> tuple[int, int]:
    """(hugs involving, inbox events of) these users."""
    ids = [uuid.UUID(uid(s)) for s in sessions]
    hugs = await db.fetchval(
        "SELECT count(*) FROM hugs WHERE sender_id = ANY($1) OR recipient_id = ANY($1)", ids
    )
    events = await db.fetchval("SELECT count(*) FROM inbox_events WHERE user_id = ANY($1)", ids)
    return hugs, events


MISSING = object()  # a field value meaning "leave the field out"
LONG = "x" * 501  # one character over every 500-character limit


def hug_payload(to: dict[str, Any] | str, /, **fields: Any) -> dict[str, Any]:
    target = to if isinstance(to, str) else uid(to)
    payload = {"to": target, "type": "warm", "client_id": secrets.token_hex(8)} | fields
    return {name: value for name, value in payload.items() if value is not MISSING}


async def send(client: Client, to: dict[str, Any] | str, /, **fields: Any) -> dict[str, Any]:
    return await client.sio.call("hug:send", hug_payload(to, **fields), timeout=5)


# Presence and mood broadcasts belong to other features (a friend connecting announces itself):
# hug assertions look past them, and at every other event.
ELSEWHERE = ("presence.", "mood.")


async def expect(client: Client, name: str, timeout: float = 5) -> Any:
    """The next hug-related event, which must be `name`; returns its payload."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        event, data = await client.next(deadline - asyncio.get_running_loop().time())
        if not event.startswith(ELSEWHERE):
            assert event == name, (event, data)
            return data


async def nothing(client: Client, wait: float = 0.5) -> None:
    """No hug-related event arrives within `wait` seconds."""
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            event, data = await client.next(left)
        except TimeoutError:
            return
        if not event.startswith(ELSEWHERE):
            pytest.fail(f"unexpected event {event}: {data}")


async def quiet(*clients: Client) -> None:
    await asyncio.gather(*(nothing(client) for client in clients))
