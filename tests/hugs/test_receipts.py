"""Receipts back to a hug's sender: delivered (ack), read and reacted, each exactly once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from unittest.mock import ANY

from tests.conftest import Client, uid
from tests.hugs.support import expect, nothing, quiet, refusal, send, users


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
