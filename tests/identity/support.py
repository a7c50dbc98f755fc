"""What the /auth tests share: request bodies, stored-row counts, fresh client IPs, rate-limit
windows, session ids, refused socket connects, a publisher that keeps what it was asked to end
and a Redis server of the test's own."""

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
import socketio

from hugmood.delivery.bus import Emission
from tests.conftest import JWT_SECRET, Client, error, fake_ip

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


class Ends:
    """A publisher that keeps the `end` calls (the web process would disconnect those rooms)."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, str]] = []

    async def emit(self, emissions: list[Emission]) -> None:
        pass

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        pass

    async def end(self, room: str, reason: str) -> None:
        self.ended.append((room, reason))


def session_id(session: dict[str, Any]) -> str:
    """The session (refresh-token family) a login's access token belongs to."""
    return jwt.decode(session["access_token"], JWT_SECRET, algorithms=["HS256"])["sid"]


def digest(refresh_token: str) -> bytes:
    """How a refresh token is stored: its sha256."""
    return hashlib.sha256(refresh_token.encode()).digest()


async def rotated_long_ago(db, refresh_token: str, secs: int = 60) -> None:
    """Pretend the token was rotated `secs` ago, well past the default 10 s reuse grace."""
    await db.execute(
        "UPDATE refresh_tokens SET used_at = used_at - make_interval(secs => $2) "
        "WHERE token_hash = $1",
        digest(refresh_token),
        secs,
    )


async def refused_connect(url: str, session: dict[str, Any]) -> Any:
    """Connect with the session's access token, which must be refused; returns the refusal."""
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, {"token": session["access_token"]})
    assert not client.sio.connected
    return client.connect_error
