"""The fan-out scenario's sender process: one owner connection calling `mood:update`, each call's
note "<serial> <send time>" (what the followers time and order-check), acked by the server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from .loadgen import Control, close_all, counted, open_connections
from .measure import samples


async def owner(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """saturate: as fast as the followers keep up, never more than `window` updates ahead of
    what they have received (received frames / N); rate: a fixed number per second. Each
    command answers `done` once every call is acked: `published` counts the ok acks."""
    ctl = Control(conn)
    conns, info = await open_connections(p, [p["token"]], lambda i: None)
    ctl.send("ready", info)
    if not conns:
        await ctl.get()
        return
    c, n, window, slots = conns[0], p["n"], p["window"], p["slots"]
    stats = {"ok": 0, "sent": 0}
    errors: Counter[str] = Counter()
    ack_times, ack_lats = samples()

    def send() -> None:
        stats["sent"] += 1
        t0 = time.time()
        data = {
            "mood": "calm",
            "intensity": 0.5,
            "valence": 0.6,
            "arousal": 0.3,
            "note": f"{stats['sent']} {t0!r}",
        }

        def on_ack(answer: Any, now: float) -> None:
            if isinstance(answer, dict) and answer.get("ok"):
                stats["ok"] += 1
            else:
                errors[str((answer or {}).get("error", {}).get("code", "?"))] += 1
            ack_times.append(now)
            ack_lats.append(now - t0)

        c.emit_with_ack("mood:update", data, on_ack)

    async def drain() -> None:
        for _ in range(600):
            if not c.pending_acks:
                return
            await asyncio.sleep(0.05)

    async for msg in ctl.commands():
        ok0 = stats["ok"]
        if msg[0] == "saturate":
            until, base, sent0 = msg[1], msg[2], stats["sent"]
            while time.time() < until and not c.closed:
                done = (counted(counters, slots) - base) / n
                if stats["sent"] - sent0 - done < window:
                    send()
                else:
                    await asyncio.sleep(0.001)
        elif msg[0] == "rate":
            rate, until = msg[1], msg[2]
            due = time.time()
            while due < until and not c.closed:
                await asyncio.sleep(max(0.0, due - time.time()))
                send()
                due += 1.0 / rate
        elif msg[0] == "report":
            ctl.send(
                "report",
                {"times": ack_times.tobytes(), "lats": ack_lats.tobytes(), "errors": dict(errors)},
            )
            continue
        await drain()
        ctl.send("done", {"published": stats["ok"] - ok0, "errors": dict(errors)})
    await close_all(ctl, conns)
