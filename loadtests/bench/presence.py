"""Presence, the ephemeral direct message: each mover's `presence:set` (alternating away /
online) reaches its one follower as `presence.changed` (Node: an emit to the mover's followers'
room, one watcher, then the ack), pipelined, on 1 and 2 web processes; the windows count those
frames as the watchers receive them, and the end checks each mover's last announced status
against the last one its watcher saw."""

from __future__ import annotations

from typing import Any

from . import domain
from .harness import Bench
from .pairs import run_pairs
from .report import row, with_profile

OUTSIDERS = 5  # connected users who follow no one: a presence.changed they get is a leak


def _people(b: Bench, m: int) -> dict[str, list[str]]:
    users = b.make_users(2 * m + OUTSIDERS)
    movers, watchers = users[:m], users[m : 2 * m]
    b.follow(watchers, movers)
    return {
        "mover_ids": movers,
        "senders": b.tokens(movers),
        "recipient_ids": watchers,
        "recipients": b.tokens(watchers),
        "outsiders": b.tokens(users[2 * m :]),
    }


def scenario_presence(b: Bench, nodes: int) -> list[dict[str, Any]]:
    """Ephemeral direct messages: M movers, each followed by its own watcher (and by no one
    else), call `presence:set` alternating away / online, every call a change announced as one
    `presence.changed` to exactly one watcher connection (the mover's `show_activity_to` is
    everyone). The windows count those frames as the watchers receive them."""
    plan = b.plan
    m = plan.presence_pairs
    people = b.shared(f"presence {nodes}p", lambda: _people(b, m))
    hugmood = b.target == "hugmood"
    run = run_pairs(
        b,
        "presence",
        nodes,
        people,
        event="presence:set",
        mode="presence",
        count="deliveries",
        in_flight=plan.presence_in_flight,
        procs=plan.presence_procs,
        latency_load=plan.presence_latency_load,
        moderate_rate=plan.pairs_moderate,
        initial_events=m if hugmood else 0,  # HugMood announces each mover's connect: online
        who=("movers", "watchers"),
        watch="presence.changed",
    )
    announced = announced_presence(b, people["mover_ids"]) if hugmood else None
    b.finish()
    seen: dict[str, str] = {}
    for rep in run.receivers:
        seen |= rep["last_status"]
    repeats = sum(rep["repeats"] for rep in run.receivers)
    common = {
        "movers": m,
        "in_flight_per_mover": plan.presence_in_flight,
        "onlines_at_connect": run.initial,
        "acked_total": run.acked,
        "delivered_total": run.received,
        # Calls that changed nothing (the server applied two of a mover's calls out of order)
        # or whose presence.changed never arrived; `repeated_status` tells them apart.
        "acks_without_delivery": run.acked - run.received,
        "repeated_status": repeats,
        "final_status_mismatch": (
            sum(seen.get(u) != s for u, s in announced.items()) if announced else None
        ),
        "errors": run.errors,
        "skipped_sends": run.skipped,
        "server_log": run.server_log,
        # A repeated status is a lost, duplicated or reordered frame: counted as reordered.
        "checks": run.checks(
            max(0, run.acked - run.received), max(0, run.received - run.acked), repeats
        ),
        "latency_note": "watcher receive time - last_active, the server's clock when it "
        "decided the change, just before the publish (same machine clock); "
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
                f"presence.changed latency, {run.label}, at a moderate rate",
                "deliveries/s",
                run.mod,
                offered_calls_per_s=round(run.moderate_rate),
                **common,
            ),
            run.row(
                "presence",
                f"presence.changed latency, {run.label}, at half the saturating rate",
                "deliveries/s",
                run.lat,
                offered_calls_per_s=round(run.paced_rate),
                **common,
            ),
        ],
        run.sat,
    )


def announced_presence(b: Bench, users: list[str]) -> dict[str, str | None]:
    """The status last announced for each of `users`, as the servers' presence script keeps it."""
    values = b.redis_get([domain.presence_announced_key(b.prefix, u) for u in users])
    return {u: v.decode() if v else None for u, v in zip(users, values, strict=True)}
