"""The delivery guarantee end to end: live events across processes, receipts, resume with `sync`,
retention, node death, and random interleavings that must deliver every acked hug exactly once."""

from __future__ import annotations

import random
import signal
import uuid
from typing import Any

import pytest

from hugmood.delivery.inbox import purge_older_than
from tests.conftest import Client, ServerProcess, Stack, bearer, register
from tests.delivery.support import InboxClient
from workers.main import open_services

EVERYONE = {"allow_hugs_from": "everyone", "show_mood_to": "friends", "show_activity_to": "friends"}


async def open_to_hugs(api, session: dict[str, Any]) -> None:
    response = await api.put("/me/privacy", json=EVERYONE, headers=bearer(session))
    assert response.status_code == 200


async def send(client: Client, to: dict[str, Any], client_id: str | None = None) -> dict:
    payload = {"to": to["user"]["id"], "type": "warm", "client_id": client_id or uuid.uuid4().hex}
    answer = await client.sio.call("hug:send", payload, timeout=10)
    assert answer["ok"], answer
    return answer["hug"]


async def test_hug_crosses_processes_with_seq_and_reaches_all_devices(api, nodes, connect) -> None:
    alice, bob = await register(api), await register(api)
    await open_to_hugs(api, bob)
    alice_a = await connect(nodes[0], alice)
    alice_b = await connect(nodes[1], alice)
    bob_b = await connect(nodes[1], bob)
    bob_a = await connect(nodes[0], bob)

    hug = await send(alice_a, bob)

    for device in (bob_a, bob_b):
        received = await device.expect("hug.received")
        assert received["seq"] == 1 and received["data"] == hug
    for device in (alice_a, alice_b):
        sent = await device.expect("hug.sent")
        assert sent["seq"] == 1 and sent["data"]["id"] == hug["id"]


async def test_ack_marks_delivered_and_receipts_reach_sender_across_processes(
    api, nodes, connect, db
) -> None:
    alice, bob = await register(api), await register(api)
    await open_to_hugs(api, bob)
    alice_a = await connect(nodes[0], alice)
    bob_b = await connect(nodes[1], bob)
    hug = await send(alice_a, bob)
    await alice_a.expect("hug.sent")
    seq = (await bob_b.expect("hug.received"))["seq"]

    assert await bob_b.sio.call("ack", {"seq": seq}, timeout=5) == {"ok": True}
    delivered = await alice_a.expect("hug.delivered")
    assert delivered["data"]["hug_id"] == hug["id"] and delivered["seq"] == 2
    stored = await db.fetchval("SELECT received_at FROM hugs WHERE id = $1", uuid.UUID(hug["id"]))
    assert stored is not None

    assert await bob_b.sio.call("ack", {"seq": seq}, timeout=5) == {"ok": True}
    await bob_b.sio.call("hug:read", {"hug_id": hug["id"]}, timeout=5)
    assert (await alice_a.expect("hug.read"))["data"]["hug_id"] == hug["id"]
    await alice_a.nothing()  # a repeated ack delivered nothing twice


async def test_offline_recipient_gets_exactly_the_missed_hugs_in_order(api, nodes, connect) -> None:
    alice, bob = await register(api), await register(api)
    await open_to_hugs(api, bob)
    alice_a = await connect(nodes[0], alice)
    phone = InboxClient()
    await phone.resume(nodes[1].url, bob)
    await phone.expect("hello")
    seen = await send(alice_a, bob)
    await phone.expect("hug.received")
    await phone.drop()

    missed = [await send(alice_a, bob) for _ in range(3)]

    await phone.resume(nodes[0].url, bob)
    assert phone.hug_ids() == [seen["id"]] + [hug["id"] for hug in missed]
    assert [seq for seq, _, _ in phone.applied] == [1, 2, 3, 4]
    await phone.close()


async def test_sync_pages_in_order_and_says_has_more(api, nodes, connect) -> None:
    alice, bob = await register(api), await register(api)
    await open_to_hugs(api, bob)
    alice_a = await connect(nodes[0], alice)
    hugs = [await send(alice_a, bob) for _ in range(5)]
    bob_b = await connect(nodes[1], bob)

    page = await bob_b.sio.call("sync", {"since": 0, "limit": 2}, timeout=5)
    assert page["ok"] and page["recovered"] and page["has_more"] and page["head"] == 5
    assert [e["seq"] for e in page["events"]] == [1, 2]
    rest = await bob_b.sio.call("sync", {"since": 2, "limit": 10}, timeout=5)
    assert [e["seq"] for e in rest["events"]] == [3, 4, 5] and not rest["has_more"]
    ids = [e["data"]["id"] for e in page["events"] + rest["events"]]
    assert ids == [hug["id"] for hug in hugs]

    assert await bob_b.sio.call("sync", {"since": 5}, timeout=5) == {
        "ok": True,
        "recovered": True,
        "events": [],
        "head": 5,
        "has_more": False,
        "snapshot": {"presence": [], "moods": [], "group_hugs": []},
    }
    ahead = await bob_b.sio.call("sync", {"since": 6}, timeout=5)
    assert ahead["error"]["code"] == "invalid" and ahead["error"]["field"] == "since"


async def test_sync_past_retention_says_not_recovered_never_partial(
    api, nodes, connect, db, stack: Stack
) -> None:
    alice, bob = await register(api), await register(api)
    await open_to_hugs(api, bob)
    alice_a = await connect(nodes[0], alice)
    for _ in range(3):
        await send(alice_a, bob)
    bob_id = uuid.UUID(bob["user"]["id"])
    await db.execute(
        "UPDATE inbox_events SET created_at = now() - interval '40 days' "
        "WHERE user_id = $1 AND seq <= 2",
        bob_id,
    )
    settings = stack.settings()
    svc = await open_services(settings)
    try:
        assert await purge_older_than(svc.ctx, settings.inbox_retention_secs) >= 2
    finally:
        await svc.close()
    bob_b = await connect(nodes[1], bob)
    for since in (0, 1):
        answer = await bob_b.sio.call("sync", {"since": since}, timeout=5)
        answer.pop("snapshot")
        assert answer == {
            "ok": True,
            "recovered": False,
            "events": [],
            "head": 3,
            "has_more": False,
        }
    answer = await bob_b.sio.call("sync", {"since": 2}, timeout=5)
    assert answer["recovered"] and [e["seq"] for e in answer["events"]] == [3]


async def test_hugs_survive_the_death_of_the_recipients_node(api, nodes, stack: Stack) -> None:
    alice, bob = await register(api), await register(api)
    await open_to_hugs(api, bob)
    doomed = ServerProcess(stack)
    await doomed.wait_ready()
    recipient = InboxClient()
    await recipient.resume(doomed.url, bob)
    sender = Client()
    await sender.connect(nodes[0].url, {"token": alice["access_token"]})
    before = await send(sender, bob)
    await recipient.expect("hello")
    await recipient.expect("hug.received")

    doomed.stop(signal.SIGKILL)
    during = [await send(sender, bob) for _ in range(3)]
    await recipient.drop()
    await recipient.resume(nodes[1].url, bob)
    assert recipient.hug_ids() == [before["id"]] + [hug["id"] for hug in during]
    await sender.close()
    await recipient.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_interleavings_deliver_every_acked_hug_exactly_once(
    api, nodes, seed: int
) -> None:
    """Senders send (and retry), recipients drop off and come back on either node; at the end
    every recipient holds exactly the hugs whose send was acknowledged, each once, in seq order."""
    rng = random.Random(seed)
    senders = [await register(api) for _ in range(3)]
    recipients = [await register(api) for _ in range(3)]
    for person in recipients:
        await open_to_hugs(api, person)
    sender_clients = []
    for person in senders:
        client = Client()
        await client.connect(rng.choice(nodes).url, {"token": person["access_token"]})
        sender_clients.append(client)
    inboxes = {person["user"]["id"]: InboxClient() for person in recipients}
    online = {person["user"]["id"]: False for person in recipients}
    acked: dict[str, set[str]] = {person["user"]["id"]: set() for person in recipients}
    sent_ids: list[tuple[int, str, dict]] = []

    async def toggle(person: dict[str, Any]) -> None:
        user_id = person["user"]["id"]
        inbox = inboxes[user_id]
        if online[user_id]:
            await inbox.drop()
        else:
            await inbox.resume(rng.choice(nodes).url, person)
        online[user_id] = not online[user_id]

    for _ in range(60):
        roll = rng.random()
        if roll < 0.6:
            i = rng.randrange(len(senders))
            to = rng.choice(recipients)
            hug = await send(sender_clients[i], to)
            acked[to["user"]["id"]].add(hug["id"])
            sent_ids.append((i, hug["client_id"], to))
        elif roll < 0.75 and sent_ids:
            i, client_id, to = rng.choice(sent_ids)  # a retry must not create a second hug
            retried = await send(sender_clients[i], to, client_id=client_id)
            assert retried["id"] in acked[to["user"]["id"]]
        else:
            await toggle(rng.choice(recipients))

    for person in recipients:
        user_id = person["user"]["id"]
        if not online[user_id]:
            await toggle(person)
        inbox = inboxes[user_id]
        assert await inbox.catch_up()  # the final resync a client makes when the app resumes
        seqs = [seq for seq, _, _ in inbox.applied]
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free, in order, no duplicates
        assert sorted(inbox.hug_ids()) == sorted(acked[user_id])  # every acked hug, exactly once
        await inbox.close()
    for client in sender_clients:
        await client.close()
