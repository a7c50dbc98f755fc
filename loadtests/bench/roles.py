"""What the websocket load-generator processes do (see `loadgen`): hold and count receiving
connections, send acked events in pairs, or open connections as fast as the server accepts them.
Each role reports `ready` once connected, then obeys the orchestrator until `stop`."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loadtests import wsclient

from .loadgen import Control, close_all, flush_count, open_connections
from .measure import samples

PRESENCE_TOGGLE = ("online", "away")  # a mover's n-th presence:set; it connected online


async def receivers(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """Hold connections and count events. mode mood: sampled connections (`sample_every`)
    decode every `mood.updated`, record its latency (its note is "<serial> <send time>") and
    count a serial not above the last one as duplicated or reordered; mode hugs: every
    `hug.received` is decoded and its latency (message = send time) recorded, and a durable
    `seq` not above the last one counted as duplicated or reordered; mode presence: only
    `presence.changed` frames are counted, each decoded, its latency (receive time -
    `last_active`) recorded, and a status equal to the one last received from the same user
    counted as a repeat (changes alternate, so a repeat is a lost, duplicated or reordered
    frame); mode idle: count only. `outsiders`: tokens of users who are no one's audience; each
    `watch` event one of them receives is a privacy violation."""
    ctl = Control(conn)
    times, lats = samples()
    mode, every = p["mode"], p.get("sample_every", 1)
    checks = {"changed": 0, "repeats": 0, "duplicated": 0, "reordered": 0, "violations": 0}
    last_status: dict[str, str] = {}  # user -> the status of their last presence.changed

    def ordered(last: list[int], serial: int) -> None:
        """Count `serial` against the last one this connection saw."""
        if serial == last[0]:
            checks["duplicated"] += 1
        elif serial < last[0]:
            checks["reordered"] += 1
        last[0] = max(last[0], serial)

    def on_mood() -> Any:
        last = [0]

        def handler(name: str, payload: Any, now: float) -> None:
            if name == "mood.updated":
                serial, sent = payload["data"]["note"].split()
                times.append(now)
                lats.append(now - float(sent))
                ordered(last, int(serial))

        return handler

    def on_hug() -> Any:
        last = [0]

        def handler(name: str, payload: Any, now: float) -> None:
            if name == "hug.received":
                times.append(now)
                lats.append(now - float(payload["data"]["message"]))
                if "seq" in payload:
                    ordered(last, payload["seq"])

        return handler

    def on_presence(name: str, payload: Any, now: float) -> None:
        if name == "presence.changed":
            data = payload["data"]
            checks["changed"] += 1
            checks["repeats"] += last_status.get(data["user"]) == data["status"]
            last_status[data["user"]] = data["status"]
            times.append(now)
            lats.append(now - datetime.fromisoformat(data["last_active"]).timestamp())

    def on_outsider(name: str, payload: Any, now: float) -> None:
        checks["violations"] += name == p["watch"]

    def handler(i: int) -> Any:
        if mode == "hugs":
            return on_hug()
        if mode == "presence":
            return on_presence
        if mode == "mood" and i % every == 0:
            return on_mood()
        return None

    conns, info = await open_connections(p, p["tokens"], handler)
    watchers, outside = await open_connections(p, p.get("outsiders", []), lambda i: on_outsider)
    info["outsiders"], info["failed"] = len(watchers), info["failed"] + outside["failed"]

    def count() -> int:
        return checks["changed"] if mode == "presence" else sum(c.events for c in conns)

    flusher = asyncio.create_task(flush_count(count, counters, slot))
    ctl.send("ready", info)
    async for msg in ctl.commands():
        if msg[0] == "report":
            ctl.send(
                "report",
                {
                    "times": times.tobytes(),
                    "lats": lats.tobytes(),
                    "closed": sum(c.closed for c in conns),
                    **checks,
                    "last_status": last_status,
                },
            )
    flusher.cancel()
    await close_all(ctl, conns + watchers)


async def senders(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """Sender connections each sending `p["event"]` for their own recipient and awaiting the
    ack: `hug:send` to it (the default), or `presence:set` alternating away / online (every call
    a change of the sender's status, announced to its follower, the recipient).
    saturate: keep `in_flight` sends outstanding per connection until a deadline; rate: each
    connection sends on a fixed schedule (never more than `in_flight` outstanding)."""
    ctl = Control(conn)
    pairs = p["pairs"]
    conns, info = await open_connections(p, [t for t, _ in pairs], lambda i: None)
    if info["failed"]:
        ctl.send("ready", info)
        await ctl.get()
        return
    targets = [to for _, to in pairs]
    event = p.get("event", "hug:send")
    stats = {"ok": 0, "sent": 0, "skipped": 0}
    errors: Counter[str] = Counter()
    ack_times, ack_lats = samples()
    serial = 0
    changes = [0] * len(conns)  # presence:set calls per connection; each connects online

    def payload(i: int, t0: float) -> dict[str, Any]:
        if event == "presence:set":
            changes[i] += 1
            return {"status": PRESENCE_TOGGLE[changes[i] % 2]}
        return {
            "to": targets[i],
            "type": "warm",
            "client_id": f"b{slot}.{serial}",
            "message": repr(t0),
        }

    flusher = asyncio.create_task(flush_count(lambda: stats["ok"], counters, slot))

    def send(i: int, then: Callable[[], None] | None) -> None:
        nonlocal serial
        serial += 1
        t0 = time.time()
        data = payload(i, t0)

        def on_ack(answer: Any, now: float) -> None:
            if isinstance(answer, dict) and answer.get("ok"):
                stats["ok"] += 1
            else:
                code = (
                    (answer or {}).get("error", {}).get("code", "?")
                    if isinstance(answer, dict)
                    else "?"
                )
                errors[code] += 1
            ack_times.append(now)
            ack_lats.append(now - t0)
            if then is not None:
                then()

        stats["sent"] += 1
        conns[i].emit_with_ack(event, data, on_ack)

    async def drain() -> None:
        for _ in range(600):
            if not any(c.pending_acks for c in conns):
                return
            await asyncio.sleep(0.05)

    async def saturate(until: float, in_flight: int) -> None:
        def pump(i: int) -> Callable[[], None]:
            def next_send() -> None:
                if time.time() < until and not conns[i].closed:
                    send(i, next_send)

            return next_send

        for i in range(len(conns)):
            for _ in range(in_flight):
                pump(i)()
        await asyncio.sleep(max(0.0, until - time.time()))
        await drain()

    async def paced(rate_per_conn: float, until: float, in_flight: int) -> None:
        interval = 1.0 / rate_per_conn

        async def one(i: int) -> None:
            due = time.time() + random.random() * interval
            while due < until:
                await asyncio.sleep(max(0.0, due - time.time()))
                if conns[i].pending_acks < in_flight:
                    send(i, None)
                else:
                    stats["skipped"] += 1
                due += interval

        await asyncio.gather(*(one(i) for i in range(len(conns))))
        await drain()

    ctl.send("ready", info)
    async for msg in ctl.commands():
        if msg[0] == "saturate":
            await saturate(msg[1], p["in_flight"])
            ctl.send("done", dict(stats))
        elif msg[0] == "rate":
            await paced(msg[1], msg[2], p["in_flight"])
            ctl.send("done", dict(stats))
        elif msg[0] == "report":
            ctl.send(
                "report",
                {
                    "times": ack_times.tobytes(),
                    "lats": ack_lats.tobytes(),
                    "errors": dict(errors),
                    **stats,
                    "pending": sum(c.pending_acks for c in conns),
                },
            )
    flusher.cancel()
    await close_all(ctl, conns)


async def connectors(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """On `go`: open connections as fast as `concurrency` handshakes in flight allow, until the
    deadline or `cap`; hold them; report each connection's completion time and latency."""
    ctl = Control(conn)
    conns: list[wsclient.SioConnection] = []
    times, lats = samples()
    failures: Counter[str] = Counter()
    ctl.send("ready", {})
    msg = await ctl.get()
    if msg[0] == "go":
        until, cap, tokens = msg[1], p["cap"], p["tokens"]
        started = 0

        async def loop() -> None:
            nonlocal started
            while time.time() < until and started < cap:
                token = tokens[started % len(tokens)]
                started += 1
                t0 = time.time()
                try:
                    c = await wsclient.connect(p["host"], p["port"], token, wait_secs=30)
                except (wsclient.ConnectError, OSError, TimeoutError) as exc:
                    failures[type(exc).__name__] += 1
                    continue
                conns.append(c)
                now = time.time()
                times.append(now)
                lats.append(now - t0)
                counters[slot] = len(conns)

        await asyncio.gather(*(loop() for _ in range(p["concurrency"])))
        ctl.send(
            "done",
            {
                "times": times.tobytes(),
                "lats": lats.tobytes(),
                "failures": dict(failures),
            },
        )
        msg = await ctl.get()
    await close_all(ctl, conns)
