"""Hugs over real sockets and REST: validation, privacy, idempotency, receipts, requests,
rate limit, the REST mirror and history. Every refusal is checked for what the caller sees,
what the other side does not see, and what is not stored."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
import uuid
from typing import Any
from unittest.mock import ANY

import asyncpg
import httpx
import pytest

from tests.conftest import Client, bearer, register

# --- helpers -------------------------------------------------------------------------------


def uid(session: dict[str, Any]) -> str:
    return session["user"]["id"]


def refusal(code: str, field: str | None = None) -> dict[str, Any]:
    """The exact ack of a refused event (any message)."""
    error = {"code": code, "message": ANY} | ({"field": field} if field else {})
    return {"ok": False, "error": error}


async def users(api: httpx.AsyncClient, db: asyncpg.Pool, *allows: str) -> list[dict[str, Any]]:
    """One new account per `allow_hugs_from` value given."""
    sessions = [await register(api) for _ in allows]
    for session, allow in zip(sessions, allows, strict=True):
        await db.execute(
            "UPDATE privacy_settings SET allow_hugs_from = $2 WHERE user_id = $1",
            uuid.UUID(uid(session)),
            allow,
        )
    return sessions


async def follow(db: asyncpg.Pool, follower: dict, following: dict) -> None:
    await db.execute(
        "INSERT INTO follows (follower_id, following_id) VALUES ($1, $2)",
        uuid.UUID(uid(follower)),
        uuid.UUID(uid(following)),
    )


async def befriend(db: asyncpg.Pool, a: dict, b: dict) -> None:
    await follow(db, a, b)
    await follow(db, b, a)


async def block(db: asyncpg.Pool, blocker: dict, blocked: dict) -> None:
    await db.execute(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
        uuid.UUID(uid(blocker)),
        uuid.UUID(uid(blocked)),
    )


async def stored(db: asyncpg.Pool, *sessions: dict) -> tuple[int, int]:
    """(hugs involving, inbox events of) these users."""
    ids = [uuid.UUID(uid(s)) for s in sessions]
    hugs = await db.fetchval(
        "SELECT count(*) FROM hugs WHERE sender_id = ANY($1) OR recipient_id = ANY($1)", ids
    )
    events = await db.fetchval("SELECT count(*) FROM inbox_events WHERE user_id = ANY($1)", ids)
    return hugs, events


MISSING = object()  # a field value meaning "leave the field out"


def hug_payload(to: dict[str, Any] | str, /, **fields: Any) -> dict[str, Any]:
    target = to if isinstance(to, str) else uid(to)
    payload = {"to": target, "type": "warm", "client_id": secrets.token_hex(8)} | fields
    return {name: value for name, value in payload.items() if value is not MISSING}


async def send(client: Client, to: dict[str, Any] | str, /, **fields: Any) -> dict[str, Any]:
    return await client.sio.call("hug:send", hug_payload(to, **fields), timeout=5)


# Presence and mood broadcasts belong to other features (a friend connecting announces itself):
# hug assertions look past them, and at every other event.
ELSEWHERE = ("presence.", "mood.")


async def expect(client: Client, name: str, timeout: float = 5) -> Any:
    """The next hug-related event, which must be `name`; returns its payload."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        event, data = await client.next(deadline - asyncio.get_running_loop().time())
        if not event.startswith(ELSEWHERE):
            assert event == name, (event, data)
            return data


async def nothing(client: Client, wait: float = 0.5) -> None:
    """No hug-related event arrives within `wait` seconds."""
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            event, data = await client.next(left)
        except TimeoutError:
            return
        if not event.startswith(ELSEWHERE):
            pytest.fail(f"unexpected event {event}: {data}")


async def quiet(*clients: Client) -> None:
    await asyncio.gather(*(nothing(client) for client in clients))


# --- 1. validation -------------------------------------------------------------------------

LONG = "x" * 501
# (payload changes relative to a valid hug, expected code, expected field)
INVALID_SENDS = {
    "unknown recipient": ({"to": str(uuid.uuid4())}, "not_found", "to"),
    "unknown type": ({"type": "squeeze"}, "invalid", "type"),
    "message over 500 chars": ({"message": LONG}, "invalid", "message"),
    "NUL in message": ({"message": "a\x00b"}, "invalid", "message"),
    "NUL in client_id": ({"client_id": "a\x00b"}, "invalid", "client_id"),
    "missing client_id": ({"client_id": MISSING}, "invalid", "client_id"),
    "null client_id": ({"client_id": None}, "invalid", "client_id"),
    "missing type": ({"type": MISSING}, "invalid", "type"),
    "empty client_id": ({"client_id": ""}, "invalid", "client_id"),
    "client_id over 64 chars": ({"client_id": "c" * 65}, "invalid", "client_id"),
    "unknown field": ({"mood": "sad"}, "invalid", "mood"),
    "to not a uuid": ({"to": "bob"}, "invalid", "to"),
    "to a number": ({"to": 42}, "invalid", "to"),
    "type a number": ({"type": 1}, "invalid", "type"),
    "client_id a number": ({"client_id": 7}, "invalid", "client_id"),
    "message a list": ({"message": ["hi"]}, "invalid", "message"),
    "design_id not a uuid": ({"design_id": "rainbow"}, "invalid", "design_id"),
    "unknown design": ({"design_id": str(uuid.uuid4())}, "not_found", "design_id"),
}


@pytest.mark.parametrize("change, code, field", INVALID_SENDS.values(), ids=list(INVALID_SENDS))
async def test_invalid_hug_send_is_refused_with_field_and_stores_nothing(
    api, db, nodes, connect, change, code, field
) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    assert await send(client, recipient, **change) == refusal(code, field)
    assert await stored(db, sender, recipient) == (0, 0)


async def test_self_hug_is_invalid(api, db, nodes, connect) -> None:
    (sender,) = await users(api, db, "everyone")
    client = await connect(nodes[0], sender)
    assert await send(client, sender) == refusal("invalid", "to")
    assert await stored(db, sender) == (0, 0)


@pytest.mark.parametrize(
    "args",
    [(["to", "type"],), ("hug",), (42,), (None,), (), ("a", "b")],
    ids=["list", "string", "number", "null", "no payload", "two strings"],
)
async def test_hug_send_payload_must_be_exactly_one_object(api, db, nodes, connect, args) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    assert await client.sio.call("hug:send", args or None, timeout=5) == refusal("invalid")
    assert await stored(db, sender, recipient) == (0, 0)


async def test_two_valid_payloads_are_refused(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    payload = hug_payload(recipient)
    assert await client.sio.call("hug:send", (payload, payload), timeout=5) == refusal("invalid")
    assert await stored(db, sender, recipient) == (0, 0)


async def design(db: asyncpg.Pool, owner: dict | None = None) -> str:
    design_id = await db.fetchval("INSERT INTO hug_designs (name) VALUES ('Rainbow') RETURNING id")
    if owner is not None:
        await db.execute(
            "INSERT INTO user_hug_inventory (user_id, hug_design_id) VALUES ($1, $2)",
            uuid.UUID(uid(owner)),
            design_id,
        )
    return str(design_id)


async def test_design_owned_by_someone_else_is_forbidden(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    design_id = await design(db, owner=recipient)
    assert await send(client, recipient, design_id=design_id) == refusal("forbidden", "design_id")
    assert await stored(db, sender, recipient) == (0, 0)


async def test_owned_design_and_500_char_message_are_sent_and_stored(
    api, db, nodes, connect
) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    design_id = await design(db, owner=sender)
    ack = await send(client, recipient, type="bear", design_id=design_id, message="m" * 500)
    assert ack == {"ok": True, "hug": ANY, "duplicate": False}
    hug = ack["hug"]
    assert (hug["sender_id"], hug["recipient_id"]) == (uid(sender), uid(recipient))
    assert (hug["type"], hug["design_id"], hug["message"]) == ("bear", design_id, "m" * 500)
    row = await db.fetchrow("SELECT * FROM hugs WHERE id = $1", uuid.UUID(hug["id"]))
    assert (str(row["design_id"]), row["type"], row["client_id"]) == (
        design_id,
        "bear",
        hug["client_id"],
    )


# --- 2. privacy ----------------------------------------------------------------------------


async def relate(db: asyncpg.Pool, sender: dict, recipient: dict, relation: str) -> None:
    if relation in ("follower", "friend"):
        await follow(db, sender, recipient)
    if relation in ("followed", "friend"):
        await follow(db, recipient, sender)


@pytest.mark.parametrize(
    "allow, relation, admitted",
    [
        ("everyone", "stranger", True),
        ("everyone", "follower", True),
        ("everyone", "friend", True),
        ("friends", "stranger", False),
        ("friends", "follower", False),
        ("friends", "followed", False),
        ("friends", "friend", True),
        ("nobody", "stranger", False),
        ("nobody", "follower", False),
        ("nobody", "friend", False),
    ],
)
async def test_allow_hugs_from_decides_who_may_hug(
    api, db, nodes, connect, allow, relation, admitted
) -> None:
    sender, recipient = await users(api, db, "friends", allow)
    await relate(db, sender, recipient, relation)
    to_client = await connect(nodes[1], recipient)
    from_client = await connect(nodes[0], sender)
    ack = await send(from_client, recipient)
    if admitted:
        assert ack == {"ok": True, "hug": ANY, "duplicate": False}
        received = await expect(to_client, "hug.received")
        assert (received["data"], received["seq"]) == (ack["hug"], 1)
        assert (await expect(from_client, "hug.sent"))["data"] == ack["hug"]
        assert await stored(db, sender, recipient) == (1, 2)
    else:
        assert ack == refusal("forbidden", "to")
        assert await stored(db, sender, recipient) == (0, 0)
    await quiet(to_client, from_client)


@pytest.mark.parametrize("allow", ["everyone", "friends"])
@pytest.mark.parametrize("blocker", ["recipient", "sender"])
async def test_block_either_way_refuses_exactly_like_privacy(
    api, db, nodes, connect, allow, blocker
) -> None:
    sender, recipient, closed = await users(api, db, "friends", allow, "nobody")
    await befriend(db, sender, recipient)
    if blocker == "recipient":
        await block(db, recipient, sender)
    else:
        await block(db, sender, recipient)
    to_client = await connect(nodes[1], recipient)
    from_client = await connect(nodes[0], sender)
    blocked_ack = await send(from_client, recipient)
    privacy_ack = await send(from_client, closed)
    assert blocked_ack == refusal("forbidden", "to")
    assert blocked_ack == privacy_ack  # same code, message and field: no hint of the block
    assert await stored(db, sender, recipient, closed) == (0, 0)
    await quiet(to_client, from_client)


# --- 3. idempotency ------------------------------------------------------------------------


async def test_same_client_id_twice_makes_one_hug_and_one_event(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    to_client = await connect(nodes[1], recipient)
    from_client = await connect(nodes[0], sender)
    payload = hug_payload(recipient, message="hi")
    first = await from_client.sio.call("hug:send", payload, timeout=5)
    again = await from_client.sio.call("hug:send", payload, timeout=5)
    assert first == {"ok": True, "hug": ANY, "duplicate": False}
    assert again == {"ok": True, "hug": first["hug"], "duplicate": True}
    assert (await expect(to_client, "hug.received"))["data"] == first["hug"]
    await expect(from_client, "hug.sent")
    await quiet(to_client, from_client)
    assert await stored(db, sender, recipient) == (1, 2)


async def test_retry_with_changed_payload_still_returns_the_first_hug(
    api, db, nodes, connect
) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    first = await send(client, recipient, client_id="retry-1", message="first")
    again = await send(client, recipient, client_id="retry-1", type="bear", message="second")
    assert again == {"ok": True, "hug": first["hug"], "duplicate": True}
    assert again["hug"]["message"] == "first"
    assert await stored(db, sender, recipient) == (1, 2)


async def test_another_sender_may_reuse_the_same_client_id(api, db, nodes, connect) -> None:
    alice, bob, recipient = await users(api, db, "friends", "friends", "everyone")
    first = await send(await connect(nodes[0], alice), recipient, client_id="same")
    second = await send(await connect(nodes[1], bob), recipient, client_id="same")
    assert first["duplicate"] is second["duplicate"] is False
    assert first["hug"]["id"] != second["hug"]["id"]
    assert second["hug"]["sender_id"] == uid(bob)
    same = "SELECT count(*) FROM hugs WHERE recipient_id = $1 AND client_id = 'same'"
    assert await db.fetchval(same, uuid.UUID(uid(recipient))) == 2


async def test_concurrent_sends_with_one_client_id_make_one_hug(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    to_client = await connect(nodes[1], recipient)
    devices = [await connect(node, sender) for node in nodes]
    payload = hug_payload(recipient)
    acks = await asyncio.gather(
        *(devices[i % 2].sio.call("hug:send", payload, timeout=5) for i in range(5))
    )
    assert all(ack["ok"] for ack in acks), acks
    assert len({ack["hug"]["id"] for ack in acks}) == 1
    assert sorted(ack["duplicate"] for ack in acks) == [False, True, True, True, True]
    assert await stored(db, sender, recipient) == (1, 2)
    await expect(to_client, "hug.received")
    await nothing(to_client)


# --- 4. receipts ---------------------------------------------------------------------------


async def hugged(api, db, nodes, connect) -> tuple[Client, Client, dict[str, Any], list[dict]]:
    """Sender on node A, recipient on node B, one hug between them (events consumed)."""
    sender, recipient, stranger = await users(api, db, "friends", "everyone", "friends")
    to_client = await connect(nodes[1], recipient)
    from_client = await connect(nodes[0], sender)
    hug = (await send(from_client, recipient))["hug"]
    await expect(to_client, "hug.received")
    await expect(from_client, "hug.sent")
    return from_client, to_client, hug, [sender, recipient, stranger]


async def test_read_before_ack_sends_delivered_then_read_once(api, db, nodes, connect) -> None:
    from_client, to_client, hug, _ = await hugged(api, db, nodes, connect)
    ack = await to_client.sio.call("hug:read", {"hug_id": hug["id"]}, timeout=5)
    assert ack == {"ok": True, "receipt": {"hug_id": hug["id"], "read_at": ANY}}
    delivered = await expect(from_client, "hug.delivered")
    read = await expect(from_client, "hug.read")
    assert delivered["data"]["hug_id"] == hug["id"]
    assert (read["data"], read["seq"]) == (ack["receipt"], 3)
    again = await to_client.sio.call("hug:read", {"hug_id": hug["id"]}, timeout=5)
    assert again == ack
    # Reading delivered it too: a later ack sends no second hug.delivered.
    assert await to_client.sio.call("ack", {"seq": 1}, timeout=5) == {"ok": True}
    await quiet(from_client, to_client)
    row = await db.fetchrow(
        "SELECT received_at, read_at FROM hugs WHERE id = $1", uuid.UUID(hug["id"])
    )
    assert row["received_at"] is not None and row["read_at"] is not None


async def test_ack_delivers_then_read_sends_only_read(api, db, nodes, connect) -> None:
    from_client, to_client, hug, _ = await hugged(api, db, nodes, connect)
    assert await to_client.sio.call("ack", {"seq": 1}, timeout=5) == {"ok": True}
    assert (await expect(from_client, "hug.delivered"))["data"]["hug_id"] == hug["id"]
    assert await to_client.sio.call("ack", {"seq": 1}, timeout=5) == {"ok": True}
    await nothing(from_client)
    assert (await to_client.sio.call("hug:read", {"hug_id": hug["id"]}, timeout=5))["ok"]
    assert (await expect(from_client, "hug.read"))["data"]["hug_id"] == hug["id"]
    await quiet(from_client, to_client)


async def test_concurrent_read_and_ack_deliver_exactly_once(api, db, nodes, connect) -> None:
    from_client, to_client, hug, (_, recipient, _) = await hugged(api, db, nodes, connect)
    other_device = await connect(nodes[0], recipient)
    read, acked = await asyncio.gather(
        to_client.sio.call("hug:read", {"hug_id": hug["id"]}, timeout=5),
        other_device.sio.call("ack", {"seq": 1}, timeout=5),
    )
    assert (read["ok"], acked) == (True, {"ok": True})
    assert (await expect(from_client, "hug.delivered"))["data"]["hug_id"] == hug["id"]
    assert (await expect(from_client, "hug.read"))["data"] == read["receipt"]
    await nothing(from_client)


async def test_read_by_sender_or_stranger_is_not_found(api, db, nodes, connect) -> None:
    from_client, to_client, hug, (_, _, stranger) = await hugged(api, db, nodes, connect)
    outsider = await connect(nodes[0], stranger)
    for client in (from_client, outsider):
        ack = await client.sio.call("hug:read", {"hug_id": hug["id"]}, timeout=5)
        assert ack == refusal("not_found", "hug_id")
    missing = await to_client.sio.call("hug:read", {"hug_id": str(uuid.uuid4())}, timeout=5)
    assert missing == refusal("not_found", "hug_id")
    await quiet(from_client, to_client, outsider)
    assert await db.fetchval("SELECT read_at FROM hugs WHERE id = $1", uuid.UUID(hug["id"])) is None


async def test_second_reaction_replaces_the_first(api, db, nodes, connect) -> None:
    from_client, to_client, hug, _ = await hugged(api, db, nodes, connect)
    for emoji, message in (("🤗", "thanks"), ("❤️", None)):
        reaction = {"hug_id": hug["id"], "emoji": emoji} | ({"message": message} if message else {})
        ack = await to_client.sio.call("hug:react", reaction, timeout=5)
        expected = {"emoji": emoji, "message": message, "reacted_at": ANY}
        assert ack == {"ok": True, "reaction": {"hug_id": hug["id"], "reaction": expected}}
        assert (await expect(from_client, "hug.reacted"))["data"] == ack["reaction"]
    rows = await db.fetch(
        "SELECT emoji, message FROM hug_reactions WHERE hug_id = $1", uuid.UUID(hug["id"])
    )
    assert [tuple(row) for row in rows] == [("❤️", None)]
    await quiet(from_client, to_client)


async def test_react_by_non_recipient_is_not_found(api, db, nodes, connect) -> None:
    from_client, to_client, hug, (_, _, stranger) = await hugged(api, db, nodes, connect)
    outsider = await connect(nodes[1], stranger)
    for client in (from_client, outsider):
        ack = await client.sio.call("hug:react", {"hug_id": hug["id"], "emoji": "🤗"}, timeout=5)
        assert ack == refusal("not_found", "hug_id")
    await quiet(from_client, to_client, outsider)
    count = "SELECT count(*) FROM hug_reactions WHERE hug_id = $1"
    assert await db.fetchval(count, uuid.UUID(hug["id"])) == 0


async def test_ack_beyond_the_inbox_head_is_invalid(api, db, nodes, connect) -> None:
    from_client, to_client, _, (_, recipient, _) = await hugged(api, db, nodes, connect)
    assert await to_client.sio.call("ack", {"seq": 2}, timeout=5) == refusal("invalid", "seq")
    acks = "SELECT count(*) FROM inbox_acks WHERE user_id = $1"
    assert await db.fetchval(acks, uuid.UUID(uid(recipient))) == 0
    await quiet(from_client)


# --- 5. hug requests -----------------------------------------------------------------------


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


# --- 6. rate limit -------------------------------------------------------------------------


async def test_hug_send_is_rate_limited_per_user_but_retries_still_answer(
    api, db, nodes, connect
) -> None:
    sender, other, recipient = await users(api, db, "friends", "friends", "everyone")
    client = await connect(nodes[0], sender)
    left = 60 - time.time() % 60
    if left < 15:  # keep all 61 sends in one fixed 60 s window
        await asyncio.sleep(left + 0.2)
    first = await send(client, recipient, client_id="first")
    for _ in range(59):
        assert (await send(client, recipient))["ok"]
    assert await send(client, recipient) == refusal("rate_limited")
    retry = await send(client, recipient, client_id="first")
    assert retry == {"ok": True, "hug": first["hug"], "duplicate": True}
    assert (await send(await connect(nodes[1], other), recipient))["ok"]  # per user
    sent = "SELECT count(*) FROM hugs WHERE sender_id = $1"
    assert await db.fetchval(sent, uuid.UUID(uid(sender))) == 60


# --- 7. REST mirror and history ------------------------------------------------------------


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


@pytest.mark.parametrize("obstacle", ["nobody", "friends-only", "blocked"])
async def test_rest_send_refused_by_privacy_is_403_with_the_socket_error(
    api, db, nodes, connect, obstacle
) -> None:
    allow = {"nobody": "nobody", "friends-only": "friends", "blocked": "everyone"}[obstacle]
    sender, recipient = await users(api, db, "friends", allow)
    if obstacle == "blocked":
        await block(db, recipient, sender)
    to_client = await connect(nodes[1], recipient)
    socket_ack = await send(await connect(nodes[0], sender), recipient)
    assert socket_ack == refusal("forbidden", "to")
    response = await api.post("/hugs", json=hug_payload(recipient), headers=bearer(sender))
    assert (response.status_code, response.json()) == (403, {"error": socket_ack["error"]})
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
