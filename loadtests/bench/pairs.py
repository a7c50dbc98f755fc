"""Sender/recipient pairs, the shape the direct (hug:send) and presence (presence:set)
scenarios share: recipients (and a few outsiders) connect, senders saturate, then send at a
moderate fixed rate and at a share of the saturating rate, and `PairsRun` holds what both sides
measured."""

from __future__ import annotations

import array
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import roles
from .harness import Bench
from .loadgen import Worker, all_connected, split, wait_drained
from .measure import (
    GENERATOR_CORES,
    NODE_CORES,
    SERVER_CORE,
    CpuWindow,
    in_window,
    percentiles,
    samples,
)
from .report import row


@dataclass
class PairsRun:
    """What `run_pairs` measured: its two windows and what the generator processes saw."""

    label: str  # which processes the senders and the recipients were on
    sat: dict[str, Any]  # the saturation window (see `Bench.window`)
    mod: dict[str, Any]  # the window at a moderate fixed rate
    lat: dict[str, Any]  # the window at `latency_load` of saturation
    moderate_rate: float  # sends/s of all senders together in `mod`
    paced_rate: float  # sends/s of all senders together in `lat`
    initial: int  # recipients' counted events once everyone was connected
    acked: int  # sends answered ok, warm-up and both windows
    received: int  # recipients' counted events after `initial`, once drained
    errors: dict[str, int]  # error acks by code
    skipped: int  # paced sends skipped with `in_flight` already outstanding
    receivers: list[dict[str, Any]]  # each recipient process's report (outsiders' checks too)
    server_log: dict[str, Any]  # what the servers logged (all of it is a warning or worse)
    recv: tuple[array.array, array.array] = field(default_factory=samples)
    acks: tuple[array.array, array.array] = field(default_factory=samples)

    def latency(self, window: dict[str, Any]) -> dict[str, Any]:
        """Recipients' latency samples received within `window`."""
        return percentiles(in_window(*self.recv, window["t0"], window["t1"]))

    def ack_latency(self, window: dict[str, Any]) -> dict[str, Any]:
        return percentiles(in_window(*self.acks, window["t0"], window["t1"]))

    def ack_rate(self, window: dict[str, Any]) -> float:
        acked = in_window(*self.acks, window["t0"], window["t1"])
        return len(acked) / (window["t1"] - window["t0"])

    def checks(self, lost: int, duplicated: int, reordered: int) -> dict[str, int]:
        """The correctness counters every row carries, with the recipients' own."""
        return {
            "lost": lost,
            "duplicated": duplicated + sum(r["duplicated"] for r in self.receivers),
            "reordered": reordered + sum(r["reordered"] for r in self.receivers),
            "privacy_violations": sum(r["violations"] for r in self.receivers),
        }

    def row(
        self, scenario: str, measure: str, unit: str, window: dict[str, Any], **details: Any
    ) -> dict[str, Any]:
        """A row of `window`'s counted rate, with the recipients' and the acks' latency."""
        return row(
            scenario,
            measure,
            window["rate"],
            unit,
            window,
            self.latency(window),
            ack_latency=self.ack_latency(window),
            **details,
        )


def run_pairs(
    b: Bench,
    name: str,
    nodes: int,
    people: dict[str, list[str]],
    *,
    event: str,
    mode: str,
    count: str,
    in_flight: int,
    procs: int,
    latency_load: float,
    moderate_rate: float,
    initial_events: int,
    who: tuple[str, str],
    watch: str,
) -> PairsRun:
    """Sender i (token `people["senders"][i]`) sends `event` (see `roles.senders`) for
    recipient i (`people["recipient_ids"][i]`, connected with `people["recipients"][i]`),
    `in_flight` outstanding per connection, senders on node 1 and recipients (receivers in
    `mode`) on the last node. Recipients connect first, with `people["outsiders"]` (users in no
    one's audience: each `watch` event one of them gets is a privacy violation); once their
    counters reach `initial_events` (what connecting everyone sends them) the senders saturate
    for a warm-up and a window, then send at `moderate_rate` (at most 80 % of saturation) and
    at `latency_load` of saturation for a window each. The windows count the senders' ok acks
    (`count="acks"`) or the recipients' counted events (`count="deliveries"`). The caller
    calls `b.finish()` when it has checked what it wants to."""
    plan = b.plan
    servers = b.webs([SERVER_CORE] if nodes == 1 else NODE_CORES)
    a, gen_cores = servers[0], GENERATOR_CORES if nodes == 1 else None
    m = len(people["senders"])
    counters = Worker.ctx.RawArray("q", 2 * procs)
    recv_slots, send_slots = list(range(procs)), list(range(procs, 2 * procs))
    recv = b.spawn(
        roles.receivers,
        [
            {
                "port": servers[-1].port,
                "tokens": share,
                "mode": mode,
                "outsiders": people["outsiders"] if i == 0 else [],
                "watch": watch,
            }
            for i, share in enumerate(split(people["recipients"], procs))
        ],
        counters,
        gen_cores,
        first_slot=recv_slots[0],
    )
    all_connected(recv, f"{name}: recipients", 120)
    pairs = list(zip(people["senders"], people["recipient_ids"], strict=True))
    send = b.spawn(
        roles.senders,
        [
            {"port": a.port, "pairs": share, "in_flight": in_flight, "event": event}
            for share in split(pairs, procs)
        ],
        counters,
        gen_cores,
        first_slot=send_slots[0],
    )
    all_connected(send, f"{name}: senders", 120)
    time.sleep(0.2)
    recv_base = wait_drained(counters, recv_slots, initial_events, timeout=10)
    label = "1 process" if nodes == 1 else f"2 processes, {who[0]} on node 1, {who[1]} on node 2"
    groups = {"server": [s.pid for s in servers], "generator": [w.pid for w in b.workers]}
    if nodes == 2:
        groups |= {"node1": [a.pid], "node2": [servers[1].pid]}
    cpu = CpuWindow(groups, b.db_name)
    slots = send_slots if count == "acks" else recv_slots

    def window(
        command: tuple[Any, ...], warmup: float = 0.0, profile: list[tuple[str, int]] | None = None
    ) -> dict[str, Any]:
        """Send `command` to the senders, wait `warmup`, measure a window, wait for them, then
        for the recipients to get what was acked (a server that acks faster than it delivers
        would otherwise count its backlog in the next window)."""
        for w in send:
            w.send(*command)
        time.sleep(warmup)
        result = b.window(counters, slots, cpu, plan.duration, profile=profile)
        acked = sum(w.expect("done", plan.duration + 60)["ok"] for w in send)
        wait_drained(counters, recv_slots, recv_base + acked, timeout=15)
        return result

    profile = [(f"{name}-{nodes}p-node{i + 1}", s.pid) for i, s in enumerate(servers)]
    sat = window(("saturate", time.time() + plan.warmup + plan.duration), plan.warmup, profile)
    moderate = min(moderate_rate, 0.8 * sat["rate"])
    mod = window(("rate", moderate / m, time.time() + plan.duration))
    per_conn = max(0.5, latency_load * sat["rate"] / m)
    lat = window(("rate", per_conn, time.time() + plan.duration))

    reports = [w.report() for w in send]
    acked = sum(r["ok"] for r in reports)
    received = wait_drained(counters, recv_slots, recv_base + acked, timeout=10) - recv_base
    run = PairsRun(
        label=label,
        sat=sat,
        mod=mod,
        lat=lat,
        moderate_rate=moderate,
        paced_rate=per_conn * m,
        initial=recv_base,
        acked=acked,
        received=received,
        errors=dict(sum((Counter(r["errors"]) for r in reports), Counter())),
        skipped=sum(r["skipped"] for r in reports),
        receivers=[],
        server_log=b.server_log(),
    )
    for w in recv:
        rep = w.report()
        run.recv[0].frombytes(rep.pop("times"))
        run.recv[1].frombytes(rep.pop("lats"))
        run.receivers.append(rep)
    for r in reports:
        run.acks[0].frombytes(r["times"])
        run.acks[1].frombytes(r["lats"])
    return run
