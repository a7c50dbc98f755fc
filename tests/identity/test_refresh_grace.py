"""The refresh reuse grace: a token presented again shortly after its rotation (a phone's
concurrent requests) gets the same new pair; presented after the grace, it revokes the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ServerProcess, Stack, bearer, error, register
from tests.identity.support import (
    client_from_new_ip,
    login,
    refresh,
    refused_connect,
    rotated_long_ago,
    session_id,
)

SHORT_GRACE_SECS = 1


def pair(session: dict) -> tuple[str, str]:
    return session["access_token"], session["refresh_token"]


async def family_rows(db, session: dict) -> list[dict]:
    rows = await db.fetch(
        "SELECT used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked "
        "FROM refresh_tokens WHERE family_id = $1 ORDER BY created_at",
        session_id(session),
    )
    return [dict(row) for row in rows]


async def test_a_token_presented_again_within_the_grace_gets_the_same_pair(api, db) -> None:
    session = await register(api)
    first = await refresh(api, session["refresh_token"])
    await asyncio.sleep(1.1)  # a later second, so a freshly signed access token would differ
    again = await refresh(api, session["refresh_token"])

    assert (first.status_code, again.status_code) == (200, 200)
    assert pair(again.json()) == pair(first.json())  # byte-identical tokens
    assert again.json()["user"] == session["user"]
    assert 0 < again.json()["expires_in"] <= first.json()["expires_in"] == 900
    assert await family_rows(db, session) == [
        {"used": True, "revoked": False},
        {"used": False, "revoked": False},
    ]
    rotated = first.json()
    assert (await api.get("/me", headers=bearer(rotated))).status_code == 200
    assert (await api.get("/me", headers=bearer(session))).status_code == 200
    # The successor rotates as usual, to a new pair.
    newer = await refresh(api, rotated["refresh_token"])
    assert newer.status_code == 200 and newer.json()["refresh_token"] != rotated["refresh_token"]


async def test_concurrent_refreshes_of_one_token_on_both_processes_get_one_pair(
    api, nodes, db
) -> None:
    session = await register(api)
    clients = (api, httpx.AsyncClient(base_url=nodes[1].url, headers=api.headers)) * 5
    try:
        # Open every HTTP connection first, so that the refreshes leave at the same moment.
        await asyncio.gather(*(client.get("/health") for client in clients))
        answers = await asyncio.gather(
            *(refresh(client, session["refresh_token"]) for client in clients)
        )
    finally:
        await clients[1].aclose()
    assert [a.status_code for a in answers] == [200] * 10
    assert len({pair(a.json()) for a in answers}) == 1
    assert await family_rows(db, session) == [
        {"used": True, "revoked": False},
        {"used": False, "revoked": False},
    ]


async def test_a_replay_within_the_grace_of_a_logged_out_session_is_refused(api) -> None:
    session = await register(api)
    rotated = (await refresh(api, session["refresh_token"])).json()
    assert (await api.post("/auth/logout", headers=bearer(rotated))).status_code == 204
    replay = await refresh(api, session["refresh_token"])
    assert replay.status_code == 401
    assert error(replay) == {"code": "unauthorized", "message": "refresh token is not valid"}


async def test_a_token_rotated_before_the_grace_is_a_theft(api, db) -> None:
    """The default grace (10 s) as configured: a rotation 60 s ago is past it."""
    session = await register(api)
    rotated = (await refresh(api, session["refresh_token"])).json()
    await rotated_long_ago(db, session["refresh_token"])
    reuse = await refresh(api, session["refresh_token"])
    assert error(reuse) == {
        "code": "unauthorized",
        "message": "refresh token was already used; the session is revoked",
    }
    assert error(await api.get("/me", headers=bearer(rotated)))["message"] == "session has ended"


@pytest.fixture(scope="module")
async def short_grace(stack: Stack) -> AsyncIterator[ServerProcess]:
    """A web process whose reuse grace is 1 s (the others use the default 10 s)."""
    server = ServerProcess(stack, REFRESH_REUSE_GRACE_SECS=str(SHORT_GRACE_SECS))
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


async def test_reuse_after_a_short_grace_revokes_the_session_and_its_access_tokens(
    short_grace, db
) -> None:
    async with client_from_new_ip(short_grace.url) as api:
        session = await register(api)
        other_device = (await login(api, session["user"]["username"])).json()
        rotated = (await refresh(api, session["refresh_token"])).json()
        within = await refresh(api, session["refresh_token"])
        assert pair(within.json()) == pair(rotated)

        await asyncio.sleep(SHORT_GRACE_SECS + 0.2)
        reuse = await refresh(api, session["refresh_token"])
        assert reuse.status_code == 401
        assert error(reuse) == {
            "code": "unauthorized",
            "message": "refresh token was already used; the session is revoked",
        }
        for tokens in (session, rotated):
            me = await api.get("/me", headers=bearer(tokens))
            assert (me.status_code, error(me)) == (
                401,
                {"code": "unauthorized", "message": "session has ended"},
            )
        assert error(await refresh(api, rotated["refresh_token"])) == {
            "code": "unauthorized",
            "message": "refresh token is not valid",
        }
        refusal = await refused_connect(short_grace.url, rotated)
        assert refusal["data"] == {"code": "unauthorized", "message": "session has ended"}

        assert (await api.get("/me", headers=bearer(other_device))).status_code == 200
    stored = await db.fetchrow(
        "SELECT revoked_at IS NOT NULL AS revoked, revoked_reason FROM sessions WHERE id = $1",
        session_id(session),
    )
    assert dict(stored) == {"revoked": True, "revoked_reason": "session_revoked"}
    assert await family_rows(db, session) == [
        {"used": True, "revoked": True},
        {"used": False, "revoked": True},
    ]
