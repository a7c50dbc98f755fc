"""The load generator's processes and how the orchestrator talks to them.

Each generator process (spawned, pinned to the generator cores) runs one role from `roles` or
`owner` under uvloop. The orchestrator holds a `Worker` per process and sends it commands
over a pipe (`saturate`, `rate`, `go`, `report`, `stop`); the process answers through its
`Control` and publishes a running count (events received, acks, connections) in a shared
array slot, which the orchestrator samples to measure a window without a round trip.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from loadtests import wsclient

Role = Callable[[dict, Any, Any, int], Coroutine[Any, Any, None]]  # (params, conn, counters, slot)


# --- in the generator process --------------------------------------------------------------


class Control:
    """The worker's end of its pipe, readable from the event loop."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.queue.put_nowait(("stop",))

    async def get(self) -> Any:
        return await self.queue.get()

    async def commands(self) -> AsyncIterator[Any]:
        """Each message until `stop`."""
        while (msg := await self.get())[0] != "stop":
            yield msg

    def send(self, *message: Any) -> None:
        """Blocking: the event loop's reader made the pipe non-blocking, and a report of
        latency samples is larger than the pipe's buffer."""
        os.set_blocking(self.conn.fileno(), True)
        try:
            self.conn.send(message)
        finally:
            os.set_blocking(self.conn.fileno(), False)


def worker_main(role: Role, params: dict, conn: Any, counters: Any, slot: int, cores: Any) -> None:
    if cores:
        os.sched_setaffinity(0, cores)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator stops us
    import uvloop

    uvloop.run(role(params, conn, counters, slot))


async def open_connections(
    p: dict, tokens: list[str], handler: Callable[[int], Any]
) -> tuple[list[wsclient.SioConnection], dict[str, Any]]:
    """Connect every token (bounded concurrency, 3 attempts each); returns the connections and
    the `ready` report: how many connected, failed, and in how many seconds."""
    sem = asyncio.Semaphore(p.get("concurrency", 100))
    t0 = time.time()

    async def one(i: int, token: str) -> wsclient.SioConnection | None:
        async with sem:
            for attempt in range(3):
                try:
                    return await wsclient.connect(p["host"], p["port"], token, on_event=handler(i))
                except (wsclient.ConnectError, OSError, TimeoutError):
                    await asyncio.sleep(0.5 * (attempt + 1))
            return None

    results = await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    conns = [c for c in results if c is not None]
    failed, secs = len(results) - len(conns), time.time() - t0
    return conns, {"connected": len(conns), "failed": failed, "secs": round(secs, 2)}


async def flush_count(count: Callable[[], int], counters: Any, slot: int) -> None:
    """Publish this process's running total (events received, acks) to shared memory every
    20 ms."""
    while True:
        counters[slot] = count()
        await asyncio.sleep(0.02)


async def close_all(ctl: Control, conns: list[wsclient.SioConnection]) -> None:
    """Close the worker's connections and tell the orchestrator it has stopped."""
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)
    ctl.send("stopped")


# --- in the orchestrator -------------------------------------------------------------------


class Worker:
    """A generator process and the orchestrator's end of its pipe."""

    ctx = mp.get_context("spawn")

    def __init__(self, role: Role, params: dict, counters: Any, slot: int, cores: Any) -> None:
        self.kind = role.__name__
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(
            target=worker_main, args=(role, params, child, counters, slot, cores), daemon=True
        )
        self.proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def send(self, *message: Any) -> None:
        self.conn.send(message)

    def expect(self, kind: str, timeout: float) -> Any:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.conn.poll(0.1):
                message = self.conn.recv()
                if message[0] != kind:
                    raise RuntimeError(f"{self.kind} worker said {message[0]!r}, not {kind!r}")
                return message[1] if len(message) > 1 else None
            if not self.proc.is_alive():
                raise RuntimeError(f"{self.kind} worker died (exit {self.proc.exitcode})")
        raise TimeoutError(f"{self.kind} worker did not answer {kind!r} in {timeout:.0f}s")

    def report(self) -> dict[str, Any]:
        """The process's samples and counters so far."""
        self.send("report")
        return self.expect("report", 60)

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.send("stop")
                self.expect("stopped", 15)
            except (RuntimeError, TimeoutError, OSError, EOFError):
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def all_connected(
    workers: list[Worker], what: str, timeout: float, allow_failed: int = 0
) -> list[dict[str, Any]]:
    """Each worker's `ready` report; raises if more than `allow_failed` connections of all the
    workers together did not open (three attempts each)."""
    infos = [w.expect("ready", timeout) for w in workers]
    if sum(info["failed"] for info in infos) > allow_failed:
        connected = sum(info["connected"] for info in infos)
        total = connected + sum(info["failed"] for info in infos)
        raise RuntimeError(f"{what}: only {connected}/{total} connections opened: {infos}")
    return infos


def counted(counters: Any, slots: list[int]) -> int:
    return sum(counters[s] for s in slots)


def wait_drained(counters: Any, slots: list[int], target: int, timeout: float = 30) -> int:
    """Wait until the counters reach `target` or stop moving for 3 s; returns the final sum."""
    deadline, last, still_since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        now = counted(counters, slots)
        if now >= target:
            return now
        if now != last:
            last, still_since = now, time.time()
        elif time.time() - still_since > 3:
            return now
        time.sleep(0.05)
    return counted(counters, slots)


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]
