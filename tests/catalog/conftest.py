"""A catalog of its own for these tests: a database with the schema and the demo catalog
(loaded through the domain, as `make run` does), one web process on it, an admin and a user.

Apart from the suite's shared database, so that what these tests create (and the counts they
assert) is not mixed with other tests' rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx
import pytest

from hugmood.catalog import demo
from hugmood.services import Services
from tests.conftest import (
    ROOT,
    Recorder,
    ServerProcess,
    Stack,
    _with_database,
    bearer,
    fake_ip,
    open_services,
    register,
)


@dataclass
class Catalog:
    stack: Stack
    db: asyncpg.Pool
    services: Services
    server: ServerProcess
    admin: dict[str, Any]  # sessions: an admin's and a plain user's
    user: dict[str, Any]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server.url, headers={"X-Forwarded-For": fake_ip()})


async def admin_session(api: httpx.AsyncClient, db: asyncpg.Pool) -> dict[str, Any]:
    """A new account made admin, signed in again so that its token carries the role."""
    session = await register(api)
    await db.execute(
        "UPDATE users SET role = 'admin' WHERE id = $1", uuid.UUID(session["user"]["id"])
    )
    login = {"login": session["user"]["username"], "password": "correct horse"}
    response = await api.post("/auth/login", json=login)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["role"] == "admin"
    return response.json()


@pytest.fixture(scope="package")
async def catalog(stack: Stack) -> AsyncIterator[Catalog]:
    """Torn down after this package's last test: its connections are not held for the rest
    of the suite."""
    name = f"{stack.database_url.rsplit('/', 1)[1]}_catalog"
    admin_conn = await asyncpg.connect(stack.database_url)
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    await admin_conn.close()
    mine = replace(stack, database_url=_with_database(stack.database_url, name))
    conn = await asyncpg.connect(mine.database_url)
    await conn.execute((ROOT / "schema.sql").read_text())
    await conn.close()
    db = await asyncpg.create_pool(mine.database_url, min_size=1, max_size=4)
    services = await open_services(mine.settings(DB_POOL_MIN="1", DB_POOL_MAX="4"), Recorder())
    server = ServerProcess(mine, RATE_REGISTER_IP="1000/60", RATE_LOGIN_IP="1000/60")
    try:
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url) as api:
            admin = await admin_session(api, db)
            user = await register(api)
        await demo.load(services.ctx, uuid.UUID(admin["user"]["id"]))
        yield Catalog(mine, db, services, server, admin, user)
    finally:
        server.stop()
        await services.close()
        await db.close()
        cleanup = await asyncpg.connect(stack.database_url)
        await cleanup.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await cleanup.close()


@pytest.fixture
async def api(catalog: Catalog) -> AsyncIterator[httpx.AsyncClient]:
    """REST client of the catalog's web process, from its own client IP."""
    async with catalog.client() as client:
        yield client


@pytest.fixture
def as_user(catalog: Catalog) -> dict[str, str]:
    return bearer(catalog.user)


@pytest.fixture
def as_admin(catalog: Catalog) -> dict[str, str]:
    return bearer(catalog.admin)
