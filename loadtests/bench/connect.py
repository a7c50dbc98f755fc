"""Connect rate: authenticated connections accepted per second, from several connecting
processes each keeping a fixed number of handshakes in flight, until a deadline or a cap
(HugMood: JWT, revocation check, user, rooms, presence and the hello snapshot; Node: JWT, one
query for the followed users' rooms, hello)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from . import roles
from .harness import Bench
from .loadgen import Worker, counted, split
from .measure import GENERATOR_CORES, SERVER_CORE, CpuWindow, in_window, percentiles, samples
from .report import row, with_profile


def scenario_connect(b: Bench) -> list[dict[str, Any]]:
    plan = b.plan
    procs = plan.connect_procs
    tokens = b.shared("connect", lambda: b.tokens(b.make_users(min(plan.connect_cap, 5000))))
    server = b.webs([SERVER_CORE])[0]
    counters = Worker.ctx.RawArray("q", procs)
    cap = plan.connect_cap // procs
    workers = b.spawn(
        roles.connectors,
        [
            {
                "port": server.port,
                "tokens": share,
                "cap": cap,
                "concurrency": plan.connect_concurrency,
            }
            for share in split(tokens, procs)
        ],
        counters,
        GENERATOR_CORES,
    )
    for w in workers:
        w.expect("ready", 60)
    cpu = CpuWindow({"server": [server.pid], "generator": [w.pid for w in workers]}, b.db_name)
    warm = min(1.0, plan.warmup)
    until = time.time() + warm + plan.connect_duration
    for w in workers:
        w.send("go", until)
    time.sleep(warm)
    slots = list(range(procs))
    win = b.window(
        counters,
        slots,
        cpu,
        plan.connect_duration,
        profile=[("connect", server.pid)],
        stop_when=lambda: counted(counters, slots) >= cap * procs,
    )
    t_all, l_all = samples()
    failures: Counter[str] = Counter()
    for w in workers:
        rep = w.expect("done", 120)
        t_all.frombytes(rep["times"])
        l_all.frombytes(rep["lats"])
        failures.update(rep["failures"])
    b.finish()
    return with_profile(
        [
            row(
                "connect",
                f"authenticated connects/s ({procs} client processes, "
                f"{procs * plan.connect_concurrency} handshakes in flight)",
                win["rate"],
                "connections/s",
                win,
                percentiles(in_window(t_all, l_all, win["t0"], win["t1"])),
                connections_total=len(t_all),
                failures=dict(failures),
            )
        ],
        win,
    )
