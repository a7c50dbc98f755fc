"""Fan-out: N connections of one user in room user:<id>, and a separate publisher process
emitting to that room through a write-only RedisManager, as a worker does. Saturation counts
deliveries with the publisher never more than a window of messages ahead of the receivers; the
latency phase publishes at a fixed share of that rate."""

from __future__ import annotations

import array
import time
from typing import Any

from . import roles
from .harness import Bench
from .loadgen import Worker, all_connected, counted, split, wait_drained
from .measure import GENERATOR_CORES, SERVER_CORE, CpuWindow, percentiles
from .publisher import publisher
from .report import row, with_profile


def scenario_fanout(b: Bench, n: int) -> list[dict[str, Any]]:
    plan = b.plan
    server = b.server(SERVER_CORE)
    user = b.make_users(1)[0]
    token = b.tokens([user])[0]
    procs = plan.fanout_procs
    counters = Worker.ctx.RawArray("q", procs)
    every = max(1, n // 100)  # ~100 sampled connections decode and time every message
    receivers = b.spawn(
        roles.receivers,
        [
            {
                "port": server.port,
                "tokens": [token] * len(share),
                "mode": "fanout",
                "sample_every": every,
                "concurrency": 100,
            }
            for share in split(list(range(n)), procs)
        ],
        counters,
        GENERATOR_CORES,
    )
    infos = all_connected(receivers, "fan-out", 300)
    time.sleep(0.2)
    slots = list(range(procs))
    base = counted(counters, slots)
    window_msgs = max(4, 20000 // n)
    sender = b.worker(
        publisher,
        {
            "redis_url": b.redis_url,
            "prefix": b.prefix,
            "room": f"user:{user}",
            "n": n,
            "window": window_msgs,
            "slots": slots,
            "pad": plan.fanout_payload,
        },
        counters,
        procs,
        GENERATOR_CORES,
    )
    sender.expect("ready", 60)
    gen = [w.pid for w in b.workers]
    cpu = CpuWindow({"server": [server.pid], "generator": gen}, b.db_name)
    lost = 0

    def window(
        command: tuple[Any, ...], warmup: float = 0.0, profile: list[tuple[str, int]] | None = None
    ) -> dict[str, Any]:
        """Send `command` to the publisher, wait `warmup`, measure a window, then wait for
        every published message to reach the receivers (what never did counts as lost)."""
        nonlocal base, lost
        sender.send(*command)
        time.sleep(warmup)
        result = b.window(counters, slots, cpu, plan.duration, profile=profile)
        published = sender.expect("done", plan.duration + 60)["published"]
        final = wait_drained(counters, slots, base + published * n)
        lost += base + published * n - final
        base = final
        return result

    sat = window(
        ("saturate", time.time() + plan.warmup + plan.duration + 0.5, base),
        plan.warmup,
        profile=[(f"fanout-{n}", server.pid)],
    )
    rate = plan.fanout_latency_load * sat["rate"] / n  # messages/s; below 1 for large N
    lat = window(("rate", rate, time.time() + plan.duration))
    latencies: list[float] = []
    for r in receivers:
        latencies += array.array("d", r.report()["lats"]).tolist()
    b.finish()
    common = {"connections": n, "lost_frames": lost, "connect_secs": max(i["secs"] for i in infos)}
    return with_profile(
        [
            row(
                "fanout",
                f"fan-out deliveries/s, N={n} (saturation)",
                sat["rate"],
                "deliveries/s",
                sat,
                None,
                messages_per_s=round(sat["rate"] / n, 1),
                in_flight_msgs=window_msgs,
                **common,
            ),
            row(
                "fanout",
                f"fan-out latency, N={n} at {rate * n:,.0f} deliveries/s",
                lat["rate"],
                "deliveries/s",
                lat,
                percentiles(latencies),
                messages_per_s=round(rate, 2),
                **common,
            ),
        ],
        sat,
    )
