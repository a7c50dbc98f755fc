"""Registration and anonymous sessions over HTTP: what is answered, what is stored (only
hashes), what is refused and the per-IP limits, against real server processes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from argon2 import PasswordHasher

from tests.conftest import bearer, error, register
from tests.identity.support import (
    PASSWORD,
    assert_rate_limited,
    client_from_new_ip,
    counts,
    new_body,
    refresh,
    with_room_in_window,
)

# --- register ------------------------------------------------------------------------------------


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


# --- anonymous -----------------------------------------------------------------------------------


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
