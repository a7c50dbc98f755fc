"""How the socket server answers events it cannot or will not run: no ack callback, unknown
names, frames over the size limit, frames its JSON codec rejects."""

from __future__ import annotations

import asyncio
import uuid
from unittest.mock import ANY

import pytest

from tests.conftest import uid
from tests.hugs.support import expect, hug_payload, nothing, quiet, refusal, stored, users


@pytest.mark.parametrize("event", ["hug:send", "hug:request", "no:such:event"])
async def test_event_without_ack_does_nothing_and_reports_event_error(
    api, db, nodes, connect, event
) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    to_client = await connect(nodes[1], recipient)
    client = await connect(nodes[0], sender)
    payload = hug_payload(recipient) if event == "hug:send" else {"to": [uid(recipient)]}
    await client.sio.emit(event, payload)
    error = await expect(client, "event.error")
    assert error == {"at": ANY, "data": refusal("invalid")}  # ephemeral: no seq
    await quiet(client, to_client)
    assert await stored(db, sender, recipient) == (0, 0)
    requests = "SELECT count(*) FROM hug_requests WHERE requester_id = $1"
    assert await db.fetchval(requests, uuid.UUID(uid(sender))) == 0


async def test_unknown_event_is_answered_invalid_without_field(api, db, nodes, connect) -> None:
    (session,) = await users(api, db, "friends")
    client = await connect(nodes[0], session)
    for payload in ({"x": 1}, None):
        answer = await client.sio.call("hug:hug", payload, timeout=5)
        assert answer == {
            "ok": False,
            "error": {"code": "invalid", "message": "unknown event 'hug:hug'"},
        }
    await nothing(client)


async def test_frame_just_under_the_limit_is_answered(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    ack = await client.sio.call("hug:send", hug_payload(recipient, message="x" * 60_000), timeout=5)
    assert ack == refusal("invalid", "message")
    assert client.sio.connected
    assert await stored(db, sender, recipient) == (0, 0)


async def test_frame_over_64_kib_closes_that_connection_only(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    bystander = await connect(nodes[0], recipient)
    big = await connect(nodes[0], sender)
    closed = asyncio.Event()
    big.sio.on("disconnect", lambda *_: closed.set())
    await big.sio.emit("hug:send", hug_payload(recipient, message="x" * 70_000))
    await asyncio.wait_for(closed.wait(), 5)
    assert nodes[0].proc.poll() is None
    assert (await api.get("/ready")).status_code == 200
    answer = await bystander.sio.call("sync", {"since": 0}, timeout=5)
    assert (answer["ok"], answer["recovered"], answer["head"]) == (True, True, 0)
    again = await connect(nodes[0], sender)
    ack = await again.sio.call("hug:send", hug_payload(recipient), timeout=5)
    assert ack["ok"], ack
    assert (await expect(bystander, "hug.received"))["data"] == ack["hug"]
    assert await stored(db, sender, recipient) == (1, 2)


async def test_lone_surrogate_in_a_payload_is_answered_not_dropped(api, db, nodes, connect) -> None:
    sender, recipient = await users(api, db, "friends", "everyone")
    client = await connect(nodes[0], sender)
    # What JSON.stringify sends for an emoji cut in half, e.g. by message.slice(0, 500).
    payload = hug_payload(recipient, message="hi \ud83d")
    ack = await client.sio.call("hug:send", payload, timeout=5)
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "invalid" and ack["error"]["field"] == "message"
    assert await db.fetchval("SELECT count(*) FROM hugs WHERE sender_id = $1", uid(sender)) == 0
    assert await stored(db, sender, recipient) == ((1, 2) if ack["ok"] else (0, 0))
