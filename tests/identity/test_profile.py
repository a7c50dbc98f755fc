"""/me over HTTP: the caller's own profile (GET, PATCH), checked against what the servers answer
and what the database holds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import bearer, error, register

PROFILE_COLUMNS = "display_name, bio, profile_image, time_zone, updated_at"


async def stored_profile(db, user_id: str) -> dict[str, Any]:
    row = await db.fetchrow(f"SELECT {PROFILE_COLUMNS} FROM users WHERE id = $1", user_id)
    return dict(row)


async def patch(api: httpx.AsyncClient, session: dict[str, Any], body: Any) -> httpx.Response:
    return await api.patch("/me", json=body, headers=bearer(session))


async def test_get_me_returns_the_callers_own_user(api) -> None:
    mine, other = await register(api, display_name="Me"), await register(api)
    response = await api.get("/me", headers=bearer(mine))
    assert (response.status_code, response.json()) == (200, mine["user"])
    assert response.json()["id"] != other["user"]["id"]


async def test_patch_sets_profile_fields_and_stores_them(api, db) -> None:
    session = await register(api)
    user_id = session["user"]["id"]
    before = await stored_profile(db, user_id)
    changes = {
        "display_name": "Hugger",
        "bio": "I give hugs ✨",
        "profile_image": "https://cdn.example.test/me.png",
        "time_zone": "America/Argentina/Buenos_Aires",
    }
    response = await patch(api, session, changes)
    assert response.status_code == 200, response.text
    assert response.json() == session["user"] | changes
    assert (await api.get("/me", headers=bearer(session))).json() == response.json()
    after = await stored_profile(db, user_id)
    assert {k: after[k] for k in changes} == changes
    assert after["updated_at"] > before["updated_at"]


async def test_patch_changes_only_the_fields_sent(api) -> None:
    session = await register(api, display_name="Kept")
    await patch(api, session, {"bio": "first"})
    response = await patch(api, session, {"time_zone": "Europe/Paris"})
    assert response.json() == session["user"] | {"bio": "first", "time_zone": "Europe/Paris"}


async def test_null_clears_optional_fields(api, db) -> None:
    session = await register(api, display_name="Hugger")
    await patch(api, session, {"bio": "hi", "profile_image": "https://example.test/a.png"})
    response = await patch(api, session, {"display_name": None, "bio": None, "profile_image": None})
    assert response.status_code == 200, response.text
    cleared = {"display_name": None, "bio": None, "profile_image": None}
    assert response.json() == session["user"] | cleared
    stored = await stored_profile(db, session["user"]["id"])
    assert {k: stored[k] for k in cleared} == cleared


async def test_empty_patch_returns_the_user_unchanged(api, db) -> None:
    session = await register(api, display_name="Same")
    before = await stored_profile(db, session["user"]["id"])
    response = await patch(api, session, {})
    assert (response.status_code, response.json()) == (200, session["user"])
    assert await stored_profile(db, session["user"]["id"]) == before


IMAGE_PATTERN = "contains characters that are not allowed here"
INVALID_PATCHES = {
    "image-http": ({"profile_image": "http://example.test/a.png"}, IMAGE_PATTERN, "profile_image"),
    "image-no-host": ({"profile_image": "https://"}, IMAGE_PATTERN, "profile_image"),
    "image-javascript": ({"profile_image": "javascript:alert(1)"}, IMAGE_PATTERN, "profile_image"),
    "image-space": ({"profile_image": "https://a.test/x y.png"}, IMAGE_PATTERN, "profile_image"),
    "image-long": (
        {"profile_image": "https://a.test/" + "x" * 486},
        "Expected `str` of length <= 500",
        "profile_image",
    ),
    "name-empty": ({"display_name": ""}, "Expected `str` of length >= 1", "display_name"),
    "name-long": ({"display_name": "x" * 101}, "Expected `str` of length <= 100", "display_name"),
    "bio-long": ({"bio": "x" * 501}, "Expected `str` of length <= 500", "bio"),
    "bio-int": ({"bio": 5}, "Expected `str | null`, got `int`", "bio"),
    "zone-unknown": (
        {"time_zone": "Mars/Olympus"},
        "unknown time zone 'Mars/Olympus'",
        "time_zone",
    ),
    "zone-offset": ({"time_zone": "+02:00"}, "unknown time zone '+02:00'", "time_zone"),
    "zone-path": (
        {"time_zone": "../../etc/passwd"},
        "unknown time zone '../../etc/passwd'",
        "time_zone",
    ),
    "zone-absolute": (
        {"time_zone": "/etc/localtime"},
        "unknown time zone '/etc/localtime'",
        "time_zone",
    ),
    "zone-empty": ({"time_zone": ""}, "Expected `str` of length >= 1", "time_zone"),
    "zone-null": ({"time_zone": None}, "Expected `str`, got `null`", "time_zone"),
    "unknown-username": ({"username": "renamed"}, "unknown field", "username"),
    "unknown-role": ({"role": "admin"}, "unknown field", "role"),
    "unknown-email": ({"email": "new@example.test"}, "unknown field", "email"),
}


@pytest.mark.parametrize(
    ("body", "message", "field"), INVALID_PATCHES.values(), ids=INVALID_PATCHES.keys()
)
async def test_invalid_patch_names_the_field_and_changes_nothing(
    api, db, body, message, field
) -> None:
    session = await register(api, display_name="Before")
    before = await stored_profile(db, session["user"]["id"])
    response = await patch(api, session, {"display_name": "After"} | body)
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message, "field": field}
    assert await stored_profile(db, session["user"]["id"]) == before
    assert (await api.get("/me", headers=bearer(session))).json() == session["user"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[]", "Expected `object`, got `array`"),
        (b"null", "Expected `object`, got `null`"),
        (b"{", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
    ],
)
async def test_patch_body_must_be_a_json_object(api, raw, message) -> None:
    session = await register(api)
    response = await api.patch("/me", content=raw, headers=bearer(session))
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message}


async def test_bio_with_a_nul_character_is_invalid_not_a_500(api) -> None:
    session = await register(api)
    response = await patch(api, session, {"bio": "hugs\u0000"})
    assert response.status_code == 400, response.text
    assert error(response)["field"] == "bio"


async def test_anonymous_user_can_edit_their_profile(api) -> None:
    session = (await api.post("/auth/anonymous")).json()
    response = await patch(api, session, {"display_name": "Shy"})
    assert (response.status_code, response.json()) == (
        200,
        session["user"] | {"display_name": "Shy"},
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me"), ("PATCH", "/me"), ("GET", "/me/privacy"), ("PUT", "/me/privacy")],
)
async def test_every_me_route_needs_a_bearer_token(api, method, path) -> None:
    # A body that would be invalid: authentication is checked first.
    response = await api.request(method, path, json={"nonsense": True})
    assert response.status_code == 401
    assert error(response) == {
        "code": "unauthorized",
        "message": "send 'Authorization: Bearer <access token>'",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"
