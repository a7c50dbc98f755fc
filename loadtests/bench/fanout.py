"""Fan-out, the path a user's mood takes: N users follow one owner (one connection each), and
the owner's connection calls `mood:update` (Node: a room publish to the followers' room, then
the ack); the windows count the followers' frames. Saturation keeps the owner at most a window
of updates ahead of what the followers received; then a moderate fixed rate (the same for both
servers unless above 80 % of one's saturation) and half the saturating rate time each update
from the call to each sampled follower's frame. Followers connect to one web process, or
half to each of two (the owner on the first)."""

from __future__ import annotations

import time
from typing import Any

from . import roles
from .harness import Bench
from .loadgen import Worker, all_connected, counted, split, wait_drained
from .measure import GENERATOR_CORES, NODE_CORES, SERVER_CORE, CpuWindow, in_window, percentiles
from .measure import samples as new_samples
from .owner import owner
from .report import row, with_profile

OUTSIDERS = 10  # connected users who follow no one: any mood.updated they get is a leak


def _people(b: Bench, n: int) -> dict[str, Any]:
    owner_id, followers, outsiders = b.make_users(1)[0], b.make_users(n), b.make_users(OUTSIDERS)
    b.follow(followers, [owner_id] * n)
    return {
        "owner": b.tokens([owner_id])[0],
        "followers": b.tokens(followers),
        "outsiders": b.tokens(outsiders),
    }


def scenario_fanout(b: Bench, n: int, nodes: int = 1) -> list[dict[str, Any]]:
    plan = b.plan
    people = b.shared(f"fanout {n}", lambda: _people(b, n))
    servers = b.webs([SERVER_CORE] if nodes == 1 else NODE_CORES)
    gen_cores = GENERATOR_CORES if nodes == 1 else None
    procs = plan.fanout_procs
    counters = Worker.ctx.RawArray("q", procs)
    receivers = b.spawn(
        roles.receivers,
        [
            {
                "port": servers[i % nodes].port,
                "tokens": share,
                "mode": "mood",
                "sample_every": max(1, n // 100),  # ~100 connections decode every frame
                "concurrency": 100,
                "outsiders": people["outsiders"] if i == 0 else [],
                "watch": "mood.updated",
            }
            for i, share in enumerate(split(people["followers"], procs))
        ],
        counters,
        gen_cores,
    )
    # A loaded server may refuse a few of thousands of handshakes: count the ones it took.
    infos = all_connected(receivers, "fan-out", 300, allow_failed=n // 100)
    failed = sum(i["failed"] for i in infos)
    n -= failed
    slots = list(range(procs))
    window_msgs = max(4, 20000 // n)
    sender = b.worker(
        owner,
        {
            "port": servers[0].port,
            "token": people["owner"],
            "n": n,
            "window": window_msgs,
            "slots": slots,
        },
        counters,
        procs,
        gen_cores,
    )
    before = counted(counters, slots)
    sender.expect("ready", 60)
    # HugMood tells each follower the owner came online: not a frame the windows count.
    base = wait_drained(counters, slots, before + (n if b.target == "hugmood" else 0), 10)
    groups = {"server": [s.pid for s in servers], "generator": [w.pid for w in b.workers]}
    if nodes == 2:
        groups |= {"node1": [servers[0].pid], "node2": [servers[1].pid]}
    cpu = CpuWindow(groups, b.db_name)
    checked = {"lost": 0, "extra": 0, "published": 0}

    def window(
        command: tuple[Any, ...], warmup: float = 0.0, profile: list[tuple[str, int]] | None = None
    ) -> dict[str, Any]:
        """Send `command` to the owner, wait `warmup`, measure a window, then wait for every
        acked update to reach every follower (what never did is lost, more is duplicated)."""
        nonlocal base
        sender.send(*command)
        time.sleep(warmup)
        result = b.window(counters, slots, cpu, plan.duration, profile=profile)
        published = sender.expect("done", plan.duration + 60)["published"]
        final = wait_drained(counters, slots, base + published * n)
        checked["lost"] += max(0, base + published * n - final)
        checked["extra"] += max(0, final - base - published * n)
        checked["published"] += published
        base = final
        return result

    where = "1 process" if nodes == 1 else "2 processes"
    sat = window(
        ("saturate", time.time() + plan.warmup + plan.duration + 0.5, base),
        plan.warmup,
        profile=[(f"fanout-{n}-{nodes}p-node{i + 1}", s.pid) for i, s in enumerate(servers)],
    )
    moderate = min(plan.fanout_moderate, 0.8 * sat["rate"])
    mod = window(("rate", moderate / n, time.time() + plan.duration))
    half = plan.fanout_latency_load * sat["rate"]
    lat = window(("rate", half / n, time.time() + plan.duration))
    times, lats = new_samples()
    reports = [r.report() for r in receivers]
    for rep in reports:
        times.frombytes(rep["times"])
        lats.frombytes(rep["lats"])
    acks = sender.report()
    log = b.server_log()
    b.finish()
    common = {
        "followers": n,
        "followers_not_connected": failed,
        "followers_per_process": [len(s) for s in split(people["followers"], nodes)],
        "updates_acked": checked["published"],
        "errors": acks["errors"],
        "connect_secs": max(i["secs"] for i in infos),
        "server_log": log,
        "checks": {
            "lost": checked["lost"],
            "duplicated": checked["extra"] + sum(r["duplicated"] for r in reports),
            "reordered": sum(r["reordered"] for r in reports),
            "privacy_violations": sum(r["violations"] for r in reports),
        },
        "latency_note": "sampled followers' receive time - the owner's send time (same clock)",
    }

    def latency_row(label: str, win: dict[str, Any], rate: float) -> dict[str, Any]:
        return row(
            "fanout",
            f"fan-out latency, {n:,} followers, {where}, {label}",
            win["rate"],
            "deliveries/s",
            win,
            percentiles(in_window(times, lats, win["t0"], win["t1"])),
            offered_deliveries_per_s=round(rate),
            updates_per_s=round(rate / n, 2),
            **common,
        )

    return with_profile(
        [
            row(
                "fanout",
                f"fan-out: mood:update to {n:,} followers, {where} (saturation)",
                sat["rate"],
                "deliveries/s",
                sat,
                None,
                updates_per_s=round(sat["rate"] / n, 1),
                in_flight_updates=window_msgs,
                **common,
            ),
            latency_row("moderate rate", mod, moderate),
            latency_row("half the saturating rate", lat, half),
        ],
        sat,
    )
