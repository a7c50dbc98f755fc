"""Revocation is durable: PostgreSQL's `sessions` row is the truth and Redis only caches it, so a
logged-out session stays refused after Redis restarts empty or is flushed, a cache filled by a
reader can never undo a concurrent revocation, and every revocation ends the session's live
connections with its reason."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from hugmood.core.errors import AppError
from hugmood.identity import sessions, tokens
from tests.conftest import (
    RedisServer,
    ServerProcess,
    bearer,
    error,
    fake_ip,
    open_services,
    register,
)
from tests.identity.support import (
    Ends,
    client_from_new_ip,
    login,
    refresh,
    refused_connect,
    rotated_long_ago,
    session_id,
)

ENDED = {"code": "unauthorized", "message": "session has ended"}


async def stored_session(db, session: dict[str, Any]) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT user_id::text, revoked_at IS NOT NULL AS revoked, revoked_reason "
        "FROM sessions WHERE id = $1",
        session_id(session),
    )
    return dict(row)


async def test_logout_revokes_the_session_row_and_its_refresh_tokens(api, db) -> None:
    session = await register(api)
    other_device = (await login(api, session["user"]["username"])).json()
    rotated = (await refresh(api, session["refresh_token"])).json()
    user = session["user"]["id"]
    assert await stored_session(db, session) == {
        "user_id": user,
        "revoked": False,
        "revoked_reason": None,
    }

    assert (await api.post("/auth/logout", headers=bearer(rotated))).status_code == 204
    assert await stored_session(db, session) == {
        "user_id": user,
        "revoked": True,
        "revoked_reason": "logged_out",
    }
    live = await db.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL",
        session_id(session),
    )
    assert live == 0
    assert await stored_session(db, other_device) == {
        "user_id": user,
        "revoked": False,
        "revoked_reason": None,
    }
    assert (await api.get("/me", headers=bearer(other_device))).status_code == 200


async def refused_everywhere(api: httpx.AsyncClient, server: ServerProcess, session: dict) -> None:
    """REST and socket connects refuse the session's access token as ended."""
    for _ in range(100):  # a restarted Redis: the first commands may meet dead connections
        me = await api.get("/me", headers=bearer(session))
        if me.status_code < 500:
            break
        await asyncio.sleep(0.1)
    for _ in range(3):
        assert (me.status_code, error(me)) == (401, ENDED)
        me = await api.get("/me", headers=bearer(session))
    refusal = await refused_connect(server.url, session)
    assert refusal["data"] == ENDED


async def test_a_logged_out_session_stays_refused_after_redis_restarts_empty_or_is_flushed(
    stack, db, tmp_path
) -> None:
    redis = RedisServer(tmp_path)
    await redis.start()
    server = ServerProcess(stack, REDIS_URL=redis.url)
    try:
        await server.wait_ready()
        async with client_from_new_ip(server.url) as api:
            session = await register(api)
            other_device = (await login(api, session["user"]["username"])).json()
            assert (await api.get("/me", headers=bearer(session))).status_code == 200
            assert (await api.post("/auth/logout", headers=bearer(session))).status_code == 204
            await refused_everywhere(api, server, session)

            flusher = Redis.from_url(redis.url)
            try:
                await flusher.flushall()
                assert await flusher.dbsize() == 0
            finally:
                await flusher.aclose()
            await refused_everywhere(api, server, session)

            redis.kill()
            await redis.start()
            await refused_everywhere(api, server, session)
            assert (await api.get("/me", headers=bearer(other_device))).status_code == 200
            assert (await refresh(api, session["refresh_token"])).status_code == 401
    finally:
        server.stop()
        redis.kill()
    stored = await stored_session(db, session)
    assert (stored["revoked"], stored["revoked_reason"]) == (True, "logged_out")


class PausedAfterRead:
    """A pool whose `fetchrow` answers only when the test lets it: the reader has seen the row
    and is about to cache what it saw."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.read = asyncio.Event()
        self.proceed = asyncio.Event()

    async def fetchrow(self, *args: Any) -> Any:
        row = await self.pool.fetchrow(*args)
        self.read.set()
        await self.proceed.wait()
        return row


async def test_a_reader_that_saw_the_session_active_cannot_undo_a_concurrent_revocation(
    api, stack
) -> None:
    session = await register(api)
    svc = await open_services(stack.settings(), Ends())
    try:
        ctx = svc.ctx
        key = ctx.keys.session_state(session_id(session))
        principal = await tokens.authenticate(ctx, session["access_token"])
        await ctx.redis.delete(key)  # as after a Redis restart: the next reader asks PostgreSQL

        paused = PausedAfterRead(ctx.db)
        reader = asyncio.create_task(
            tokens.authenticate(dataclasses.replace(ctx, db=paused), session["access_token"])
        )
        await paused.read.wait()  # it read the row while the session was still active
        await sessions.end(ctx, principal)
        paused.proceed.set()
        assert await reader == principal  # that request began before the logout

        assert await ctx.redis.get(key) == tokens.REVOKED
        with pytest.raises(AppError) as refused:
            await tokens.authenticate(ctx, session["access_token"])
        assert refused.value.to_dict() == ENDED
    finally:
        await svc.close()
    me = await api.get("/me", headers=bearer(session))
    assert (me.status_code, error(me)) == (401, ENDED)


async def test_revocations_end_the_sessions_live_connections_saying_why(api, stack, db) -> None:
    logged_out, stolen = await register(api), await register(api)
    ends = Ends()
    svc = await open_services(stack.settings(), ends)
    try:
        await sessions.end(svc.ctx, await tokens.authenticate(svc.ctx, logged_out["access_token"]))
        await sessions.rotate(svc.ctx, svc.limiter, stolen["refresh_token"], fake_ip())
        await rotated_long_ago(db, stolen["refresh_token"])
        with pytest.raises(AppError):
            await sessions.rotate(svc.ctx, svc.limiter, stolen["refresh_token"], fake_ip())
    finally:
        await svc.close()
    assert ends.ended == [
        (f"session:{session_id(logged_out)}", "logged_out"),
        (f"session:{session_id(stolen)}", "session_revoked"),
    ]
