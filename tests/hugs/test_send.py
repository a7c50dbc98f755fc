"""`hug:send` over real sockets: validation, privacy, idempotency and the rate limit. Every
refusal is checked for what the caller sees, what the other side does not see, and what is not
stored."""

from __future__ import annotations

import asyncio
import time
import uuid
from unittest.mock import ANY

import asyncpg
import pytest

from tests.conftest import uid
from tests.hugs.support import (
    LONG,
    MISSING,
    befriend,
    block,
    expect,
    follow,
    hug_payload,
    nothing,
    quiet,
    refusal,
    send,
    stored,
    users,
)

# --- validation ----------------------------------------------------------------------------------


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


# --- privacy -------------------------------------------------------------------------------------


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
async def test_a_block_either_way_looks_like_absence(
    api, db, nodes, connect, allow, blocker
) -> None:
    sender, recipient = await users(api, db, "friends", allow)
    await befriend(db, sender, recipient)
    if blocker == "recipient":
        await block(db, recipient, sender)
    else:
        await block(db, sender, recipient)
    to_client = await connect(nodes[1], recipient)
    from_client = await connect(nodes[0], sender)
    blocked_ack = await send(from_client, recipient)
    absent_ack = await send(from_client, str(uuid.uuid4()))
    assert blocked_ack == refusal("not_found", "to")
    # Same code, message and field as an account that never existed: no hint of the block.
    assert blocked_ack["error"] == absent_ack["error"]
    assert await stored(db, sender, recipient) == (0, 0)
    await quiet(to_client, from_client)


# --- idempotency ---------------------------------------------------------------------------------


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


# --- rate limit ----------------------------------------------------------------------------------


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
