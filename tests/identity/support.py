"""What the /auth tests share: request bodies, stored-row counts, fresh client IPs and
rate-limit windows."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import error, fake_ip

PASSWORD = "correct horse"  # what conftest.register uses
WRONG_LOGIN = {
    "code": "unauthorized",
    "message": "wrong username/email or password",
}
NO_BEARER = {
    "code": "unauthorized",
    "message": "send 'Authorization: Bearer <access token>'",
}


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
