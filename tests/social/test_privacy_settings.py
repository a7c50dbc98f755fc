"""/me/privacy over HTTP: the defaults every account starts with (friends for all three), and
replacing them, checked against what the servers answer and what the database holds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import bearer, error, register

DEFAULT_PRIVACY = {
    "allow_hugs_from": "friends",
    "show_mood_to": "friends",
    "show_activity_to": "friends",
}


async def stored_privacy(db, user_id: str) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT allow_hugs_from, show_mood_to, show_activity_to FROM privacy_settings "
        "WHERE user_id = $1",
        user_id,
    )
    return dict(row)


async def test_privacy_defaults_to_friends_for_registered_and_anonymous_users(api) -> None:
    for session in (await register(api), (await api.post("/auth/anonymous")).json()):
        response = await api.get("/me/privacy", headers=bearer(session))
        assert (response.status_code, response.json()) == (200, DEFAULT_PRIVACY)


async def test_put_privacy_replaces_and_stores_all_three(api, db) -> None:
    session, other = await register(api), await register(api)
    wanted = {
        "allow_hugs_from": "everyone",
        "show_mood_to": "nobody",
        "show_activity_to": "friends",
    }
    response = await api.put("/me/privacy", json=wanted, headers=bearer(session))
    assert (response.status_code, response.json()) == (200, wanted)
    assert (await api.get("/me/privacy", headers=bearer(session))).json() == wanted
    assert await stored_privacy(db, session["user"]["id"]) == wanted
    assert await stored_privacy(db, other["user"]["id"]) == DEFAULT_PRIVACY


INVALID_PRIVACY = {
    "missing-one": (
        {"allow_hugs_from": "everyone", "show_mood_to": "nobody"},
        "required field is missing",
        "show_activity_to",
    ),
    "bad-enum": (
        DEFAULT_PRIVACY | {"show_mood_to": "strangers"},
        "Invalid enum value 'strangers'",
        "show_mood_to",
    ),
    "enum-case": (
        DEFAULT_PRIVACY | {"allow_hugs_from": "Everyone"},
        "Invalid enum value 'Everyone'",
        "allow_hugs_from",
    ),
    "null": (
        DEFAULT_PRIVACY | {"show_activity_to": None},
        "Expected `str`, got `null`",
        "show_activity_to",
    ),
    "unknown": (DEFAULT_PRIVACY | {"show_email_to": "nobody"}, "unknown field", "show_email_to"),
}


@pytest.mark.parametrize(
    ("body", "message", "field"), INVALID_PRIVACY.values(), ids=INVALID_PRIVACY.keys()
)
async def test_invalid_privacy_names_the_field_and_changes_nothing(
    api, db, body, message, field
) -> None:
    session = await register(api)
    response = await api.put("/me/privacy", json=body, headers=bearer(session))
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "message": message, "field": field}
    assert await stored_privacy(db, session["user"]["id"]) == DEFAULT_PRIVACY


async def test_empty_privacy_put_is_invalid(api, db) -> None:
    session = await register(api)
    response = await api.put("/me/privacy", json={}, headers=bearer(session))
    assert response.status_code == 400
    assert error(response)["field"] in DEFAULT_PRIVACY
    assert await stored_privacy(db, session["user"]["id"]) == DEFAULT_PRIVACY
