"""Every REST route except the public few refuses a caller without a valid access token.

The routes come from the application itself, so a route added later without auth fails here.
"""

from __future__ import annotations

import re
import uuid
from contextlib import asynccontextmanager

import pytest
from starlette.routing import Route

from rest.app import create_rest_app
from tests.conftest import Stack

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/anonymous"),
    ("POST", "/auth/refresh"),
}
ANSWER = {
    "error": {"code": "unauthorized", "message": "send 'Authorization: Bearer <access token>'"}
}


def routes() -> list[tuple[str, str]]:
    @asynccontextmanager
    async def no_lifespan(app):
        yield

    settings = Stack("postgresql://unused", "redis://unused", "unused").settings()
    app = create_rest_app(settings, no_lifespan)
    found = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    return sorted(found - PUBLIC)


def test_the_public_routes_exist() -> None:
    assert len(routes()) >= 20  # the walk below really sees the app's routes


@pytest.mark.parametrize(("method", "path"), routes())
async def test_route_refuses_missing_and_forged_tokens(api, method: str, path: str) -> None:
    url = re.sub(r"\{username\}", "someone", re.sub(r"\{id\}", str(uuid.uuid4()), path))
    body = {} if method in ("POST", "PUT", "PATCH") else None
    missing = await api.request(method, url, json=body)
    assert (missing.status_code, missing.json()) == (401, ANSWER)
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = await api.request(method, url, json=body, headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "unauthorized"
