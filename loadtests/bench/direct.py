"""Direct hugs: `hug:send` with the full delivery guarantee (stored, acked, delivered live;
Node: one `pg` INSERT per message, then the emit to the recipient and the ack), pipelined from
sender connections to their own recipients, on 1 and 2 web processes; the windows count the
senders' ok acks."""

from __future__ import annotations

from typing import Any

from .harness import Bench
from .pairs import run_pairs
from .report import with_profile

OUTSIDERS = 5  # connected users no one hugs: a hug.received they get is a leak


def _people(b: Bench, m: int) -> dict[str, list[str]]:
    users = b.make_users(2 * m + OUTSIDERS)
    return {
        "senders": b.tokens(users[:m]),
        "recipient_ids": users[m : 2 * m],
        "recipients": b.tokens(users[m : 2 * m]),
        "outsiders": b.tokens(users[2 * m :]),
    }


def scenario_direct(b: Bench, nodes: int) -> list[dict[str, Any]]:
    plan = b.plan
    m = plan.direct_pairs
    run = run_pairs(
        b,
        "direct",
        nodes,
        b.shared(f"direct {nodes}p", lambda: _people(b, m)),
        event="hug:send",
        mode="hugs",
        count="acks",
        in_flight=plan.direct_in_flight,
        procs=plan.direct_procs,
        latency_load=plan.direct_latency_load,
        moderate_rate=plan.pairs_moderate,
        initial_events=m,  # their hello
        who=("senders", "recipients"),
        watch="hug.received",
    )
    b.finish()
    missing = run.acked - run.received
    common = {
        "senders": m,
        "in_flight_per_sender": plan.direct_in_flight,
        "acked_total": run.acked,
        "received_total": run.received,
        "missing_live_deliveries": missing,
        "errors": run.errors,
        "skipped_sends": run.skipped,
        "server_log": run.server_log,
        # Duplicated and reordered: a recipient's durable seq not above the last one (HugMood).
        "checks": run.checks(max(0, missing), max(0, -missing), 0),
    }
    return with_profile(
        [
            run.row(
                "direct", f"hug:send acked/s, {run.label} (saturation)", "hugs/s", run.sat, **common
            ),
            run.row(
                "direct",
                f"hug latency, {run.label}, at a moderate rate",
                "hugs/s",
                run.mod,
                offered_per_s=round(run.moderate_rate),
                **common,
            ),
            run.row(
                "direct",
                f"hug latency, {run.label}, at half the saturating rate",
                "hugs/s",
                run.lat,
                offered_per_s=round(run.paced_rate),
                **common,
            ),
        ],
        run.sat,
    )
