"""Hostile REST input: a body or query a route cannot read is a 400 `invalid` that says why
(not UTF-8, not JSON, another media type, nested too deep, too many items, too large), never a
500, and never an error or a traceback in the server's log.

The routes come from the application itself: a route added later must be classified below, and
is then fuzzed with the others."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from hugmood.core.validation import MAX_DEPTH, MAX_ITEMS
from rest.app import create_rest_app
from tests.conftest import (
    LoggedServer,
    Stack,
    bearer,
    fake_ip,
    faults,
    logged_server,
    register,
    uid,
)

# Routes that read a JSON body, routes that read their query, and the rest.
BODY = [
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("PATCH", "/me"),
    ("PUT", "/me/privacy"),
    ("POST", "/me/moods"),
    ("POST", "/hugs"),
    ("POST", "/devices"),
    ("PUT", "/me/notifications"),
]
QUERY = [
    ("GET", "/me/moods"),
    ("GET", "/me/moods/stats"),
    ("GET", "/users/{id}/moods"),
    ("GET", "/hugs"),
    ("GET", "/users/{id}/followers"),
    ("GET", "/users/{id}/following"),
    ("GET", "/users/{id}/friends"),
    ("GET", "/catalog/fragrances"),
    ("GET", "/catalog/collections"),
    ("GET", "/catalog/designs"),
    ("GET", "/devices"),
    ("GET", "/group-hugs"),
    ("GET", "/group-hugs/{id}/participants"),
]
NEITHER = [
    ("GET", "/group-hugs/{id}"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/auth/anonymous"),
    ("POST", "/auth/logout"),
    ("GET", "/me"),
    ("GET", "/me/privacy"),
    ("GET", "/me/moods/streak"),
    ("GET", "/users/by-username/{username}"),
    ("POST", "/users/{id}/follow"),
    ("DELETE", "/users/{id}/follow"),
    ("POST", "/users/{id}/block"),
    ("DELETE", "/users/{id}/block"),
    ("GET", "/catalog/fragrances/{ref}"),
    ("DELETE", "/devices/{token}"),
    ("GET", "/me/notifications"),
    # Admin routes answer this suite's caller (not an admin) 403 before reading anything.
    *[
        (method, f"/admin/catalog/{kind}{suffix}")
        for kind in ("notes", "fragrances", "products", "collections", "designs")
        for method, suffix in (("POST", ""), ("PATCH", "/{id}"), ("DELETE", "/{id}"))
    ],
    ("POST", "/admin/catalog/products/{id}/stock"),
]
RATES = {
    name: "1000000/60"
    for name in ("RATE_LOGIN_IP", "RATE_LOGIN_ACCOUNT", "RATE_REGISTER_IP", "RATE_REFRESH_IP")
} | {"RATE_HUG_SEND": "1000000/60"}
DEEP = b"[" * 1000 + b"]" * 1000


def invalid(message: str) -> dict[str, Any]:
    return {"error": {"code": "invalid", "message": message}}


@pytest.fixture(scope="module")
async def server(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with logged_server(stack, tmp_path_factory.mktemp("hostile-bodies"), **RATES) as server:
        yield server


@dataclass
class Caller:
    """A signed-in client of the module's server, from its own address (own rate limits)."""

    http: httpx.AsyncClient
    user_id: str

    def url(self, path: str) -> str:
        path = path.replace("{id}", self.user_id).replace("{token}", "no-such-token")
        return path.replace("{username}", "someone")

    async def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        return await self.http.request(method, self.url(path), **options)


@pytest.fixture(scope="module")
async def caller(server: LoggedServer) -> AsyncIterator[Caller]:
    address = {"X-Forwarded-For": fake_ip()}
    async with httpx.AsyncClient(base_url=server.node.url, headers=address) as http:
        session = await register(http)
        http.headers.update(bearer(session))
        yield Caller(http, uid(session))


def app_routes() -> set[tuple[str, str]]:
    @asynccontextmanager
    async def no_lifespan(app):
        yield

    app = create_rest_app(
        Stack("postgresql://unused", "redis://unused", "unused").settings(), no_lifespan
    )
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_route_is_classified() -> None:
    classified = BODY + QUERY + NEITHER
    assert len(set(classified)) == len(classified)
    assert app_routes() == set(classified)


@pytest.mark.parametrize(("method", "path"), BODY)
async def test_a_body_that_is_not_utf8_is_400_invalid(server, caller, method, path) -> None:
    mark = server.mark()
    content = b'{"bio": "caf\xe9", "x": "\xff"}'  # latin-1, then a byte UTF-8 never has
    response = await caller.request(method, path, content=content)
    assert (response.status_code, response.json()) == (
        400,
        invalid("body is not valid UTF-8 (byte 12)"),
    )
    lone_surrogate_as_utf8 = b'{"bio": "\xed\xa0\xbd"}'  # CESU-8, not UTF-8
    response = await caller.request(method, path, content=lone_surrogate_as_utf8)
    assert (response.status_code, response.json()) == (
        400,
        invalid("body is not valid UTF-8 (byte 9)"),
    )
    assert faults(server.since(mark)) == []


@pytest.mark.parametrize(("method", "path"), QUERY)
async def test_a_query_that_is_not_utf8_is_400_invalid(server, caller, method, path) -> None:
    mark = server.mark()
    for query in ("cursor=%FF", "limit=20&cursor=caf%E9", "%C3=1"):
        response = await caller.request(method, f"{path}?{query}")
        assert (response.status_code, response.json()) == (
            400,
            invalid("query string is not valid UTF-8"),
        )
    response = await caller.request(method, f"{path}?limit=caf%C3%A9")  # UTF-8: read, not an int
    error = {"code": "invalid", "message": "Expected `int`, got `str`", "field": "limit"}
    assert (response.status_code, response.json()) == (400, {"error": error})
    assert faults(server.since(mark)) == []


@pytest.mark.parametrize(("method", "path"), BODY)
async def test_nesting_over_the_limit_is_400_invalid(server, caller, method, path) -> None:
    mark = server.mark()
    target = caller.url(path)
    for body in (DEEP, b'{"bio": ' + DEEP + b"}", b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)):
        response = await caller.http.request(method, target, content=body)
        message = f"body nests deeper than {MAX_DEPTH} levels"
        assert (response.status_code, response.json()) == (400, invalid(message))
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH  # read, then refused by the route's Struct
    response = await caller.http.request(method, target, content=at_limit)
    assert (response.status_code, response.json()) == (
        400,
        invalid("Expected `object`, got `array`"),
    )
    in_a_string = json.dumps({"bio": DEEP.decode()}).encode()  # brackets in strings: not structure
    response = await caller.http.request(method, target, content=in_a_string)
    assert response.status_code in (200, 400) and "deeper" not in response.text
    huge = b"[" * 100_000 + b"]" * 100_000
    response = await caller.http.request(method, target, content=huge)
    assert (response.status_code, response.json()) == (400, invalid("body larger than 65536 bytes"))
    assert faults(server.since(mark)) == []


@pytest.mark.parametrize(("method", "path"), BODY)
async def test_too_many_items_are_400_invalid(server, caller, method, path) -> None:
    body = json.dumps({"tags": ["x"] * MAX_ITEMS}).encode()
    response = await caller.request(method, path, content=body)
    message = f"body holds more than {MAX_ITEMS} items"
    assert (response.status_code, response.json()) == (400, invalid(message))


@pytest.mark.parametrize("value", ["1" + "0" * 5000, "-1e999", "9" * 30])
@pytest.mark.parametrize(("method", "path"), QUERY)
async def test_oversize_query_values_are_400_invalid(server, caller, method, path, value) -> None:
    response = await caller.request(method, f"{path}?limit={value}")
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
        "invalid",
        "limit",
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/jsonx",
    ],
)
@pytest.mark.parametrize(("method", "path"), BODY)
async def test_a_body_of_another_media_type_is_400_invalid(
    server, caller, method, path, content_type
) -> None:
    response = await caller.request(
        method, path, content=b"{}", headers={"Content-Type": content_type}
    )
    media_type = content_type.partition(";")[0]
    message = f"send the body as JSON (Content-Type: application/json), not {media_type}"
    assert (response.status_code, response.json()) == (400, invalid(message))


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"],
)
async def test_json_media_types_and_a_missing_one_are_read(server, caller, content_type) -> None:
    bio = f"read as JSON with {content_type}"
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"bio": bio}).encode()
    request = caller.http.build_request("PATCH", "/me", content=body, headers=headers)
    assert request.headers.get("Content-Type") == content_type  # none at all when None
    response = await caller.http.send(request)
    assert response.status_code == 200, response.text
    assert (await caller.http.get("/me")).json()["bio"] == bio


# Random requests: JSON or hostile bytes, any media type, any query, to every route that reads
# a body or a query.
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["happy", "friends", "\x00", "00000000-0000-0000-0000-000000000000"]),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
_FIELDS = [
    "bio",
    "display_name",
    "mood",
    "tags",
    "to",
    "type",
    "client_id",
    "login",
    "password",
    "refresh_token",
    "username",
    "email",
    "allow_hugs_from",
    "note",
    "x",
]
_MEDIA_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    "text/plain",
    "multipart/form-data; boundary=b",
    "application/x-www-form-urlencoded",
    "",
]


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    value = draw(_JSON | st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=5))
    body = json.dumps(value, ensure_ascii=draw(st.booleans())).encode(errors="surrogatepass")
    shape = draw(st.sampled_from(["as is", "bytes", "nested", "cut", "long", "raw"]))
    if shape == "bytes":  # a byte that is not UTF-8 somewhere
        at = draw(st.integers(0, len(body)))
        body = (
            body[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
            + body[at:]
        )
    elif shape == "nested":
        depth = draw(st.integers(0, 40_000))
        body = b"[" * depth + body + b"]" * depth
    elif shape == "cut":
        body = body[: draw(st.integers(0, len(body)))]
    elif shape == "long":
        body = json.dumps(
            {draw(st.sampled_from(_FIELDS)): "x" * draw(st.integers(0, 70_000))}
        ).encode()
    elif shape == "raw":
        body = draw(st.binary(max_size=200))
    return body


_QUERY_BYTES = st.binary(max_size=12) | st.sampled_from(
    [b"20", b"-1", b"1e999", b"9" * 30, b"\x00"]
)
_QUERIES = st.lists(
    st.tuples(st.sampled_from([b"limit", b"cursor", b"days", b"box", b"x", b"\xff"]), _QUERY_BYTES),
    max_size=4,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(BODY + QUERY),
    body=hostile_bodies(),
    media_type=st.sampled_from(_MEDIA_TYPES),
    query=_QUERIES,
)
async def test_random_requests_to_every_route_are_never_a_500(
    server, caller, route, body, media_type, query
) -> None:
    method, path = route
    target = caller.url(path)
    if query:
        target += "?" + "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in query)
    headers = {} if media_type is None else {"Content-Type": media_type}
    mark = server.mark()
    response = await caller.http.request(method, target, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid"
    assert faults(server.since(mark)) == []
