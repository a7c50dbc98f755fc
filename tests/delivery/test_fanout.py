"""Presence and mood updates live, across two processes: exactly the allowed people receive them,
rule changes apply to open connections at once, and presence neither flaps nor sticks."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Client, ServerProcess, Stack, bearer, follow, register

MOOD = {"mood": "calm", "intensity": 0.4, "valence": 0.7, "arousal": 0.2}


async def privacy(api, session: dict, **settings: str) -> None:
    body = {"allow_hugs_from": "friends", "show_mood_to": "friends", "show_activity_to": "friends"}
    response = await api.put("/me/privacy", json=body | settings, headers=bearer(session))
    assert response.status_code == 200, response.text


async def mood(client: Client, **fields: Any) -> dict:
    answer = await client.sio.call("mood:update", MOOD | fields, timeout=5)
    assert answer["ok"], answer
    return answer["entry"]


async def cast(api) -> dict[str, dict]:
    """An owner and one viewer of each kind: follower, friend, stranger, blocked (a former
    friend the owner blocked)."""
    people = {
        name: await register(api) for name in ("owner", "follower", "friend", "stranger", "blocked")
    }
    await follow(api, people["follower"], people["owner"])
    for name in ("friend", "blocked"):
        await follow(api, people[name], people["owner"])
        await follow(api, people["owner"], people[name])
    blocked = await api.post(
        f"/users/{people['blocked']['user']['id']}/block", headers=bearer(people["owner"])
    )
    assert blocked.status_code == 204
    return people


SEES = {
    "everyone": {"follower", "friend"},
    "friends": {"friend"},
    "nobody": set(),
}


@pytest.mark.parametrize("setting", ["everyone", "friends", "nobody"])
async def test_presence_and_mood_reach_exactly_the_allowed(api, nodes, connect, setting) -> None:
    people = await cast(api)
    await privacy(api, people["owner"], show_mood_to=setting, show_activity_to=setting)
    viewers = {
        name: await connect(nodes[1], people[name])
        for name in SEES["everyone"] | {"stranger", "blocked"}
    }

    owner = await connect(nodes[0], people["owner"])
    for name, client in viewers.items():
        if name in SEES[setting]:
            change = await client.expect("presence.changed")
            assert change["data"]["user"] == people["owner"]["user"]["id"]
            assert change["data"]["status"] == "online"
            assert "seq" not in change
        else:
            await client.nothing(0.3)

    entry = await mood(owner, note="hello")
    assert (await owner.expect("mood.updated"))["data"] == entry  # own devices stay in step
    for name, client in viewers.items():
        if name in SEES[setting]:
            assert (await client.expect("mood.updated"))["data"] == entry
        await client.nothing(0.3)


async def test_entry_visibility_narrows_the_owners_setting(api, nodes, connect) -> None:
    people = await cast(api)
    await privacy(api, people["owner"], show_mood_to="everyone", show_activity_to="nobody")
    follower = await connect(nodes[1], people["follower"])
    friend = await connect(nodes[1], people["friend"])
    owner = await connect(nodes[0], people["owner"])

    await mood(owner, visibility="friends")
    await friend.expect("mood.updated")
    await follower.nothing()
    await mood(owner, visibility="private")
    await owner.expect("mood.updated")
    await owner.expect("mood.updated")
    await friend.nothing()
    await follower.nothing()


async def test_privacy_and_graph_changes_apply_to_live_connections(api, nodes, connect) -> None:
    people = await cast(api)
    await privacy(api, people["owner"], show_mood_to="everyone")
    follower = await connect(nodes[1], people["follower"])
    stranger = await connect(nodes[0], people["stranger"])
    owner = await connect(nodes[0], people["owner"])

    owner_id = people["owner"]["user"]["id"]
    await mood(owner)
    await follower.expect("mood.updated")
    await privacy(api, people["owner"], show_mood_to="nobody")
    # Losing sight is an event: the app stops showing the mood it saw.
    assert (await follower.expect("mood.hidden"))["data"] == {"user": owner_id}
    await mood(owner)
    await follower.nothing()  # took effect at once, no reconnect

    await privacy(api, people["owner"], show_mood_to="everyone")
    await follow(api, people["stranger"], people["owner"])  # now a follower, still connected
    await mood(owner)
    await follower.expect("mood.updated")
    await stranger.expect("mood.updated")

    response = await api.delete(
        f"/users/{people['owner']['user']['id']}/follow", headers=bearer(people["stranger"])
    )
    assert response.status_code == 200
    response = await api.post(
        f"/users/{people['follower']['user']['id']}/block", headers=bearer(people["owner"])
    )
    assert response.status_code == 204
    # Each lost sight of the owner's moods (activity is shown to friends only: no
    # presence.hidden for mere followers).
    assert (await stranger.expect("mood.hidden"))["data"] == {"user": owner_id}
    assert (await follower.expect("mood.hidden"))["data"] == {"user": owner_id}
    await mood(owner)
    await stranger.nothing()
    await follower.nothing()


async def test_one_change_is_one_event_merged_over_devices(api, nodes, connect) -> None:
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    phone = await connect(nodes[0], people["owner"])
    assert (await friend.expect("presence.changed"))["data"]["status"] == "online"
    tablet = await connect(nodes[1], people["owner"])
    await friend.nothing()  # a second device changes nothing

    assert await tablet.sio.call("presence:set", {"status": "dnd"}, timeout=5) == {"ok": True}
    assert (await friend.expect("presence.changed"))["data"]["status"] == "dnd"
    assert await phone.sio.call("presence:set", {"status": "away"}, timeout=5) == {"ok": True}
    await friend.nothing()  # dnd outranks away
    await tablet.close()
    assert (await friend.expect("presence.changed"))["data"]["status"] == "away"
    await friend.nothing()

    bad = await phone.sio.call("presence:set", {"status": "offline"}, timeout=5)
    assert bad["error"]["code"] == "invalid" and bad["error"]["field"] == "status"


async def test_quick_reconnect_does_not_flap_and_leaving_is_announced_after_grace(
    api, nodes, connect
) -> None:
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    owner = await connect(nodes[0], people["owner"])
    await friend.expect("presence.changed")

    await owner.close()
    again = await connect(nodes[1], people["owner"])  # well within the 1 s grace
    await friend.nothing(1.5)

    await again.close()
    started = time.monotonic()
    change = await friend.expect("presence.changed", timeout=5)
    assert change["data"]["status"] == "offline" and change["data"]["last_active"]
    assert time.monotonic() - started >= 0.9  # not before the grace period
    await friend.nothing()


async def on_doomed_process(stack: Stack, session: dict) -> tuple[ServerProcess, Client]:
    """A process of its own (to be killed) with a connection of `session` on it."""
    doomed = ServerProcess(stack)
    await doomed.wait_ready()
    client = Client()
    await client.connect(doomed.url, {"token": session["access_token"]})
    await client.expect("hello")
    return doomed, client


async def test_users_of_a_killed_process_expire_within_the_ttl(
    api, nodes, connect, stack: Stack
) -> None:
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    doomed, owner = await on_doomed_process(stack, people["owner"])
    await friend.expect("presence.changed")

    doomed.stop(signal.SIGKILL)
    started = time.monotonic()
    change = await friend.expect("presence.changed", timeout=10)
    assert change["data"]["status"] == "offline"
    assert time.monotonic() - started < 3 + 2  # TTL 3 s, plus a sweep interval
    await owner.close()


async def test_snapshot_on_connect_and_sync_shows_only_visible_people(api, nodes, connect) -> None:
    people = await cast(api)
    await privacy(api, people["owner"], show_mood_to="friends", show_activity_to="everyone")
    owner = await connect(nodes[0], people["owner"])
    entry = await mood(owner, note="seen by friends")

    for name, node in (("friend", nodes[1]), ("follower", nodes[0]), ("stranger", nodes[1])):
        client = Client()
        await client.connect(node.url, {"token": people[name]["access_token"]})
        hello = await client.expect("hello")
        snapshot = hello["data"]["snapshot"]
        synced = (await client.sio.call("sync", {"since": 0}, timeout=5))["snapshot"]
        assert synced == snapshot
        presence = {p["user"]: p["status"] for p in snapshot["presence"]}
        moods = [m["id"] for m in snapshot["moods"]]
        if name == "stranger":
            assert presence == {} and moods == []
        else:
            assert presence == {people["owner"]["user"]["id"]: "online"}
            assert moods == ([entry["id"]] if name == "friend" else [])
        await client.close()


async def test_a_dead_processs_device_stops_counting_while_another_stays_online(
    api, nodes, connect, stack: Stack
) -> None:
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    tablet = await connect(nodes[0], people["owner"])
    assert (await friend.expect("presence.changed"))["data"]["status"] == "online"
    doomed, phone = await on_doomed_process(stack, people["owner"])
    assert (await phone.sio.call("presence:set", {"status": "dnd"}, timeout=5))["ok"]
    assert (await friend.expect("presence.changed"))["data"]["status"] == "dnd"

    doomed.stop(signal.SIGKILL)
    change = await friend.expect("presence.changed", timeout=10)
    assert change["data"]["status"] == "online"  # the tablet's, once the phone's entry expired
    await friend.nothing(4)  # the tablet, refreshed by its heartbeat, keeps the user online
    await tablet.close()
    await phone.close()


async def test_concurrent_changes_reach_viewers_in_the_order_decided(api, nodes, connect) -> None:
    """Many `presence:set` in flight at once from one device: every announcement is a change
    from the one before it (never the same status twice in a row at a viewer), and the viewer
    ends on the status the server ends on."""
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    owner = await connect(nodes[0], people["owner"])
    assert (await friend.expect("presence.changed"))["data"]["status"] == "online"
    statuses = ["away", "online", "dnd"] * 20
    answers = await asyncio.gather(
        *(owner.sio.call("presence:set", {"status": s}, timeout=10) for s in statuses)
    )
    assert all(answer == {"ok": True} for answer in answers)
    seen, began = ["online"], []
    while True:
        try:
            change = await friend.expect("presence.changed", timeout=1)
        except TimeoutError:
            break
        seen.append(change["data"]["status"])
        began.append(datetime.fromisoformat(change["data"]["last_active"]))
    assert all(a != b for a, b in itertools.pairwise(seen)), seen
    assert all(a < b for a, b in itertools.pairwise(began)), began  # viewers may order by it
    assert len(seen) > 2
    late = Client()
    await late.connect(nodes[1].url, {"token": people["friend"]["access_token"]})
    snapshot = (await late.expect("hello"))["data"]["snapshot"]
    await late.close()
    assert {p["user"]: p["status"] for p in snapshot["presence"]} == {
        people["owner"]["user"]["id"]: seen[-1]
    }


async def test_moods_sent_without_waiting_reach_followers_in_the_order_sent(
    api, nodes, connect
) -> None:
    """Twenty `mood:update` in flight at once from one device: the friend on the other process
    gets them in the order they were sent, so the last one it sees is the owner's latest."""
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    owner = await connect(nodes[0], people["owner"])
    assert (await friend.expect("presence.changed"))["data"]["status"] == "online"
    notes = [f"note {n}" for n in range(20)]
    calls = [owner.sio.call("mood:update", MOOD | {"note": note}, timeout=10) for note in notes]
    answers = await asyncio.gather(*calls)
    assert all(answer["ok"] for answer in answers)
    seen = [(await friend.expect("mood.updated"))["data"]["note"] for _ in notes]
    assert seen == notes
    # A retry with a client_id already used answers the first entry, announced once only.
    keyed = MOOD | {"note": "keyed", "client_id": "mood-retry"}
    first, again = [await owner.sio.call("mood:update", keyed, timeout=10) for _ in range(2)]
    assert first["duplicate"] is False and again == first | {"duplicate": True}
    assert (await friend.expect("mood.updated"))["data"]["id"] == first["entry"]["id"]
    await friend.nothing()
    stamps = [answer["entry"]["created_at"] for answer in answers]
    assert stamps == sorted(stamps)  # stored in that order too


async def test_last_active_is_the_last_announcement_and_is_stored_when_leaving(
    api, nodes, connect, db
) -> None:
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    owner = await connect(nodes[0], people["owner"])
    online = (await friend.expect("presence.changed"))["data"]
    await owner.sio.call("presence:set", {"status": "away"}, timeout=5)
    away = (await friend.expect("presence.changed"))["data"]
    assert away["last_active"] > online["last_active"]
    snapshot = (await friend.sio.call("sync", {"since": 0}, timeout=5))["snapshot"]
    assert snapshot["presence"] == [away]
    await owner.close()
    offline = (await friend.expect("presence.changed", timeout=10))["data"]
    assert offline["status"] == "offline" and offline["last_active"] > away["last_active"]
    stored = await db.fetchval(
        "SELECT last_active FROM users WHERE id = $1", uuid.UUID(people["owner"]["user"]["id"])
    )
    assert stored.isoformat().replace("+00:00", "Z")[:23] == offline["last_active"][:23]


async def test_two_processes_changes_can_be_ordered_by_last_active(api, nodes, connect) -> None:
    """One user's devices on both processes change at once: put in `last_active` order, what a
    viewer got is a sequence of real changes ending on the user's current status."""
    people = await cast(api)
    friend = await connect(nodes[1], people["friend"])
    phone = await connect(nodes[0], people["owner"])
    tablet = await connect(nodes[1], people["owner"])
    assert (await friend.expect("presence.changed"))["data"]["status"] == "online"
    calls = [
        device.sio.call("presence:set", {"status": status}, timeout=10)
        for _ in range(15)
        for device, status in ((phone, "dnd"), (tablet, "away"), (phone, "online"))
    ]
    assert all(answer == {"ok": True} for answer in await asyncio.gather(*calls))
    changes = []
    while True:
        try:
            changes.append((await friend.expect("presence.changed", timeout=1))["data"])
        except TimeoutError:
            break
    ordered = sorted(changes, key=lambda c: datetime.fromisoformat(c["last_active"]))
    statuses = [c["status"] for c in ordered]
    assert len({c["last_active"] for c in changes}) == len(changes)
    assert all(a != b for a, b in itertools.pairwise(["online", *statuses])), statuses
    snapshot = (await friend.sio.call("sync", {"since": 0}, timeout=5))["snapshot"]
    assert snapshot["presence"] == [ordered[-1]]
