"""Memory: the server's RSS with no connections, then after each step of idle authenticated
connections (distinct users, each in its own rooms), and the KB each connection costs."""

from __future__ import annotations

import time
from typing import Any

from . import roles
from .harness import Bench
from .loadgen import Worker, all_connected
from .measure import GENERATOR_CORES, SERVER_CORE, vm_rss_kb
from .report import row


def scenario_memory(b: Bench) -> list[dict[str, Any]]:
    plan = b.plan
    steps = list(plan.memory_steps)
    tokens = b.shared("memory", lambda: b.tokens(b.make_users(steps[-1])))
    server = b.webs([SERVER_CORE])[0]
    time.sleep(2)
    rss0 = vm_rss_kb(server.pid)
    counters = Worker.ctx.RawArray("q", len(steps))
    rows = [row("memory", "server RSS, 0 connections", rss0 / 1024, "MB", rss_kb=rss0)]
    have = 0
    for slot, target in enumerate(steps):
        w = b.worker(
            roles.receivers,
            {
                "port": server.port,
                "tokens": tokens[have:target],
                "mode": "idle",
                "concurrency": 100,
            },
            counters,
            slot,
            GENERATOR_CORES,
        )
        all_connected([w], "memory", 300)
        have = target
        time.sleep(plan.memory_settle)  # let allocations settle
        rss = vm_rss_kb(server.pid)
        rows.append(
            row(
                "memory",
                f"server RSS, {target:,} idle connections",
                rss / 1024,
                "MB",
                rss_kb=rss,
                kb_per_connection=round((rss - rss0) / target, 1),
                connections=target,
            )
        )
        rows.append(
            row("memory", f"KB per idle connection at {target:,}", (rss - rss0) / target, "KB")
        )
    b.finish()
    return rows
