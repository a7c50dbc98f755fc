"""/auth over HTTP: register, login, anonymous sessions, refresh rotation, logout, bearer tokens,
and the rate limits that guard them, checked against real server processes and the stored rows."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher

from tests.conftest import JWT_SECRET, bearer, fake_ip, forged, register

PASSWORD = "correct horse"  # what conftest.register uses
WRONG_LOGIN = {
    "code": "unauthorized",
    "message": "wrong username/email or password",
}
NO_BEARER = {
    "code": "unauthorized",
    "message": "send 'Authorization: Bearer <access token>'",
}


def error(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


def new_body(**fields: Any) -> dict[str, Any]:
    name = f"u{secrets.token_hex(6)}"
    return {"username": name, "email": f"{name}@example.test", "password": PASSWORD} | fields


async def counts(db) -> dict[str, int]:
    """Rows of every table a registration or login writes."""
    tables = ("users", "privacy_settings", "refresh_tokens")
    return {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in tables}


@asynccontextmanager
async def client_from_new_ip(url: httpx.URL | str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, headers={"X-Forwarded-For": fake_ip()}) as client:
        yield client


async def with_room_in_window(window_secs: int, needed_secs: float) -> None:
    """Limits count in fixed windows aligned on multiples of their length: wait for a fresh window
    if the current one ends within `needed_secs`, so a burst of attempts lands in one window."""
    left = window_secs - time.time() % window_secs
    if left < needed_secs:
        await asyncio.sleep(left + 0.1)


@pytest.fixture
def secret() -> str:
    """The servers' JWT secret."""
    return JWT_SECRET


async def login(api: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return await api.post("/auth/login", json={"login": name, "password": password})


async def refresh(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.post("/auth/refresh", json={"refresh_token": token})


def assert_rate_limited(response: httpx.Response, bucket: str, window_secs: int) -> None:
    assert response.status_code == 429, response.text
    assert error(response) == {
        "code": "rate_limited",
        "message": f"too many {bucket} attempts, try again later",
    }
    assert 1 <= int(response.headers["Retry-After"]) <= window_secs


# --- register --------------------------------------------------------------------------------


async def test_register_returns_user_and_tokens_and_stores_only_hashes(api, db, secret) -> None:
    body = new_body(display_name="Hugger")
    response = await api.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    session = response.json()
    user = session["user"]
    assert set(session) == {"user", "access_token", "refresh_token", "expires_in", "token_type"}
    assert (session["token_type"], session["expires_in"]) == ("Bearer", 900)
    assert {k: v for k, v in user.items() if k not in ("id", "joined_at")} == {
        "username": body["username"],
        "email": body["email"],
        "role": "user",
        "is_anonymous": False,
        "display_name": "Hugger",
        "bio": None,
        "profile_image": None,
        "time_zone": "UTC",
    }
    claims = jwt.decode(session["access_token"], secret, algorithms=["HS256"], issuer="hugmood")
    assert claims["sub"] == user["id"] and claims["anon"] is False

    me = await api.get("/me", headers=bearer(session))
    assert (me.status_code, me.json()) == (200, user)

    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user["id"])
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    tokens = await db.fetch(
        "SELECT family_id::text, token_hash FROM refresh_tokens WHERE user_id = $1", user["id"]
    )
    digest = hashlib.sha256(session["refresh_token"].encode()).digest()
    assert [tuple(row) for row in tokens] == [(claims["sid"], digest)]
    assert (
        await db.fetchval("SELECT count(*) FROM privacy_settings WHERE user_id = $1", user["id"])
        == 1
    )


@pytest.mark.parametrize(
    ("field", "change"),
    [("username", str.upper), ("email", str.upper), ("email", str.title)],
    ids=["USERNAME", "EMAIL", "Email"],
)
async def test_username_and_email_are_unique_case_insensitively(api, db, field, change) -> None:
    first = new_body()
    await register(api, **first)
    before = await counts(db)
    second = new_body(**{field: change(first[field])})
    response = await api.post("/auth/register", json=second)
    assert response.status_code == 409
    assert error(response) == {
        "code": "conflict",
        "message": f"this {field} is already taken",
        "field": field,
    }
    assert await counts(db) == before


USERNAME_PATTERN = EMAIL_PATTERN = "contains characters that are not allowed here"
INVALID_FIELDS = {
    "username-short": ({"username": "ab"}, "Expected `str` of length >= 3", "username"),
    "username-long": ({"username": "a" * 31}, "Expected `str` of length <= 30", "username"),
    "username-dash": ({"username": "bad-name"}, USERNAME_PATTERN, "username"),
    "username-space": ({"username": "two words"}, USERNAME_PATTERN, "username"),
    "username-accent": ({"username": "émile"}, USERNAME_PATTERN, "username"),
    "username-int": ({"username": 12345}, "Expected `str`, got `int`", "username"),
    "email-no-at": ({"email": "no-at-sign.test"}, EMAIL_PATTERN, "email"),
    "email-no-dot": ({"email": "a@nodot"}, EMAIL_PATTERN, "email"),
    "email-space": ({"email": "a b@c.test"}, EMAIL_PATTERN, "email"),
    "email-null": ({"email": None}, "Expected `str`, got `null`", "email"),
    "password-short": ({"password": "7 chars"}, "Expected `str` of length >= 8", "password"),
    "password-long": ({"password": "p" * 257}, "Expected `str` of length <= 256", "password"),
    "password-array": (
        {"password": ["correct", "horse"]},
        "Expected `str`, got `array`",
        "password",
    ),
    "name-empty": ({"display_name": ""}, "Expected `str` of length >= 1", "display_name"),
    "name-long": ({"display_name": "x" * 101}, "Expected `str` of length <= 100", "display_name"),
    "unknown-role": ({"role": "admin"}, "unknown field", "role"),
    "unknown-anonymous": ({"is_anonymous": True}, "unknown field", "is_anonymous"),
}


@pytest.mark.parametrize(
    ("fields", "message", "field"), INVALID_FIELDS.values(), ids=INVALID_FIELDS.keys()
)
async def test_invalid_registration_names_the_field_and_writes_nothing(
    api, db, fields, message, field
) -> None:
    body = new_body(**fields)
    before = await counts(db)
    response = await api.post("/auth/register", json=body)
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message, "field": field}
    assert await counts(db) == before


@pytest.mark.parametrize("missing", ["username", "email", "password"])
async def test_registration_requires_each_field(api, db, missing) -> None:
    body = new_body()
    del body[missing]
    before = await counts(db)
    response = await api.post("/auth/register", json=body)
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "message": "required field is missing",
        "field": missing,
    }
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "body is not valid JSON"),
        (b'{"username": "abc",', "body is not valid JSON"),
        (b"{'username': 'abc'}", "body is not valid JSON"),
        (b"[]", "Expected `object`, got `array`"),
        (b"null", "Expected `object`, got `null`"),
        (b'"username"', "Expected `object`, got `str`"),
        (b"42", "Expected `object`, got `int`"),
    ],
)
async def test_body_that_is_not_a_json_object_is_invalid(api, db, raw, message) -> None:
    before = await counts(db)
    response = await api.post(
        "/auth/register", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message}
    assert await counts(db) == before


def oversize_body(username: str) -> bytes:
    """Valid JSON for a valid registration, padded with whitespace past 64 KiB."""
    text = httpx.Request("POST", "/", json=new_body(username=username)).content
    return text[:-1] + b" " * (64 * 1024) + b"}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_64_kib_is_refused_before_anything_is_written(api, db, chunked) -> None:
    username = f"u{secrets.token_hex(6)}"
    payload = oversize_body(username)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    response = await api.post("/auth/register", content=stream() if chunked else payload)
    assert ("transfer-encoding" in response.request.headers) is chunked
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": "body larger than 65536 bytes"}
    assert await db.fetchval("SELECT count(*) FROM users WHERE username = $1", username) == 0


async def test_body_of_exactly_64_kib_is_accepted(api) -> None:
    text = httpx.Request("POST", "/", json=new_body()).content
    payload = text[:-1] + b" " * (64 * 1024 - len(text)) + b"}"
    assert len(payload) == 64 * 1024
    response = await api.post("/auth/register", content=payload)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("username", ["anon_1234", "Anon_me", "ANON_x"])
async def test_anonymous_prefix_is_reserved(api, db, username) -> None:
    before = await counts(db)
    response = await api.post("/auth/register", json=new_body(username=username))
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "message": "usernames starting with 'anon_' are reserved",
        "field": "username",
    }
    assert await counts(db) == before


async def test_register_is_limited_to_10_per_hour_per_ip(api, db) -> None:
    await with_room_in_window(3600, 30)
    for _ in range(10):
        await register(api)
    before = await counts(db)
    response = await api.post("/auth/register", json=new_body())
    assert_rate_limited(response, "register", 3600)
    assert await counts(db) == before
    async with client_from_new_ip(api.base_url) as elsewhere:
        await register(elsewhere)


NUL_CASES = [
    (
        "/auth/register",
        lambda: new_body(email=f"nul\u0000{secrets.token_hex(4)}@example.test"),
        "email",
    ),
    ("/auth/register", lambda: new_body(display_name="Hug\u0000ger"), "display_name"),
    ("/auth/login", lambda: {"login": "someone\u0000", "password": PASSWORD}, "login"),
]


@pytest.mark.parametrize(("path", "make_body", "field"), NUL_CASES, ids=["email", "name", "login"])
async def test_text_with_a_nul_character_is_a_client_error_not_a_500(
    api, path, make_body, field
) -> None:
    response = await api.post(path, json=make_body())
    # Either the field is invalid or (login) it simply matches no account; never `internal`.
    assert response.status_code in (400, 401), response.text
    assert error(response).get("field", field) == field


# --- login ------------------------------------------------------------------------------------


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


# --- anonymous --------------------------------------------------------------------------------


async def test_anonymous_session_is_a_full_session_without_email_or_password(
    api, db, secret
) -> None:
    response = await api.post("/auth/anonymous")
    assert response.status_code == 201, response.text
    session = response.json()
    user = session["user"]
    assert user["is_anonymous"] is True and user["email"] is None
    assert user["username"].startswith("anon_") and len(user["username"]) == 21
    claims = jwt.decode(session["access_token"], secret, algorithms=["HS256"], issuer="hugmood")
    assert claims["anon"] is True and claims["sub"] == user["id"]
    me = await api.get("/me", headers=bearer(session))
    assert (me.status_code, me.json()) == (200, user)
    assert (await refresh(api, session["refresh_token"])).status_code == 200
    row = await db.fetchrow(
        "SELECT password_hash, email, is_anonymous FROM users WHERE id = $1", user["id"]
    )
    assert tuple(row) == (None, None, True)


async def test_each_anonymous_session_is_a_new_account(api) -> None:
    first, second = [(await api.post("/auth/anonymous")).json()["user"] for _ in range(2)]
    assert first["id"] != second["id"] and first["username"] != second["username"]


async def test_anonymous_sessions_are_limited_to_10_per_hour_per_ip(api, db) -> None:
    await with_room_in_window(3600, 30)
    for _ in range(10):
        assert (await api.post("/auth/anonymous")).status_code == 201
    before = await counts(db)
    assert_rate_limited(await api.post("/auth/anonymous"), "anonymous", 3600)
    assert await counts(db) == before


# --- refresh ----------------------------------------------------------------------------------


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


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(api, db, secret) -> None:
    session = await register(api)
    bystander = (await login(api, session["user"]["username"])).json()
    rotated = (await refresh(api, session["refresh_token"])).json()

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

    family = jwt.decode(rotated["access_token"], secret, algorithms=["HS256"])["sid"]
    live = await db.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL", family
    )
    assert live == 0
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


# --- logout -----------------------------------------------------------------------------------


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


# --- bearer tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc.def.ghi"},
        {"Authorization": "abc.def.ghi"},
    ],
    ids=["missing", "no-token", "basic", "other-scheme", "no-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me"), ("PATCH", "/me"), ("POST", "/auth/logout")],
)
async def test_missing_or_malformed_authorization_is_401_with_challenge(
    api, method, path, headers
) -> None:
    response = await api.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert error(response) == NO_BEARER
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_correctly_signed_token_for_a_real_user_is_accepted(api, secret) -> None:
    """The control for the refusals below: each of them differs from this token in one way."""
    user = (await register(api))["user"]
    token = forged(secret, {"sub": user["id"]})
    response = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()) == (200, user)


def tampered(secret: str, user_id: str) -> str:
    """A genuine token of another user with this user's id spliced into its payload."""
    genuine = forged(secret, {}).split(".")
    payload = forged(secret, {"sub": user_id}).split(".")[1]
    return ".".join([genuine[0], payload, genuine[2]])


def unsigned(user_id: str) -> str:
    now = int(time.time())
    claims = {"iss": "hugmood", "sub": user_id, "sid": user_id, "iat": now, "exp": now + 60}
    return jwt.encode(claims, None, algorithm="none")


def without_sid(secret: str, user_id: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": "hugmood", "sub": user_id, "iat": now, "exp": now + 60}, secret)


EXPIRED = "access token expired"
INVALID = "invalid access token"
BAD_TOKENS = {
    "expired": (
        lambda k, u: forged(k, {"sub": u, "iat": 0, "exp": int(time.time()) - 60}),
        EXPIRED,
    ),
    "other-secret": (lambda k, u: forged("x" * 48, {"sub": u}), INVALID),
    "other-issuer": (lambda k, u: forged(k, {"sub": u, "iss": "evil"}), INVALID),
    "hs512": (lambda k, u: forged(k, {"sub": u}, alg="HS512"), INVALID),
    "alg-none": (lambda k, u: unsigned(u), INVALID),
    "no-sid": (without_sid, INVALID),
    "sub-not-uuid": (lambda k, u: forged(k, {"sub": "admin"}), INVALID),
    "tampered": (tampered, INVALID),
    "not-a-jwt": (lambda k, u: "not-a-jwt", INVALID),
    "oversize": (lambda k, u: "a" * 5000, "an access token is required"),
}


@pytest.mark.parametrize(("make", "message"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_expired_forged_and_malformed_tokens_are_refused(api, secret, make, message) -> None:
    user = (await register(api))["user"]
    token = make(secret, user["id"])
    response = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error(response) == {"code": "unauthorized", "message": message}
    assert response.headers["WWW-Authenticate"] == "Bearer"
