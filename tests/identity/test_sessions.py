"""Refresh-token rotation, the reuse grace, reuse detection (the whole session revoked) and
logout, over HTTP."""

from __future__ import annotations

import secrets

import httpx
import pytest

from hugmood.identity import sessions
from tests.conftest import bearer, error, open_services, register
from tests.identity.support import (
    Ends,
    assert_rate_limited,
    digest,
    login,
    refresh,
    rotated_long_ago,
    session_id,
    with_room_in_window,
)

# --- refresh -------------------------------------------------------------------------------------


async def test_refresh_rotates_the_pair_within_the_session(api, db) -> None:
    session = await register(api)
    response = await refresh(api, session["refresh_token"])
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["user"] == session["user"]
    assert rotated["refresh_token"] != session["refresh_token"]
    assert (await api.get("/me", headers=bearer(rotated))).status_code == 200
    assert (await refresh(api, rotated["refresh_token"])).status_code == 200

    rows = await db.fetch(
        "SELECT family_id, used_at IS NOT NULL AS used FROM refresh_tokens "
        "WHERE user_id = $1 ORDER BY created_at",
        session["user"]["id"],
    )
    assert [row["used"] for row in rows] == [True, True, False]
    assert len({row["family_id"] for row in rows}) == 1


async def test_reusing_a_refresh_token_after_the_grace_revokes_the_whole_session(api, db) -> None:
    session = await register(api)
    bystander = (await login(api, session["user"]["username"])).json()
    rotated = (await refresh(api, session["refresh_token"])).json()
    await rotated_long_ago(db, session["refresh_token"])

    reuse = await refresh(api, session["refresh_token"])
    assert reuse.status_code == 401
    assert error(reuse) == {
        "code": "unauthorized",
        "message": "refresh token was already used; the session is revoked",
    }
    newer = await refresh(api, rotated["refresh_token"])
    assert error(newer) == {"code": "unauthorized", "message": "refresh token is not valid"}
    for tokens in (session, rotated):
        me = await api.get("/me", headers=bearer(tokens))
        assert me.status_code == 401
        assert error(me) == {"code": "unauthorized", "message": "session has ended"}

    family = session_id(rotated)
    live = await db.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL", family
    )
    assert live == 0
    stored = await db.fetchrow(
        "SELECT revoked_at IS NOT NULL AS revoked, revoked_reason FROM sessions WHERE id = $1",
        family,
    )
    assert dict(stored) == {"revoked": True, "revoked_reason": "session_revoked"}
    # The user's other session (another device) is untouched.
    assert (await api.get("/me", headers=bearer(bystander))).status_code == 200
    assert (await refresh(api, bystander["refresh_token"])).status_code == 200


@pytest.mark.parametrize(
    "token",
    [secrets.token_urlsafe(32), "x", "a" * 512],
    ids=["unknown", "short", "max-length"],
)
async def test_refresh_with_an_unknown_token_is_unauthorized(api, token) -> None:
    response = await refresh(api, token)
    assert response.status_code == 401
    assert error(response) == {"code": "unauthorized", "message": "refresh token is not valid"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"refresh_token": ""}, "Expected `str` of length >= 1", "refresh_token"),
        ({"refresh_token": "a" * 513}, "Expected `str` of length <= 512", "refresh_token"),
        ({"refresh_token": None}, "Expected `str`, got `null`", "refresh_token"),
        ({}, "required field is missing", "refresh_token"),
    ],
)
async def test_malformed_refresh_is_invalid(api, body, message, field) -> None:
    response = await api.post("/auth/refresh", json=body)
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message, "field": field}


async def test_expired_refresh_token_is_refused(api, db) -> None:
    session = await register(api)
    await db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
        session["user"]["id"],
    )
    response = await refresh(api, session["refresh_token"])
    assert response.status_code == 401
    assert error(response) == {"code": "unauthorized", "message": "refresh token expired"}


async def test_refresh_is_limited_to_60_per_minute_per_ip(api) -> None:
    await with_room_in_window(60, 10)
    for _ in range(60):
        assert (await refresh(api, secrets.token_urlsafe(32))).status_code == 401
    assert_rate_limited(await refresh(api, secrets.token_urlsafe(32)), "refresh", 60)


# --- logout --------------------------------------------------------------------------------------


async def test_logout_ends_only_that_session_everywhere(api, nodes, db) -> None:
    session = await register(api)
    other_device = (await login(api, session["user"]["username"])).json()

    response = await api.post("/auth/logout", headers=bearer(session))
    assert response.status_code == 204 and response.content == b""

    assert error(await refresh(api, session["refresh_token"])) == {
        "code": "unauthorized",
        "message": "refresh token is not valid",
    }
    async with httpx.AsyncClient(base_url=nodes[1].url) as node_b:
        for client in (api, node_b):
            me = await client.get("/me", headers=bearer(session))
            assert me.status_code == 401
            assert error(me) == {"code": "unauthorized", "message": "session has ended"}
    assert (await api.post("/auth/logout", headers=bearer(session))).status_code == 401

    assert (await api.get("/me", headers=bearer(other_device))).status_code == 200
    assert (await refresh(api, other_device["refresh_token"])).status_code == 200
    revoked = await db.fetch(
        "SELECT revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE user_id = $1 "
        "ORDER BY created_at",
        session["user"]["id"],
    )
    assert [row["revoked"] for row in revoked] == [True, False, False]


# --- purge ---------------------------------------------------------------------------------------


async def test_purging_expired_tokens_drops_the_sessions_left_without_any(api, db, stack) -> None:
    gone, kept = await register(api), await register(api)
    rotated = (await refresh(api, kept["refresh_token"])).json()
    expire = "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' "
    await db.execute(expire + "WHERE family_id = $1", session_id(gone))
    await db.execute(expire + "WHERE token_hash = $1", digest(kept["refresh_token"]))

    svc = await open_services(stack.settings(), Ends())
    try:
        assert await sessions.purge_expired(svc.ctx) >= 2
    finally:
        await svc.close()
    stored = await db.fetch(
        "SELECT id::text FROM sessions WHERE id = ANY($1::uuid[])",
        [session_id(gone), session_id(kept)],
    )
    assert [row["id"] for row in stored] == [session_id(kept)]
    me = await api.get("/me", headers=bearer(gone))
    assert (me.status_code, error(me)) == (
        401,
        {"code": "unauthorized", "message": "session has ended"},
    )
    assert (await api.get("/me", headers=bearer(rotated))).status_code == 200
    assert (await refresh(api, rotated["refresh_token"])).status_code == 200
