"""The fan-out scenario's publisher process: emits `bench.fanout` to room user:<id> through the
application's write-only RedisManager, as a worker does, and is the only generator process that
loads the application."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .domain import Publisher
from .loadgen import Control, counted
from .roles import FANOUT_EVENT


async def publisher(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """saturate: as fast as the receivers keep up, never more than `window` messages ahead of
    the slowest-possible reading (received frames / N); rate: a fixed number per second."""
    ctl = Control(conn)
    out = Publisher(p["redis_url"], p["prefix"])
    room, n, window, slots = p["room"], p["n"], p["window"], p["slots"]
    pad = "x" * p["pad"]
    published = 0

    async def emit(phase: str) -> None:
        nonlocal published
        published += 1
        data = {"p": phase, "t": time.time(), "n": published, "text": pad}
        await out.emit(FANOUT_EVENT, data, room)

    ctl.send("ready", {})
    async for msg in ctl.commands():
        start = published
        if msg[0] == "saturate":
            until, base = msg[1], msg[2]
            while time.time() < until:
                done = (counted(counters, slots) - base) / n
                if published - done < window:
                    await emit("sat")
                else:
                    await asyncio.sleep(0.001)
        elif msg[0] == "rate":
            rate, until = msg[1], msg[2]
            due = time.time()
            while due < until:
                await asyncio.sleep(max(0.0, due - time.time()))
                await emit("lat")
                due += 1.0 / rate
        ctl.send("done", {"published": published - start, "total": published})
    ctl.send("stopped")
