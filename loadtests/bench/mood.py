"""Mood fan-out to followers: one user's `mood:update` reaching N followers connected to two web
processes, one update at a time; the time from the call to the last follower's frame, and the
servers' CPU per update."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import roles
from .harness import Bench
from .loadgen import Worker, all_connected, split
from .measure import GENERATOR_CORES, NODE_CORES, CpuWindow, percentiles
from .report import row
from .servers import HOST


def scenario_mood(b: Bench) -> list[dict[str, Any]]:
    """One user's mood updates reaching N followers connected to two processes: time from the
    `mood:update` call to the last follower's frame, and the servers' CPU per update."""
    plan = b.plan
    n = plan.mood_followers
    nodes = [b.server(NODE_CORES[0]), b.server(NODE_CORES[1])]
    owner, followers = b.make_users(1)[0], b.make_users(n)
    b.follow(followers, [owner] * n)
    counters = Worker.ctx.RawArray("q", 2)
    receivers = b.spawn(
        roles.receivers,
        [
            {"port": node.port, "tokens": b.tokens(share), "mode": "idle", "concurrency": 100}
            for node, share in zip(nodes, split(followers, 2), strict=True)
        ],
        counters,
        GENERATOR_CORES,
    )
    all_connected(receivers, "mood", 300)
    cpu = CpuWindow(
        {"server": [s.pid for s in nodes], "generator": [w.pid for w in b.workers]}, b.db_name
    )
    by_node = [CpuWindow({"server": [s.pid], "generator": []}, b.db_name) for s in nodes]

    async def publish() -> list[float]:
        import socketio

        owner_sio = socketio.AsyncClient(reconnection=False)
        await owner_sio.connect(
            f"http://{HOST}:{nodes[0].port}",
            auth={"token": b.tokens([owner])[0]},
            transports=["websocket"],
        )
        await asyncio.sleep(1)  # the owner's own presence.changed reaches everyone first
        latencies = []
        for _ in range(plan.mood_updates):
            target = sum(counters) + n
            t0 = time.perf_counter()
            answer = await owner_sio.call(
                "mood:update", {"mood": "calm", "intensity": 0.5, "valence": 0.6, "arousal": 0.3}
            )
            assert answer["ok"], answer
            # The counters live in shared memory, written by the receiver processes: poll.
            while sum(counters) < target and time.perf_counter() - t0 < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)  # one at a time: the cost of a single update
        await owner_sio.disconnect()
        return latencies

    for window in (cpu, *by_node):
        window.start()
    latencies = asyncio.run(publish())
    used = cpu.stop()
    per_node = [w.stop()["server"] for w in by_node]
    elapsed_cpu_secs = used["server"] / 100 * (time.time() - cpu.t0)
    b.finish()
    return [
        row(
            "mood",
            f"one mood update to {n:,} followers over 2 processes (latency: call to last frame)",
            1000 * elapsed_cpu_secs / plan.mood_updates,
            "server CPU ms/update",
            {"cpu": used},
            percentiles(latencies),
            updates=plan.mood_updates,
            server_cpu_pct_by_node=per_node,
        )
    ]
