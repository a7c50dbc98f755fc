"""Squeezes from 200 participants over two processes, as fast as each can, become at most
`GROUP_HUG_PULSE_HZ` pulses a second, which count every accepted squeeze exactly once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from typing import Any

from tests.conftest import Client
from tests.group_hugs.support import act, call, create, people

PARTICIPANTS = 200
SQUEEZING_SECS = 3.0
PULSE_HZ = 10  # the default


async def squeeze_flat_out(client: Client, group_id: str, until: float) -> dict[str, int]:
    """Squeeze, wait for the answer, again, until `until`; the answers by outcome."""
    loop = asyncio.get_running_loop()
    outcomes: dict[str, int] = {}
    strength = 0.1
    while loop.time() < until:
        answer = await call(
            client, "group_hug:squeeze", {"group_hug_id": group_id, "intensity": strength}
        )
        key = "ok" if answer["ok"] else answer["error"]["code"]
        outcomes[key] = outcomes.get(key, 0) + 1
        strength = 1.0 if strength >= 0.9 else strength + 0.1
    return outcomes


def pulses(client: Client) -> list[dict[str, Any]]:
    """The pulses this client received so far (other events are dropped)."""
    found = []
    while not client.events.empty():
        event, data = client.events.get_nowait()
        if event == "group_hug.pulse":
            found.append(data["data"])
    return found


async def test_200_participants_squeezing_flat_out_get_a_bounded_pulse_rate(
    nodes, connect, db
) -> None:
    host, *guests = await people(db, PARTICIPANTS)
    everyone = [host, *guests]
    clients: list[Client] = []
    for start in range(0, PARTICIPANTS, 10):  # a few at a time: the database is shared
        batch = enumerate(everyone[start : start + 10], start)
        clients += await asyncio.gather(*(connect(nodes[i % 2], who) for i, who in batch))
    group = await create(clients[0], guests, duration_s=60)
    for client in clients[1:]:
        assert (await act(client, "join", group))["group_hug"]["status"] == "ACTIVE"
    await asyncio.sleep(0.5)
    for client in clients:
        pulses(client)  # joins and starts so far

    loop = asyncio.get_running_loop()
    until = loop.time() + SQUEEZING_SECS
    answers = await asyncio.gather(*(squeeze_flat_out(c, group["id"], until) for c in clients))
    await asyncio.sleep(1.0)  # the last slots' pulses
    accepted = sum(a.get("ok", 0) for a in answers)
    assert set().union(*answers) <= {"ok", "rate_limited"}
    assert accepted > PARTICIPANTS * SQUEEZING_SECS  # everyone got squeezes through

    for observer in (clients[0], clients[1]):  # one on each process
        seen = pulses(observer)
        # Every accepted squeeze is in exactly one pulse, whichever process took it.
        assert sum(p["count"] for p in seen) == accepted
        times = sorted(datetime.fromisoformat(p["at"]) for p in seen)
        assert len(set(times)) == len(times)  # one pulse per slot
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 1 / PULSE_HZ - 0.001
        assert len(seen) <= PULSE_HZ * (SQUEEZING_SECS + 1) + 1  # bounded by the rate...
        assert len(seen) >= PULSE_HZ * SQUEEZING_SECS * 0.7  # ...and flowing
        for pulse in seen:
            assert 0 < pulse["mean_intensity"] <= 1 and len(pulse["top"]) <= 5
            strengths = [s["intensity"] for s in pulse["top"]]
            assert strengths == sorted(strengths, reverse=True)
