"""What the group hug tests share: many accounts at once, a real worker process, and event
helpers that look only at group hug events."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis

from tests.conftest import JWT_SECRET, ROOT, Client, Stack, forged


async def people(db: asyncpg.Pool, count: int, allow: str = "everyone") -> list[dict[str, Any]]:
    """`count` accounts with live sessions, as `register` returns them (user id and access
    token), written directly: registering hundreds through argon2 would take minutes."""
    sessions = []
    async with db.acquire() as conn, conn.transaction():
        for _ in range(count):
            user_id = await conn.fetchval(
                "INSERT INTO users (username, is_anonymous) VALUES ($1, true) RETURNING id",
                f"g{secrets.token_hex(8)}",
            )
            await conn.execute(
                "INSERT INTO privacy_settings (user_id, allow_hugs_from) VALUES ($1, $2)",
                user_id,
                allow,
            )
            session_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO sessions (id, user_id) VALUES ($1, $2)", session_id, user_id
            )
            claims = {"sub": str(user_id), "sid": str(session_id), "exp": int(time.time()) + 900}
            sessions.append(
                {"user": {"id": str(user_id)}, "access_token": forged(JWT_SECRET, claims)}
            )
    return sessions


def worker(stack: Stack, **env: str) -> subprocess.Popen[bytes]:
    """A real arq worker (`python -m workers`, the Procfile's command)."""
    return subprocess.Popen(
        [sys.executable, "-m", "workers"], cwd=ROOT, env=stack.env(**env), stdout=subprocess.DEVNULL
    )


@contextmanager
def workers(stack: Stack, count: int = 1) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [worker(stack) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=15)


async def worker_ready(stack: Stack) -> None:
    """Wait until a worker polls the queue (arq writes its health-check key when it starts)."""
    redis = Redis.from_url(stack.redis_url)
    try:
        key = f"{stack.redis_prefix}:arq:queue:health-check"
        for _ in range(200):
            if await redis.exists(key):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("no worker started")
    finally:
        await redis.aclose()


def later(secs: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=secs)).isoformat()


async def call(client: Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
    return await client.sio.call(event, data, timeout=10)


async def create(client: Client, invitees: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A new group hug (the ack must be ok); returns it."""
    payload = {"name": "Friday hug", "invitees": [s["user"]["id"] for s in invitees]} | fields
    answer = await call(client, "group_hug:create", payload)
    assert answer["ok"], answer
    return answer["group_hug"]


async def act(client: Client, event: str, group: dict[str, Any]) -> dict[str, Any]:
    return await call(client, f"group_hug:{event}", {"group_hug_id": group["id"]})


async def inbox_types(db: asyncpg.Pool, session: dict[str, Any], group_id: str) -> list[str]:
    """The group hug events of this group hug in the user's inbox, in seq order."""
    rows = await db.fetch(
        "SELECT type FROM inbox_events WHERE user_id = $1 AND type LIKE 'group_hug.%' "
        "AND payload->>'id' = $2 ORDER BY seq",
        uuid.UUID(session["user"]["id"]),
        group_id,
    )
    return [row["type"] for row in rows]
