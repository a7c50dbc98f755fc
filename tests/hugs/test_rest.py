"""The REST mirror of `hug:send` (`POST /hugs`) and hug history (`GET /hugs`)."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from unittest.mock import ANY

import httpx
import pytest

from tests.conftest import bearer, register, uid
from tests.hugs.support import (
    LONG,
    MISSING,
    block,
    expect,
    hug_payload,
    nothing,
    refusal,
    send,
    stored,
    users,
)


async def test_rest_send_is_201_then_200_and_reaches_the_other_node(
    api, db, nodes, connect
) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    to_client = await connect(nodes[1], recipient)
    body = hug_payload(recipient, message="over REST")
    created = await api.post("/hugs", json=body, headers=bearer(sender))
    assert created.status_code == 201, created.text
    assert created.json() == {"hug": ANY, "duplicate": False}
    hug = created.json()["hug"]
    assert (hug["sender_id"], hug["message"]) == (uid(sender), "over REST")
    received = await expect(to_client, "hug.received")
    assert (received["data"], received["seq"]) == (hug, 1)
    again = await api.post("/hugs", json=body, headers=bearer(sender))
    assert (again.status_code, again.json()) == (200, {"hug": hug, "duplicate": True})
    await nothing(to_client)
    assert await stored(db, sender, recipient) == (1, 2)


@pytest.mark.parametrize(
    "obstacle, code, status",
    [
        ("nobody", "forbidden", 403),
        ("friends-only", "forbidden", 403),
        ("blocked", "not_found", 404),
    ],
)
async def test_rest_send_refused_answers_as_the_socket_does(
    api, db, nodes, connect, obstacle, code, status
) -> None:
    allow = {"nobody": "nobody", "friends-only": "friends", "blocked": "everyone"}[obstacle]
    sender, recipient = await users(api, db, "friends", allow)
    if obstacle == "blocked":
        await block(db, recipient, sender)
    to_client = await connect(nodes[1], recipient)
    socket_ack = await send(await connect(nodes[0], sender), recipient)
    assert socket_ack == refusal(code, "to")
    response = await api.post("/hugs", json=hug_payload(recipient), headers=bearer(sender))
    assert (response.status_code, response.json()) == (status, {"error": socket_ack["error"]})
    await nothing(to_client)
    assert await stored(db, sender, recipient) == (0, 0)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": "squeeze"}, "type"),
        ({"client_id": MISSING}, "client_id"),
        ({"client_id": "c" * 65}, "client_id"),
        ({"message": LONG}, "message"),
        ({"message": "a\x00b"}, "message"),
        ({"extra": 1}, "extra"),
        ({"to": "me"}, "to"),
    ],
)
async def test_rest_send_invalid_is_400_with_field(api, db, change, field) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    response = await api.post(
        "/hugs", json=hug_payload(recipient, **change), headers=bearer(sender)
    )
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid", "message": ANY, "field": field}}
    assert await stored(db, sender, recipient) == (0, 0)


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'"hug"', b""])
async def test_rest_send_non_object_body_is_400(api, db, content) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    headers = bearer(sender) | {"Content-Type": "application/json"}
    response = await api.post("/hugs", content=content, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert await stored(db, sender, recipient) == (0, 0)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}]
)
async def test_rest_send_without_valid_token_is_401(api, db, headers) -> None:
    (recipient,) = await users(api, db, "everyone")
    response = await api.post("/hugs", json=hug_payload(recipient), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert await stored(db, recipient) == (0, 0)


async def pages(api: httpx.AsyncClient, session: dict, **params: Any) -> list[list[dict]]:
    """Every page of a history walk, following next_cursor."""
    result, cursor = [], None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await api.get("/hugs", params=query, headers=bearer(session))
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        result.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return result


async def test_history_pages_newest_first_exactly_once(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    hugs = [(await send(client, recipient, message=str(i)))["hug"] for i in range(7)]
    newest_first = [hug["id"] for hug in reversed(hugs)]
    for box, owner in (("inbox", recipient), ("sent", sender)):
        walk = await pages(api, owner, box=box, limit=3)
        assert [len(page) for page in walk] == [3, 3, 1]
        assert [hug["id"] for page in walk for hug in page] == newest_first
        assert walk[0][0] == hugs[-1]
    assert await pages(api, recipient, box="sent") == [[]]
    assert await pages(api, sender) == [[]]  # the default box is the inbox
    assert [h["id"] for h in (await pages(api, recipient))[0]] == newest_first


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"box": "outbox"}, "box"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "é"}, "cursor"),
        ({"cursor": b64(b'["yesterday", 1]')}, "cursor"),
        ({"cursor": b64(b'{"sent_at": 1}')}, "cursor"),
        ({"cursor": "A" * 201}, "cursor"),
        ({"page": 2}, "page"),
    ],
)
async def test_history_bad_query_is_400_with_field(api, params, field) -> None:
    session = await register(api)
    response = await api.get("/hugs", params=params, headers=bearer(session))
    assert response.status_code == 400, response.text
    assert response.json() == {"error": {"code": "invalid", "message": ANY, "field": field}}


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_history_cursor_with_an_out_of_range_time_is_400(api, at) -> None:
    session = await register(api)
    cursor = b64(f'["{at}", "{uuid.uuid4()}"]'.encode())
    response = await api.get("/hugs", params={"cursor": cursor}, headers=bearer(session))
    assert response.status_code == 400, response.text
    assert response.json() == {"error": {"code": "invalid", "message": ANY, "field": "cursor"}}


async def test_history_without_token_is_401(api) -> None:
    response = await api.get("/hugs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
