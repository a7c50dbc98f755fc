"""`hug:request`: "I need a hug" reaches exactly the people whose settings admit the requester."""

from __future__ import annotations

import uuid
from typing import Any
from unittest.mock import ANY

import pytest

from tests.conftest import Client, uid
from tests.hugs.support import (
    befriend,
    block,
    expect,
    follow,
    nothing,
    quiet,
    refusal,
    stored,
    users,
)


def card(session: dict[str, Any]) -> dict[str, Any]:
    user = session["user"]
    return {k: user[k] for k in ("id", "username", "display_name", "profile_image")}


async def requested_by(client: Client, requester: dict, ack: dict, message: str | None) -> None:
    event = await expect(client, "hug.requested")
    assert event["data"] == {
        "request_id": ack["request_id"],
        "requester": card(requester),
        "message": message,
    }


async def test_request_to_ids_reaches_only_those_who_admit_the_requester(
    api, db, nodes, connect
) -> None:
    sessions = await users(
        api, db, "friends", "friends", "everyone", "nobody", "everyone", "everyone", "friends"
    )
    requester, friend, open_, closed, blocker, blocked, stranger = sessions
    await befriend(db, requester, friend)
    await befriend(db, requester, closed)
    await block(db, blocker, requester)
    await block(db, requester, blocked)
    clients = [await connect(nodes[i % 2], s) for i, s in enumerate(sessions)]
    targets = [uid(s) for s in sessions] + [str(uuid.uuid4())]  # self and an unknown id too
    payload = {"to": targets, "message": "rough day"}
    ack = await clients[0].sio.call("hug:request", payload, timeout=5)
    assert ack == {"ok": True, "request_id": ANY}  # nothing says who was skipped
    for reached in (friend, open_):
        await requested_by(clients[sessions.index(reached)], requester, ack, "rough day")
    await quiet(*clients)
    skipped = [closed, blocker, blocked, stranger, requester]
    assert await stored(db, *skipped) == (0, 0)
    rows = await db.fetch(
        "SELECT id, message FROM hug_requests WHERE requester_id = $1", uuid.UUID(uid(requester))
    )
    assert [(str(r["id"]), r["message"]) for r in rows] == [(ack["request_id"], "rough day")]


@pytest.mark.parametrize("payload", [{}, {"to": "friends"}], ids=["default", "explicit"])
async def test_request_to_friends_reaches_all_friends_and_nobody_else(
    api, db, nodes, connect, payload
) -> None:
    sessions = await users(
        api, db, "friends", "friends", "everyone", "everyone", "everyone", "everyone", "nobody"
    )
    requester, friend, open_friend, follower, followed, stranger, closed_friend = sessions
    for other in (friend, open_friend, closed_friend):
        await befriend(db, requester, other)
    await follow(db, follower, requester)
    await follow(db, requester, followed)
    clients = [await connect(nodes[i % 2], s) for i, s in enumerate(sessions)]
    ack = await clients[0].sio.call("hug:request", payload, timeout=5)
    assert ack == {"ok": True, "request_id": ANY}
    for reached in (friend, open_friend):
        await requested_by(clients[sessions.index(reached)], requester, ack, None)
    await quiet(*clients)
    assert await stored(db, requester, follower, followed, stranger, closed_friend) == (0, 0)


async def test_request_to_a_blocked_friend_reaches_nobody(api, db, nodes, connect) -> None:
    requester, friend = await users(api, db, "friends", "everyone")
    await befriend(db, requester, friend)
    await block(db, friend, requester)
    to_client = await connect(nodes[1], friend)
    ack = await (await connect(nodes[0], requester)).sio.call("hug:request", {}, timeout=5)
    assert ack == {"ok": True, "request_id": ANY}
    await nothing(to_client)
    assert await stored(db, friend) == (0, 0)


@pytest.mark.parametrize(
    "to",
    [[str(uuid.uuid4()) for _ in range(51)], [], "everyone", ["not-a-uuid"]],
    ids=["51 ids", "no ids", "other literal", "bad id"],
)
async def test_request_with_bad_recipients_is_invalid(api, db, nodes, connect, to) -> None:
    (requester,) = await users(api, db, "friends")
    client = await connect(nodes[0], requester)
    ack = await client.sio.call("hug:request", {"to": to}, timeout=5)
    assert ack == refusal("invalid", ANY)
    assert ack["error"]["field"].startswith("to")
    count = "SELECT count(*) FROM hug_requests WHERE requester_id = $1"
    assert await db.fetchval(count, uuid.UUID(uid(requester))) == 0


async def test_request_message_with_nul_is_invalid(api, db, nodes, connect) -> None:
    requester, friend = await users(api, db, "friends", "friends")
    await befriend(db, requester, friend)
    to_client = await connect(nodes[1], friend)
    client = await connect(nodes[0], requester)
    ack = await client.sio.call("hug:request", {"message": "a\x00b"}, timeout=5)
    assert ack == refusal("invalid", "message")
    await nothing(to_client)
    assert await stored(db, friend) == (0, 0)
