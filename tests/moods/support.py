"""What the mood tests share: entries posted over REST, back-dated rows, settings and follows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from tests.conftest import bearer, uid

VALID = {"mood": "calm", "intensity": 0.5, "valence": 0.5, "arousal": 0.5}


def invalid(message: str, field: str) -> dict[str, Any]:
    return {"error": {"code": "invalid", "message": message, "field": field}}


async def post_mood(api: httpx.AsyncClient, session: dict, **fields: Any) -> httpx.Response:
    return await api.post("/me/moods", json=VALID | fields, headers=bearer(session))


async def recorded(api: httpx.AsyncClient, session: dict, **fields: Any) -> dict[str, Any]:
    response = await post_mood(api, session, **fields)
    assert response.status_code == 201, response.text
    return response.json()


async def insert(
    db: asyncpg.Pool,
    session: dict,
    at: datetime,
    mood: str = "calm",
    valence: float = 0.5,
    arousal: float = 0.5,
    visibility: str = "everyone",
) -> str:
    """An entry dated `at`, written directly so that tests control time."""
    entry_id = await db.fetchval(
        "INSERT INTO mood_entries (user_id, mood, intensity, valence, arousal, visibility, "
        "created_at) VALUES ($1, $2, 0.5, $3, $4, $5, $6) RETURNING id",
        uuid.UUID(uid(session)),
        mood,
        valence,
        arousal,
        visibility,
        at,
    )
    return str(entry_id)


async def stored_count(db: asyncpg.Pool, session: dict) -> tuple[int, int]:
    """(entries, tags) stored for the user."""
    row = await db.fetchrow(
        "SELECT count(DISTINCT m.id) AS entries, count(t.tag) AS tags FROM mood_entries m "
        "LEFT JOIN mood_entry_tags t ON t.mood_entry_id = m.id WHERE m.user_id = $1",
        uuid.UUID(uid(session)),
    )
    return row["entries"], row["tags"]


async def set_time_zone(api: httpx.AsyncClient, session: dict, tz: str) -> None:
    response = await api.patch("/me", json={"time_zone": tz}, headers=bearer(session))
    assert response.status_code == 200, response.text


async def show_mood_to(api: httpx.AsyncClient, session: dict, audience: str) -> None:
    settings = {
        "allow_hugs_from": "friends",
        "show_mood_to": audience,
        "show_activity_to": "friends",
    }
    response = await api.put("/me/privacy", json=settings, headers=bearer(session))
    assert response.status_code == 200, response.text


async def all_pages(api: httpx.AsyncClient, session: dict, url: str, limit: int) -> list[list]:
    """Every page of a mood list, following next_cursor."""
    pages, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await api.get(url, params=params, headers=bearer(session))
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def ids(pages: list[list]) -> list[str]:
    return [item["id"] for page in pages for item in page]
