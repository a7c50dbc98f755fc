"""Login over HTTP: by username or email in any case, failures that reveal nothing, and the
per-IP and per-account limits."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import bearer, error, register
from tests.identity.support import (
    PASSWORD,
    WRONG_LOGIN,
    assert_rate_limited,
    client_from_new_ip,
    counts,
    login,
    with_room_in_window,
)


@pytest.mark.parametrize(
    "spell",
    [
        lambda user: user["username"],
        lambda user: user["username"].upper(),
        lambda user: user["email"],
        lambda user: user["email"].upper(),
        lambda user: f"  {user['email']}  ",
    ],
    ids=["username", "USERNAME", "email", "EMAIL", "padded-email"],
)
async def test_login_by_username_or_email_in_any_case(api, db, spell) -> None:
    user = (await register(api))["user"]
    response = await login(api, spell(user))
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["user"] == user
    assert (await api.get("/me", headers=bearer(session))).json() == user
    families = await db.fetchval(
        "SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE user_id = $1", user["id"]
    )
    assert families == 2  # registration and this login are separate sessions


async def test_wrong_password_unknown_user_and_passwordless_account_look_the_same(api, db) -> None:
    user = (await register(api))["user"]
    anonymous = (await api.post("/auth/anonymous")).json()["user"]
    before = await counts(db)
    attempts = [
        await login(api, user["username"], "wrong password"),
        await login(api, f"nobody{secrets.token_hex(4)}"),
        await login(api, f"nobody{secrets.token_hex(4)}@example.test"),
        await login(api, anonymous["username"], "any password"),
    ]
    for response in attempts:
        assert response.status_code == 401
        assert error(response) == WRONG_LOGIN
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"login": "", "password": PASSWORD}, "Expected `str` of length >= 1", "login"),
        ({"login": "someone"}, "required field is missing", "password"),
        ({"login": "someone", "password": PASSWORD, "remember": True}, "unknown field", "remember"),
        ({"login": 7, "password": PASSWORD}, "Expected `str`, got `int`", "login"),
    ],
)
async def test_malformed_login_is_invalid(api, body, message, field) -> None:
    response = await api.post("/auth/login", json=body)
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message, "field": field}


async def test_login_is_limited_to_30_per_minute_per_ip(api) -> None:
    user = (await register(api))["user"]
    await with_room_in_window(60, 20)
    for i in range(30):  # distinct unknown accounts: only the per-IP limit is in play
        assert (await login(api, f"nobody{i}{secrets.token_hex(3)}")).status_code == 401
    assert_rate_limited(await login(api, user["username"]), "login", 60)
    async with client_from_new_ip(api.base_url) as elsewhere:
        assert (await login(elsewhere, user["username"])).status_code == 200


async def test_ten_failed_logins_lock_the_account_for_everyone(api) -> None:
    user = (await register(api))["user"]
    other = (await register(api))["user"]
    await with_room_in_window(15 * 60, 30)
    for _ in range(10):
        assert (await login(api, user["username"], "wrong password")).status_code == 401
    assert_rate_limited(await login(api, user["username"]), "failed login", 15 * 60)
    async with client_from_new_ip(api.base_url) as elsewhere:
        assert_rate_limited(await login(elsewhere, user["username"]), "failed login", 15 * 60)
    # The lock is per account: the same IP can still log in to another account.
    assert (await login(api, other["username"])).status_code == 200


async def test_successful_logins_do_not_count_as_failures(api) -> None:
    user = (await register(api))["user"]
    await with_room_in_window(15 * 60, 30)
    for _ in range(9):
        assert (await login(api, user["username"], "wrong password")).status_code == 401
    for _ in range(3):
        assert (await login(api, user["username"])).status_code == 200


async def test_failed_login_limit_covers_username_and_email_alike(api) -> None:
    user = (await register(api))["user"]
    await with_room_in_window(15 * 60, 30)
    for _ in range(10):
        assert (await login(api, user["username"], "wrong password")).status_code == 401
    assert_rate_limited(await login(api, user["email"]), "failed login", 15 * 60)


async def test_login_by_email_with_non_ascii_capital(api) -> None:
    session = await register(api, email=f"İlker.{secrets.token_hex(4)}@example.test")
    response = await login(api, session["user"]["email"])
    assert response.status_code == 200, response.text
