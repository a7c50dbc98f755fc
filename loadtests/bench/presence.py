"""Presence, the ephemeral direct message: each mover's `presence:set` (alternating away /
online) reaches its one follower as `presence.changed`, pipelined, on 1 and 2 web processes;
the windows count those frames as the watchers receive them, and the end checks each mover's
last announced status against the last one its watcher saw."""

from __future__ import annotations

from typing import Any

from . import domain
from .harness import Bench
from .pairs import run_pairs
from .report import row, with_profile


def scenario_presence(b: Bench, nodes: int) -> list[dict[str, Any]]:
    """Ephemeral direct messages: M movers, each followed by its own watcher (and by no one
    else), call `presence:set` alternating away / online, every call a change announced as one
    `presence.changed` to exactly one watcher connection (the mover's `show_activity_to` is
    everyone). The windows count those frames as the watchers receive them."""
    plan = b.plan
    m = plan.presence_pairs
    users = b.make_users(2 * m)
    movers, watchers = users[:m], users[m:]
    b.follow(watchers, movers)
    run = run_pairs(
        b,
        "presence",
        nodes,
        movers,
        watchers,
        event="presence:set",
        mode="presence",
        count="deliveries",
        in_flight=plan.presence_in_flight,
        procs=plan.presence_procs,
        latency_load=plan.presence_latency_load,
        initial_events=m,  # each mover's connect: online
        who=("movers", "watchers"),
    )
    announced = announced_presence(b, movers)
    b.finish()
    seen: dict[str, str] = {}
    for rep in run.receivers:
        seen |= rep["last_status"]
    common = {
        "movers": m,
        "in_flight_per_mover": plan.presence_in_flight,
        "onlines_at_connect": run.initial,
        "acked_total": run.acked,
        "delivered_total": run.received,
        # Calls that changed nothing (the server applied two of a mover's calls out of order)
        # or whose presence.changed never arrived; `repeated_status` tells them apart.
        "acks_without_delivery": run.acked - run.received,
        "repeated_status": sum(rep["repeats"] for rep in run.receivers),
        "final_status_mismatch": sum(seen.get(u) != s for u, s in announced.items()),
        "errors": run.errors,
        "skipped_sends": run.skipped,
        "server_log": run.server_log,
        "latency_note": "watcher receive time - last_active, the server's clock when its "
        "presence script decided the change, just before the publish (same machine clock); "
        "ack_latency is the mover's send -> ack",
    }
    return with_profile(
        [
            run.row(
                "presence",
                f"presence.changed delivered/s, {run.label} (saturation)",
                "deliveries/s",
                run.sat,
                acked_per_s=round(run.ack_rate(run.sat), 1),
                **common,
            ),
            row(
                "presence",
                f"presence:set acked/s, {run.label} (saturation; latency: send to ack)",
                run.ack_rate(run.sat),
                "acks/s",
                run.sat,
                run.ack_latency(run.sat),
                **common,
            ),
            run.row(
                "presence",
                f"presence.changed latency, {run.label} at {run.paced_rate:,.0f} calls/s",
                "deliveries/s",
                run.lat,
                acked_per_s=round(run.ack_rate(run.lat), 1),
                **common,
            ),
        ],
        run.sat,
    )


def announced_presence(b: Bench, users: list[str]) -> dict[str, str | None]:
    """The status last announced for each of `users`, as the servers' presence script keeps it."""
    values = b.redis_get([domain.presence_announced_key(b.prefix, u) for u in users])
    return {u: v.decode() if v else None for u, v in zip(users, values, strict=True)}
