"""Direct hugs: `hug:send` with the full delivery guarantee (stored, acked, delivered live),
pipelined from sender connections to their own recipients, on 1 and 2 web processes; the
windows count the senders' ok acks."""

from __future__ import annotations

from typing import Any

from .harness import Bench
from .pairs import run_pairs
from .report import with_profile


def scenario_direct(b: Bench, nodes: int) -> list[dict[str, Any]]:
    plan = b.plan
    m = plan.direct_pairs
    users = b.make_users(2 * m)
    run = run_pairs(
        b,
        "direct",
        nodes,
        users[:m],
        users[m:],
        event="hug:send",
        mode="hugs",
        count="acks",
        in_flight=plan.direct_in_flight,
        procs=plan.direct_procs,
        latency_load=plan.direct_latency_load,
        initial_events=m,  # their hello
        who=("senders", "recipients"),
    )
    b.finish()
    common = {
        "senders": m,
        "in_flight_per_sender": plan.direct_in_flight,
        "acked_total": run.acked,
        "received_total": run.received,
        "missing_live_deliveries": run.acked - run.received,
        "errors": run.errors,
        "skipped_sends": run.skipped,
        "server_log": run.server_log,
    }
    return with_profile(
        [
            run.row(
                "direct", f"hug:send acked/s, {run.label} (saturation)", "hugs/s", run.sat, **common
            ),
            run.row(
                "direct",
                f"hug latency, {run.label} at {run.paced_rate:,.0f} hugs/s",
                "hugs/s",
                run.lat,
                **common,
            ),
        ],
        run.sat,
    )
