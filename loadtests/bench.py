"""HugMood realtime benchmark: one command, its own servers, its own load generator.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \
        python loadtests/bench.py [--quick] [--scenario NAME ...] [--duration SECS] [--profile]

(`make bench BENCH_ARGS="--quick"` runs it with the project's venv.) With the embedded development
servers: `export $(.venv/bin/python scripts/dev.py services)` first.

What it does, all on loopback and all cleaned up at the end (also on Ctrl-C):
- creates its own database `hugmood_bench_<random>` on DATABASE_URL's server, applies schema.sql,
  uses its own REDIS_PREFIX, and drops the database / deletes the prefix's keys when done;
- creates users directly in the database (privacy open to everyone) and mints access tokens with
  `hugmood.tokens.issue_access_token` and the JWT_SECRET it gives the servers;
- starts web processes exactly as production does (`python -m realtime --port N`), with very high
  rate limits, the server pinned to core 0 and the load generator to core 1 (single-process
  scenarios), or the two servers pinned to cores 0 and 1 (two-process scenarios);
- drives them from separate processes with a lean raw-websocket Socket.IO client (wsclient.py),
  reporting the generator's own CPU next to every figure, and the server's, PostgreSQL's and
  Redis's CPU too, so one can tell who the bottleneck was.

Scenarios: fanout (N connections of one user in room user:<id>, a write-only RedisManager
publisher in its own process, like a worker), direct (hug:send with the full delivery guarantee,
pipelined, 1 and 2 web processes), presence (ephemeral direct messages: `presence:set` of a user
reaching its one follower as `presence.changed`, pipelined, 1 and 2 web processes), mood (one
mood update to 1,000 followers over 2 processes), memory (RSS per idle authenticated
connection), connect (authenticated connections accepted per second).

`--profile` also runs py-spy on the servers during the saturation (and connect) windows and
measures their cyclic-GC time; `--serve PORT` starts one web process with a fresh bench database
and load-test limits, for Locust (loadtests/locustfile.py), until Ctrl-C.

Prints a table and writes loadtests/results/<timestamp>.json (with the git commit).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import wsclient  # noqa: E402  (loadtests/wsclient.py)

HOST = "127.0.0.1"  # loopback only, always
TICK = os.sysconf("SC_CLK_TCK")
CORES = sorted(os.sched_getaffinity(0))
SERVER_CORE = {CORES[0]}
GENERATOR_CORES = {CORES[1]} if len(CORES) > 1 else {CORES[0]}
NODE_CORES = [{CORES[0]}, {CORES[1] if len(CORES) > 1 else CORES[0]}]
FANOUT_EVENT = "bench.fanout"
PRESENCE_TOGGLE = ("online", "away")  # a mover's n-th presence:set; it connected online
SERVER_ENV = {
    "HUGMOOD_ENV": "production",
    "LOG_LEVEL": "WARNING",  # one JSON line per connect at INFO; see docs/benchmarks.md
    "RATE_SOCKET_EVENTS": "1000000000/60",
    "RATE_HUG_SEND": "1000000000/60",
    "RATE_HUG_REQUEST": "1000000000/60",
    "RATE_REGISTER_IP": "1000000000/60",  # for Locust against `--serve`
    "RATE_LOGIN_IP": "1000000000/60",
    "ACCESS_TOKEN_TTL_SECS": "7200",
}


@dataclass(frozen=True)
class Plan:
    duration: float = 15.0  # each measurement window
    warmup: float = 3.0  # load before each window starts
    fanout_sizes: tuple[int, ...] = (1000, 5000)
    fanout_procs: int = 2  # receiver processes
    fanout_latency_load: float = 0.5  # latency phase rate, as a share of saturation
    fanout_payload: int = 100  # bytes of padding in each fan-out event's data
    direct_pairs: int = 50  # sender connections (each to its own recipient)
    direct_in_flight: int = 4  # hug:send awaiting their ack, per sender connection
    direct_procs: int = 2  # sender processes (and as many recipient processes)
    direct_latency_load: float = 0.5
    presence_pairs: int = 50  # mover connections, each followed by its own watcher connection
    presence_in_flight: int = 4  # presence:set awaiting their ack, per mover connection
    presence_procs: int = 2  # mover processes (and as many watcher processes)
    presence_latency_load: float = 0.5
    memory_steps: tuple[int, ...] = (1000, 5000)
    memory_settle: float = 3.0  # seconds between the last connection and reading RSS
    mood_followers: int = 1000  # connected followers of one user, split over two processes
    mood_updates: int = 30  # mood:update calls, one at a time, each waited for to the last follower
    connect_procs: int = 4
    connect_concurrency: int = 25  # handshakes in flight per connecting process
    connect_cap: int = 15000  # stay well under `ulimit -n` on the server
    connect_duration: float = 10.0


FULL = Plan()
QUICK = Plan(
    duration=3.0,
    warmup=1.0,
    fanout_sizes=(500,),
    direct_pairs=20,
    direct_procs=1,
    presence_pairs=20,
    presence_procs=1,
    memory_steps=(500, 1000),
    memory_settle=1.0,
    connect_procs=2,
    connect_cap=3000,
    connect_duration=3.0,
)
SCENARIOS = ("fanout", "direct", "presence", "mood", "memory", "connect")
PROFILE_DIR: Path | None = None  # where raw py-spy stacks are kept (set by --profile)
PROFILE_NATIVE = False  # --native: C frames too (py-spy then pauses the process per sample)


# --- measuring processes ----------------------------------------------------------------------


def proc_cpu_secs(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def service_pids(db_name: str) -> list[int]:
    """Redis, PostgreSQL's shared processes and the backends of our database (read-only, for CPU
    accounting): backends of other databases on a shared server are someone else's load."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    comm = f.read().strip()
                if comm == "redis-server":
                    pids.append(int(entry))
                elif comm == "postgres":
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read().decode(errors="replace")
                    backend = "(" in cmdline or "[local]" in cmdline
                    if not backend or f" {db_name} " in cmdline:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_jiffies() -> tuple[int, int, int]:
    """Busy, total and stolen (by the hypervisor) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]  # guest time is inside user
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values), values[7]


class CpuWindow:
    """CPU used by groups of processes between `start()` and `stop()`, in % of one core."""

    def __init__(self, groups: dict[str, list[int]], db_name: str) -> None:
        self.groups, self.db_name = groups, db_name

    def _snap(self) -> dict[str, dict[int, float]]:
        snap = {
            name: {pid: s for pid in pids if (s := proc_cpu_secs(pid)) is not None}
            for name, pids in self.groups.items()
        }
        snap["pg_redis"] = {
            pid: s for pid in service_pids(self.db_name) if (s := proc_cpu_secs(pid)) is not None
        }
        return snap

    def start(self) -> None:
        self.t0, self.s0, self.m0 = time.time(), self._snap(), machine_jiffies()

    def stop(self) -> dict[str, float]:
        t1, s1, m1 = time.time(), self._snap(), machine_jiffies()
        dt = t1 - self.t0
        out = {}
        for name, after in s1.items():
            before = self.s0.get(name, {})
            used = sum(secs - before.get(pid, 0.0) for pid, secs in after.items())
            out[name] = round(100 * used / dt, 1)
        busy, total = m1[0] - self.m0[0], m1[1] - self.m0[1]
        out["machine"] = round(100 * len(CORES) * busy / total, 1) if total else 0.0
        out["steal"] = round(100 * len(CORES) * (m1[2] - self.m0[2]) / total, 1) if total else 0.0
        # Other processes, the orchestrator and softirq time not charged to any process.
        out["unaccounted"] = round(
            out["machine"] - out["steal"] - out["server"] - out["generator"] - out["pg_redis"], 1
        )
        return out


def percentiles(values: Iterable[float]) -> dict[str, float | None]:
    data = sorted(values)
    if not data:
        return {"p50_ms": None, "p99_ms": None, "samples": 0}

    def pick(q: float) -> float:
        return round(1000 * data[min(len(data) - 1, int(q * len(data)))], 2)

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "samples": len(data)}


def in_window(times: array.array, values: array.array, t0: float, t1: float) -> list[float]:
    return [v for t, v in zip(times, values, strict=True) if t0 <= t <= t1]


# --- py-spy --------------------------------------------------------------------------------


def py_spy() -> str | None:
    return shutil.which("py-spy") or (
        str(Path(sys.executable).parent / "py-spy")
        if (Path(sys.executable).parent / "py-spy").exists()
        else None
    )


class Profiler:
    """`py-spy record --format raw` on a server for one window, summarised by own time."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(  # collapsed stacks: "frame;frame;... count" per line
            [
                py_spy() or "py-spy",
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                *(["--native"] if PROFILE_NATIVE else ["--nonblocking"]),
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def summary(self, top: int = 20) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not self.out.exists():
            return {"error": "py-spy produced no output"}
        if PROFILE_DIR is not None:
            PROFILE_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.out, PROFILE_DIR / self.out.name)
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        packages: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            names = []
            for frame in stack.split(";"):
                name, _, where = frame.partition(" (")
                path = where.rstrip(")").rsplit(":", 1)[0]
                names.append((f"{name} ({path})", path))
            own[names[-1][0]] += n
            packages[_package(names[-1][1])] += n
            for name in {name for name, path in names if path.startswith(APP_LAYERS)}:
                inclusive[name] += n
        if not total:
            return {"samples": 0}

        def pct(counter: Counter[str], k: int) -> list[list[Any]]:
            return [[name, round(100 * v / total, 1)] for name, v in counter.most_common(k)]

        return {
            "samples": total,
            "top_own": pct(own, top),
            "by_package": pct(packages, 12),
            "top_inclusive_app": pct(inclusive, top),
        }


# With --profile the servers also account their cyclic-GC pauses (gc.callbacks), through a
# sitecustomize on their PYTHONPATH only: no application code changes.
GC_PROBE = """\
import gc, os, threading, time

_dir = os.environ.get("BENCH_GC_STATS")
if _dir:
    _state = [0.0, 0, 0, 0, 0]  # seconds in gc, collections of gen 0/1/2, objects collected
    _began = [0.0]

    def _account(phase, info):
        if phase == "start":
            _began[0] = time.perf_counter()
        else:
            _state[0] += time.perf_counter() - _began[0]
            _state[1 + info["generation"]] += 1
            _state[4] += info["collected"]

    gc.callbacks.append(_account)
    _path = os.path.join(_dir, f"gc-{os.getpid()}.txt")

    def _write():
        while True:
            time.sleep(0.1)
            with open(_path + ".tmp", "w") as f:
                f.write(" ".join(map(str, _state)))
            os.replace(_path + ".tmp", _path)

    threading.Thread(target=_write, daemon=True).start()
"""


def gc_stats(directory: Path, pid: int) -> list[float] | None:
    try:
        return [float(x) for x in (directory / f"gc-{pid}.txt").read_text().split()]
    except (OSError, ValueError):
        return None


APP_LAYERS = ("hugmood/", "realtime/", "rest/", "socketio/", "engineio/")


def _package(path: str) -> str:
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        return "stdlib:" + path.rsplit("/", 1)[-1].removesuffix(".py")
    head = path.lstrip("/").split("/", 1)[0]
    if head.endswith(".py"):
        return "stdlib:" + head.removesuffix(".py")
    return head


# --- generator processes ------------------------------------------------------------------


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

    def send(self, *message: Any) -> None:
        """Blocking: the event loop's reader made the pipe non-blocking, and a report of
        latency samples is larger than the pipe's buffer."""
        os.set_blocking(self.conn.fileno(), True)
        try:
            self.conn.send(message)
        finally:
            os.set_blocking(self.conn.fileno(), False)


def worker_main(kind: str, params: dict, conn: Any, counters: Any, slot: int, cores: Any) -> None:
    if cores:
        os.sched_setaffinity(0, cores)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator stops us
    import uvloop

    uvloop.run(WORKERS[kind](params, conn, counters, slot))


async def open_connections(
    p: dict, tokens: list[str], handler: Callable[[int], Any], on_raw: Any = None
) -> tuple[list[wsclient.SioConnection], int, float]:
    """Connect every token (bounded concurrency, 3 attempts each); returns conns, failures, secs."""
    sem = asyncio.Semaphore(p.get("concurrency", 100))
    t0 = time.time()

    async def one(i: int, token: str) -> wsclient.SioConnection | None:
        async with sem:
            for attempt in range(3):
                try:
                    return await wsclient.connect(
                        p["host"], p["port"], token, on_event=handler(i), on_raw=on_raw
                    )
                except (wsclient.ConnectError, OSError, TimeoutError):
                    await asyncio.sleep(0.5 * (attempt + 1))
            return None

    results = await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    conns = [c for c in results if c is not None]
    return conns, len(results) - len(conns), time.time() - t0


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


async def receivers_worker(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """Hold connections and count events. mode fanout: sampled connections decode and record
    latency of `p: "lat"` messages; mode hugs: every `hug.received` is decoded and its latency
    (message = send time) recorded; mode presence: only `presence.changed` frames are counted,
    each decoded, its latency (receive time - `last_active`) recorded, and a status equal to the
    one last received from the same user counted as a repeat (changes alternate, so a repeat is
    a lost, duplicated or reordered frame); mode idle: count only."""
    ctl = Control(conn)
    times, lats = array.array("d"), array.array("d")
    mode, every = p["mode"], p.get("sample_every", 1)
    presence = {"changed": 0, "repeats": 0}
    last_status: dict[str, str] = {}  # user -> the status of their last presence.changed

    def on_fanout(name: str, payload: Any, now: float) -> None:
        if name == FANOUT_EVENT and payload["data"]["p"] == "lat":
            times.append(now)
            lats.append(now - payload["data"]["t"])

    def on_hug(name: str, payload: Any, now: float) -> None:
        if name == "hug.received":
            times.append(now)
            lats.append(now - float(payload["data"]["message"]))

    def on_presence(name: str, payload: Any, now: float) -> None:
        if name == "presence.changed":
            data = payload["data"]
            presence["changed"] += 1
            presence["repeats"] += last_status.get(data["user"]) == data["status"]
            last_status[data["user"]] = data["status"]
            times.append(now)
            lats.append(now - datetime.fromisoformat(data["last_active"]).timestamp())

    def handler(i: int) -> Any:
        if mode == "hugs":
            return on_hug
        if mode == "presence":
            return on_presence
        if mode == "fanout" and i % every == 0:
            return on_fanout
        return None

    conns, failed, secs = await open_connections(p, p["tokens"], handler)

    def count() -> int:
        return presence["changed"] if mode == "presence" else sum(c.events for c in conns)

    flusher = asyncio.create_task(flush_count(count, counters, slot))
    ctl.send("ready", {"connected": len(conns), "failed": failed, "secs": round(secs, 2)})
    while (msg := await ctl.get())[0] != "stop":
        if msg[0] == "report":
            ctl.send(
                "report",
                {
                    "times": times.tobytes(),
                    "lats": lats.tobytes(),
                    "closed": sum(c.closed for c in conns),
                    **presence,
                    "last_status": last_status,
                },
            )
    flusher.cancel()
    await close_all(ctl, conns)


async def senders_worker(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """Sender connections each sending `p["event"]` for their own recipient and awaiting the
    ack: `hug:send` to it (the default), or `presence:set` alternating away / online (every call
    a change of the sender's status, announced to its follower, the recipient).
    saturate: keep `in_flight` sends outstanding per connection until a deadline; rate: each
    connection sends on a fixed schedule (never more than `in_flight` outstanding)."""
    ctl = Control(conn)
    pairs = p["pairs"]
    conns, failed, secs = await open_connections(p, [t for t, _ in pairs], lambda i: None)
    if failed:
        ctl.send("ready", {"connected": len(conns), "failed": failed, "secs": round(secs, 2)})
        await ctl.get()
        return
    targets = [to for _, to in pairs]
    event = p.get("event", "hug:send")
    stats = {"ok": 0, "sent": 0, "skipped": 0}
    errors: Counter[str] = Counter()
    ack_times, ack_lats = array.array("d"), array.array("d")
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

    ctl.send("ready", {"connected": len(conns), "failed": 0, "secs": round(secs, 2)})
    while (msg := await ctl.get())[0] != "stop":
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


async def publisher_worker(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """Emits `bench.fanout` to room user:<id> through a write-only RedisManager, as a worker
    does. saturate: as fast as the receivers keep up, never more than `window` messages ahead of
    the slowest-possible reading (received frames / N); rate: a fixed number per second."""
    ctl = Control(conn)
    from hugmood.models import Envelope
    from hugmood.settings import Settings
    from realtime.manager import RedisManager

    settings = Settings(
        database_url="postgresql://unused", redis_url=p["redis_url"], redis_prefix=p["prefix"]
    )
    manager = RedisManager(settings, write_only=True)
    room, n, window, slots = p["room"], p["n"], p["window"], p["slots"]
    pad = "x" * p["pad"]
    published = 0

    async def emit(phase: str) -> None:
        nonlocal published
        published += 1
        data = {"p": phase, "t": time.time(), "n": published, "text": pad}
        await manager.emit(FANOUT_EVENT, Envelope(at=datetime.now(UTC), data=data), room=room)

    ctl.send("ready", {})
    while (msg := await ctl.get())[0] != "stop":
        start = published
        if msg[0] == "saturate":
            until, base = msg[1], msg[2]
            while time.time() < until:
                done = (sum(counters[s] for s in slots) - base) / n
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


async def connectors_worker(p: dict, conn: Any, counters: Any, slot: int) -> None:
    """On `go`: open connections as fast as `concurrency` handshakes in flight allow, until the
    deadline or `cap`; hold them; report each connection's completion time and latency."""
    ctl = Control(conn)
    conns: list[wsclient.SioConnection] = []
    times, lats = array.array("d"), array.array("d")
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


WORKERS = {
    "receivers": receivers_worker,
    "senders": senders_worker,
    "publisher": publisher_worker,
    "connectors": connectors_worker,
}


class Worker:
    """A generator process and the orchestrator's end of its pipe."""

    ctx = mp.get_context("spawn")

    def __init__(self, kind: str, params: dict, counters: Any, slot: int, cores: Any) -> None:
        self.kind = kind
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(
            target=worker_main, args=(kind, params, child, counters, slot, cores), daemon=True
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


# --- servers, database, Redis --------------------------------------------------------------


class Server:
    """One web process, as production runs it: `python -m realtime --port N`."""

    def __init__(
        self, env: dict[str, str], cores: set[int] | None, log: Path, port: int = 0
    ) -> None:
        import socket

        if not port:
            with socket.socket() as sock:
                sock.bind((HOST, 0))
                port = sock.getsockname()[1]
        self.port = port
        self.cores = cores
        self.log = log
        self.log_start = log.stat().st_size if log.exists() else 0  # later scenarios append
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "realtime",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--graceful-secs",
                "3",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
        )
        self.wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f}s; see {self.log}")

    def log_lines(self) -> list[str]:
        """What this process has logged so far: at LOG_LEVEL=WARNING, only warnings, errors
        and anything written to stderr outside the logger (a traceback)."""
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return [line.decode(errors="replace").rstrip() for line in f if line.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class Bench:
    def __init__(self, admin_url: str, redis_url: str, plan: Plan, profile: bool) -> None:
        from hugmood.settings import Settings

        self.admin_url, self.redis_url, self.plan, self.profile = (
            admin_url,
            redis_url,
            plan,
            profile,
        )
        self.db_name = f"hugmood_bench_{secrets.token_hex(6)}"
        self.database_url = _with_database(admin_url, self.db_name)
        self.prefix = f"hugmood-bench-{secrets.token_hex(6)}"
        self.jwt_secret = secrets.token_urlsafe(48)
        self.tmp = Path(tempfile.mkdtemp(prefix="hugmood-bench-"))
        self.servers: list[Server] = []
        self.workers: list[Worker] = []
        self.db_created = False
        self.env = {
            **os.environ,
            **SERVER_ENV,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": self.prefix,
            "JWT_SECRET": self.jwt_secret,
            "PYTHONUNBUFFERED": "1",
        }
        self.settings = Settings.from_env(self.env)
        if profile:
            probe = self.tmp / "gcprobe"
            probe.mkdir()
            (probe / "sitecustomize.py").write_text(GC_PROBE)
            path = os.pathsep.join(filter(None, (str(probe), os.environ.get("PYTHONPATH"))))
            self.env |= {"PYTHONPATH": path, "BENCH_GC_STATS": str(self.tmp)}
        self.user_serial = 0

    # database and Redis

    def setup(self) -> None:
        async def create() -> None:
            import asyncpg

            admin = await asyncpg.connect(self.admin_url)
            try:
                await admin.execute(f'CREATE DATABASE "{self.db_name}"')
                self.db_created = True
            finally:
                await admin.close()
            conn = await asyncpg.connect(self.database_url)
            try:
                await conn.execute((ROOT / "schema.sql").read_text())
            finally:
                await conn.close()

        asyncio.run(create())

    def make_users(self, n: int) -> list[str]:
        """`n` users open to hugs from everyone, inserted directly; returns their ids."""
        start = self.user_serial
        self.user_serial += n

        async def insert() -> list[str]:
            import asyncpg

            conn = await asyncpg.connect(self.database_url)
            try:
                names = [f"bench{i}" for i in range(start, start + n)]
                rows = await conn.fetch(
                    "INSERT INTO users (username, email, password_hash) "
                    "SELECT u, u || '@bench.invalid', 'not-a-password-hash' "
                    "FROM unnest($1::text[]) AS u RETURNING id",
                    names,
                )
                ids = [row["id"] for row in rows]
                await conn.execute(
                    "INSERT INTO privacy_settings (user_id, allow_hugs_from) "
                    "SELECT unnest($1::uuid[]), 'everyone'",
                    ids,
                )
                return [str(i) for i in ids]
            finally:
                await conn.close()

        return asyncio.run(insert())

    def tokens(self, user_ids: list[str]) -> list[str]:
        from hugmood.tokens import issue_access_token

        return [
            issue_access_token(self.settings, uuid.UUID(u), uuid.uuid4(), "user", False)
            for u in user_ids
        ]

    def teardown(self) -> None:
        self.finish()

        async def clean() -> None:
            import asyncpg
            from redis.asyncio import Redis

            if self.db_created:
                admin = await asyncpg.connect(self.admin_url)
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                finally:
                    await admin.close()
            redis = Redis.from_url(self.redis_url)
            try:
                keys = [k async for k in redis.scan_iter(match=f"{self.prefix}:*", count=1000)]
                if keys:
                    await redis.delete(*keys)
            finally:
                await redis.aclose()

        asyncio.run(clean())
        shutil.rmtree(self.tmp, ignore_errors=True)

    # processes

    def server(self, cores: set[int] | None, port: int = 0) -> Server:
        server = Server(self.env, cores, self.tmp / f"server-{len(self.servers)}.log", port)
        self.servers.append(server)
        return server

    def worker(self, kind: str, params: dict, counters: Any, slot: int, cores: Any) -> Worker:
        worker = Worker(kind, {"host": HOST, **params}, counters, slot, cores)
        self.workers.append(worker)
        return worker

    def server_log(self, keep: int = 3) -> dict[str, Any]:
        """How many lines the running servers logged (see `Server.log_lines`), and the first
        `keep` of them: a clean run logs none."""
        lines = [line for s in self.servers for line in s.log_lines()]
        return {"lines": len(lines), "first": [line[:400] for line in lines[:keep]]}

    def finish(self) -> None:
        """Stop this scenario's workers and servers (the next one starts fresh)."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        for server in self.servers:
            server.stop()
        self.servers.clear()

    def window(
        self,
        counters: Any,
        slots: list[int],
        cpu: CpuWindow,
        seconds: float,
        profile: list[tuple[str, int]] | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Count `counters[slots]` over `seconds`, with CPU and (optionally) a py-spy profile."""
        profilers = []
        if profile and self.profile:
            profilers = [
                (label, Profiler(pid, seconds, self.tmp / f"{label}-{secrets.token_hex(3)}.txt"))
                for label, pid in profile
            ]
        gc0 = {label: gc_stats(self.tmp, pid) for label, pid in profile or []}
        c0, t0 = sum(counters[s] for s in slots), time.time()
        cpu.start()
        deadline = t0 + seconds
        while time.time() < deadline and not (stop_when and stop_when()):
            time.sleep(min(0.05, max(0.0, deadline - time.time())))
        c1, t1 = sum(counters[s] for s in slots), time.time()
        used = cpu.stop()
        result = {"t0": t0, "t1": t1, "count": c1 - c0, "rate": (c1 - c0) / (t1 - t0), "cpu": used}
        if profilers:
            result["profile"] = {label: p.summary() for label, p in profilers}
            for label, pid in profile or []:
                before, after = gc0.get(label), gc_stats(self.tmp, pid)
                if before and after:
                    result["profile"][label]["gc"] = {
                        "share_of_wall_pct": round(100 * (after[0] - before[0]) / (t1 - t0), 1),
                        "collections_gen0_1_2": [int(after[i] - before[i]) for i in (1, 2, 3)],
                        "collected_objects": int(after[4] - before[4]),
                    }
        return result


def wait_drained(counters: Any, slots: list[int], target: int, timeout: float = 30) -> int:
    """Wait until the counters reach `target` or stop moving for 3 s; returns the final sum."""
    deadline, last, still_since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        now = sum(counters[s] for s in slots)
        if now >= target:
            return now
        if now != last:
            last, still_since = now, time.time()
        elif time.time() - still_since > 3:
            return now
        time.sleep(0.05)
    return sum(counters[s] for s in slots)


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def row(
    scenario: str,
    measure: str,
    value: float,
    unit: str,
    window: dict | None = None,
    latency: dict | None = None,
    **details: Any,
) -> dict[str, Any]:
    cpu = (window or {}).get("cpu", {})
    return {
        "scenario": scenario,
        "measure": measure,
        "value": round(value, 1),
        "unit": unit,
        "p50_ms": (latency or {}).get("p50_ms"),
        "p99_ms": (latency or {}).get("p99_ms"),
        "latency_samples": (latency or {}).get("samples"),
        "server_cpu_pct": cpu.get("server"),
        "generator_cpu_pct": cpu.get("generator"),
        "pg_redis_cpu_pct": cpu.get("pg_redis"),
        "machine_cpu_pct": cpu.get("machine"),
        "unaccounted_cpu_pct": cpu.get("unaccounted"),
        "steal_cpu_pct": cpu.get("steal"),
        **({"server_cpu_pct_by_node": [cpu["node1"], cpu["node2"]]} if "node1" in cpu else {}),
        **details,
    }


# --- scenarios --------------------------------------------------------------------------------


def scenario_fanout(b: Bench, n: int) -> list[dict[str, Any]]:
    plan = b.plan
    server = b.server(SERVER_CORE)
    user = b.make_users(1)[0]
    token = b.tokens([user])[0]
    procs = plan.fanout_procs
    counters = Worker.ctx.RawArray("q", procs)
    every = max(1, n // 100)  # ~100 sampled connections decode and time every message
    receivers = [
        b.worker(
            "receivers",
            {
                "port": server.port,
                "tokens": [token] * len(share),
                "mode": "fanout",
                "sample_every": every,
                "concurrency": 100,
            },
            counters,
            slot,
            GENERATOR_CORES,
        )
        for slot, share in enumerate(split(list(range(n)), procs))
    ]
    infos = [r.expect("ready", 300) for r in receivers]
    connected = sum(i["connected"] for i in infos)
    if connected != n:
        raise RuntimeError(f"fan-out: only {connected}/{n} connections opened: {infos}")
    time.sleep(0.2)
    slots = list(range(procs))
    base = sum(counters[s] for s in slots)
    window_msgs = max(4, 20000 // n)
    publisher = b.worker(
        "publisher",
        {
            "redis_url": b.redis_url,
            "prefix": b.prefix,
            "room": f"user:{user}",
            "n": n,
            "window": window_msgs,
            "slots": slots,
            "pad": plan.fanout_payload,
        },
        counters,
        procs,
        GENERATOR_CORES,
    )
    publisher.expect("ready", 60)
    gen = [w.pid for w in b.workers]
    cpu = CpuWindow({"server": [server.pid], "generator": gen}, b.db_name)

    publisher.send("saturate", time.time() + plan.warmup + plan.duration + 0.5, base)
    time.sleep(plan.warmup)
    sat = b.window(counters, slots, cpu, plan.duration, profile=[(f"fanout-{n}", server.pid)])
    published = publisher.expect("done", plan.duration + 60)["published"]
    final = wait_drained(counters, slots, base + published * n)
    lost = base + published * n - final

    rate = plan.fanout_latency_load * sat["rate"] / n  # messages/s; below 1 for large N
    base = final
    publisher.send("rate", rate, time.time() + plan.duration)
    lat = b.window(counters, slots, cpu, plan.duration)
    published2 = publisher.expect("done", plan.duration + 60)["published"]
    final = wait_drained(counters, slots, base + published2 * n)
    lost += base + published2 * n - final
    samples: list[float] = []
    for r in receivers:
        r.send("report")
        rep = r.expect("report", 60)
        samples += array.array("d", rep["lats"]).tolist()
    b.finish()
    common = {"connections": n, "lost_frames": lost, "connect_secs": max(i["secs"] for i in infos)}
    rows = [
        row(
            "fanout",
            f"fan-out deliveries/s, N={n} (saturation)",
            sat["rate"],
            "deliveries/s",
            sat,
            None,
            messages_per_s=round(sat["rate"] / n, 1),
            in_flight_msgs=window_msgs,
            **common,
        ),
        row(
            "fanout",
            f"fan-out latency, N={n} at {rate * n:,.0f} deliveries/s",
            lat["rate"],
            "deliveries/s",
            lat,
            percentiles(samples),
            messages_per_s=round(rate, 2),
            **common,
        ),
    ]
    if "profile" in sat:
        rows[0]["profile"] = sat["profile"]
    return rows


def samples() -> tuple[array.array, array.array]:
    """Receive (or ack) times and their latencies, side by side."""
    return array.array("d"), array.array("d")


@dataclass
class PairsRun:
    """What `run_pairs` measured: its two windows and what the generator processes saw."""

    label: str  # which processes the senders and the recipients were on
    sat: dict[str, Any]  # the saturation window (see `Bench.window`)
    lat: dict[str, Any]  # the paced window
    paced_rate: float  # sends/s of all senders together in the paced window
    initial: int  # recipients' counted events once everyone was connected
    acked: int  # sends answered ok, warm-up and both windows
    received: int  # recipients' counted events after `initial`, once drained
    errors: dict[str, int]  # error acks by code
    skipped: int  # paced sends skipped with `in_flight` already outstanding
    receivers: list[dict[str, Any]]  # each recipient process's report
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


def run_pairs(
    b: Bench,
    name: str,
    nodes: int,
    senders: list[str],
    recipients: list[str],
    *,
    event: str,
    mode: str,
    count: str,
    in_flight: int,
    procs: int,
    latency_load: float,
    initial_events: int,
    who: tuple[str, str],
) -> PairsRun:
    """Sender i sends `event` (see `senders_worker`) for recipient i, `in_flight` outstanding
    per connection, senders on node 1 and recipients (receivers in `mode`) on the last node.
    Recipients connect first; once their counters reach `initial_events` (what connecting
    everyone sends them) the senders saturate for a warm-up and a window, then send at
    `latency_load` of the saturation rate for a window. The windows count the senders' ok acks
    (`count="acks"`) or the recipients' counted events (`count="deliveries"`). The caller calls
    `b.finish()` when it has checked what it wants to."""
    plan = b.plan
    if nodes == 1:
        a = b.server(SERVER_CORE)
        servers, gen_cores = [a], GENERATOR_CORES
    else:
        a, c = b.server(NODE_CORES[0]), b.server(NODE_CORES[1])
        servers, gen_cores = [a, c], None
    to_node = servers[-1]
    m = len(senders)
    sender_tokens, recipient_tokens = b.tokens(senders), b.tokens(recipients)
    counters = Worker.ctx.RawArray("q", 2 * procs)
    recv_slots, send_slots = list(range(procs)), list(range(procs, 2 * procs))
    recv = [
        b.worker(
            "receivers",
            {"port": to_node.port, "tokens": share, "mode": mode},
            counters,
            slot,
            gen_cores,
        )
        for slot, share in zip(recv_slots, split(recipient_tokens, procs), strict=True)
    ]
    for w in recv:
        if (info := w.expect("ready", 120))["failed"]:
            raise RuntimeError(f"{name}: recipient connections failed: {info}")
    pairs = list(zip(sender_tokens, recipients, strict=True))
    send = [
        b.worker(
            "senders",
            {"port": a.port, "pairs": share, "in_flight": in_flight, "event": event},
            counters,
            slot,
            gen_cores,
        )
        for slot, share in zip(send_slots, split(pairs, procs), strict=True)
    ]
    for w in send:
        if (info := w.expect("ready", 120))["failed"]:
            raise RuntimeError(f"{name}: sender connections failed: {info}")
    time.sleep(0.2)
    recv_base = wait_drained(counters, recv_slots, initial_events, timeout=10)
    label = "1 process" if nodes == 1 else f"2 processes, {who[0]} on node 1, {who[1]} on node 2"
    groups = {"server": [s.pid for s in servers], "generator": [w.pid for w in b.workers]}
    if nodes == 2:
        groups |= {"node1": [a.pid], "node2": [c.pid]}
    cpu = CpuWindow(groups, b.db_name)
    slots = send_slots if count == "acks" else recv_slots

    until = time.time() + plan.warmup + plan.duration
    for w in send:
        w.send("saturate", until)
    time.sleep(plan.warmup)
    profile = [(f"{name}-{nodes}p-node{i + 1}", s.pid) for i, s in enumerate(servers)]
    sat = b.window(counters, slots, cpu, plan.duration, profile=profile)
    for w in send:
        w.expect("done", plan.duration + 60)

    per_conn = max(0.5, latency_load * sat["rate"] / m)
    until = time.time() + plan.duration
    for w in send:
        w.send("rate", per_conn, until)
    lat = b.window(counters, slots, cpu, plan.duration)
    for w in send:
        w.expect("done", plan.duration + 60)

    reports = []
    for w in send:
        w.send("report")
        reports.append(w.expect("report", 60))
    acked = sum(r["ok"] for r in reports)
    received = wait_drained(counters, recv_slots, recv_base + acked, timeout=10) - recv_base
    run = PairsRun(
        label=label,
        sat=sat,
        lat=lat,
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
        w.send("report")
        rep = w.expect("report", 60)
        run.recv[0].frombytes(rep.pop("times"))
        run.recv[1].frombytes(rep.pop("lats"))
        run.receivers.append(rep)
    for r in reports:
        run.acks[0].frombytes(r["times"])
        run.acks[1].frombytes(r["lats"])
    return run


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
    rows = [
        row(
            "direct",
            f"hug:send acked/s, {run.label} (saturation)",
            run.sat["rate"],
            "hugs/s",
            run.sat,
            run.latency(run.sat),
            ack_latency=run.ack_latency(run.sat),
            **common,
        ),
        row(
            "direct",
            f"hug latency, {run.label} at {run.paced_rate:,.0f} hugs/s",
            run.lat["rate"],
            "hugs/s",
            run.lat,
            run.latency(run.lat),
            ack_latency=run.ack_latency(run.lat),
            **common,
        ),
    ]
    if "profile" in run.sat:
        rows[0]["profile"] = run.sat["profile"]
    return rows


def scenario_presence(b: Bench, nodes: int) -> list[dict[str, Any]]:
    """Ephemeral direct messages: M movers, each followed by its own watcher (and by no one
    else), call `presence:set` alternating away / online, every call a change announced as one
    `presence.changed` to exactly one watcher connection (the mover's `show_activity_to` is
    everyone). The windows count those frames as the watchers receive them."""
    plan = b.plan
    m = plan.presence_pairs
    users = b.make_users(2 * m)
    movers, watchers = users[:m], users[m:]
    follow(b, watchers, movers)
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
    rows = [
        row(
            "presence",
            f"presence.changed delivered/s, {run.label} (saturation)",
            run.sat["rate"],
            "deliveries/s",
            run.sat,
            run.latency(run.sat),
            ack_latency=run.ack_latency(run.sat),
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
        row(
            "presence",
            f"presence.changed latency, {run.label} at {run.paced_rate:,.0f} calls/s",
            run.lat["rate"],
            "deliveries/s",
            run.lat,
            run.latency(run.lat),
            ack_latency=run.ack_latency(run.lat),
            acked_per_s=round(run.ack_rate(run.lat), 1),
            **common,
        ),
    ]
    if "profile" in run.sat:
        rows[0]["profile"] = run.sat["profile"]
    return rows


def announced_presence(b: Bench, users: list[str]) -> dict[str, str | None]:
    """The status last announced for each of `users`, as the servers' presence script keeps it."""

    async def read() -> list[bytes | None]:
        from redis.asyncio import Redis

        from hugmood.keys import Keys

        keys = Keys(b.prefix)
        redis = Redis.from_url(b.redis_url)
        try:
            return await redis.mget([keys.presence_announced(u) for u in users])
        finally:
            await redis.aclose()

    values = asyncio.run(read())
    return {u: v.decode() if v else None for u, v in zip(users, values, strict=True)}


def follow(b: Bench, followers: list[str], owners: list[str]) -> None:
    """followers[i] follows owners[i] (rows inserted directly); every owner shows its moods and
    presence to everyone, so each follower sees them."""

    async def insert() -> None:
        import asyncpg

        conn = await asyncpg.connect(b.database_url)
        try:
            await conn.execute(
                "INSERT INTO follows (follower_id, following_id) "
                "SELECT unnest($1::uuid[]), unnest($2::uuid[])",
                followers,
                owners,
            )
            await conn.execute(
                "UPDATE privacy_settings SET show_mood_to = 'everyone', "
                "show_activity_to = 'everyone' WHERE user_id = ANY($1::uuid[])",
                list(set(owners)),
            )
        finally:
            await conn.close()

    asyncio.run(insert())


def scenario_mood(b: Bench) -> list[dict[str, Any]]:
    """One user's mood updates reaching N followers connected to two processes: time from the
    `mood:update` call to the last follower's frame, and the servers' CPU per update."""
    plan = b.plan
    n = plan.mood_followers
    nodes = [b.server(NODE_CORES[0]), b.server(NODE_CORES[1])]
    owner, followers = b.make_users(1)[0], b.make_users(n)
    follow(b, followers, [owner] * n)
    counters = Worker.ctx.RawArray("q", 2)
    receivers = [
        b.worker(
            "receivers",
            {"port": node.port, "tokens": b.tokens(share), "mode": "idle", "concurrency": 100},
            counters,
            slot,
            GENERATOR_CORES,
        )
        for slot, (node, share) in enumerate(zip(nodes, split(followers, 2), strict=True))
    ]
    infos = [r.expect("ready", 300) for r in receivers]
    if sum(i["connected"] for i in infos) != n:
        raise RuntimeError(f"mood: only {infos} connected")
    cpu = CpuWindow(
        {"server": [s.pid for s in nodes], "generator": [w.pid for w in b.workers]}, b.db_name
    )
    by_node = [CpuWindow({"server": [s.pid], "generator": []}, b.db_name) for s in nodes]

    async def publish() -> list[float]:
        import socketio

        owner_sio = socketio.AsyncClient(reconnection=False)
        await owner_sio.connect(
            f"http://{HOST}:{nodes[0].port}",
            auth={"token": b.tokens([owner])[0]},
            transports=["websocket"],
        )
        await asyncio.sleep(1)  # the owner's own presence.changed reaches everyone first
        latencies = []
        for _ in range(plan.mood_updates):
            target = sum(counters) + n
            t0 = time.perf_counter()
            answer = await owner_sio.call(
                "mood:update", {"mood": "calm", "intensity": 0.5, "valence": 0.6, "arousal": 0.3}
            )
            assert answer["ok"], answer
            # The counters live in shared memory, written by the receiver processes: poll.
            while sum(counters) < target and time.perf_counter() - t0 < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)  # one at a time: the cost of a single update
        await owner_sio.disconnect()
        return latencies

    for window in (cpu, *by_node):
        window.start()
    latencies = asyncio.run(publish())
    used = cpu.stop()
    per_node = [w.stop()["server"] for w in by_node]
    elapsed_cpu_secs = used["server"] / 100 * (time.time() - cpu.t0)
    b.finish()
    return [
        row(
            "mood",
            f"one mood update to {n:,} followers over 2 processes (latency: call to last frame)",
            1000 * elapsed_cpu_secs / plan.mood_updates,
            "server CPU ms/update",
            {"cpu": used},
            percentiles(latencies),
            updates=plan.mood_updates,
            server_cpu_pct_by_node=per_node,
        )
    ]


def scenario_memory(b: Bench) -> list[dict[str, Any]]:
    plan = b.plan
    server = b.server(SERVER_CORE)
    steps = list(plan.memory_steps)
    users = b.make_users(steps[-1])
    tokens = b.tokens(users)
    time.sleep(2)
    rss0 = vm_rss_kb(server.pid)
    counters = Worker.ctx.RawArray("q", len(steps))
    rows = [row("memory", "server RSS, 0 connections", rss0 / 1024, "MB", rss_kb=rss0)]
    have = 0
    for slot, target in enumerate(steps):
        w = b.worker(
            "receivers",
            {
                "port": server.port,
                "tokens": tokens[have:target],
                "mode": "idle",
                "concurrency": 100,
            },
            counters,
            slot,
            GENERATOR_CORES,
        )
        info = w.expect("ready", 300)
        if info["failed"]:
            raise RuntimeError(f"memory: connections failed: {info}")
        have = target
        time.sleep(plan.memory_settle)  # let allocations settle
        rss = vm_rss_kb(server.pid)
        rows.append(
            row(
                "memory",
                f"server RSS, {target:,} idle connections",
                rss / 1024,
                "MB",
                rss_kb=rss,
                kb_per_connection=round((rss - rss0) / target, 1),
                connections=target,
            )
        )
        rows.append(
            row("memory", f"KB per idle connection at {target:,}", (rss - rss0) / target, "KB")
        )
    b.finish()
    return rows


def scenario_connect(b: Bench) -> list[dict[str, Any]]:
    plan = b.plan
    server = b.server(SERVER_CORE)
    procs = plan.connect_procs
    users = b.make_users(min(plan.connect_cap, 5000))
    tokens = b.tokens(users)
    counters = Worker.ctx.RawArray("q", procs)
    cap = plan.connect_cap // procs
    workers = [
        b.worker(
            "connectors",
            {
                "port": server.port,
                "tokens": share,
                "cap": cap,
                "concurrency": plan.connect_concurrency,
            },
            counters,
            slot,
            GENERATOR_CORES,
        )
        for slot, share in enumerate(split(tokens, procs))
    ]
    for w in workers:
        w.expect("ready", 60)
    cpu = CpuWindow({"server": [server.pid], "generator": [w.pid for w in workers]}, b.db_name)
    warm = min(1.0, plan.warmup)
    until = time.time() + warm + plan.connect_duration
    for w in workers:
        w.send("go", until)
    time.sleep(warm)
    slots = list(range(procs))
    win = b.window(
        counters,
        slots,
        cpu,
        plan.connect_duration,
        profile=[("connect", server.pid)],
        stop_when=lambda: sum(counters[s] for s in slots) >= cap * procs,
    )
    t_all, l_all = array.array("d"), array.array("d")
    failures: Counter[str] = Counter()
    for w in workers:
        rep = w.expect("done", 120)
        t_all.frombytes(rep["times"])
        l_all.frombytes(rep["lats"])
        failures.update(rep["failures"])
    b.finish()
    return [
        row(
            "connect",
            f"authenticated connects/s ({procs} client processes, "
            f"{procs * plan.connect_concurrency} handshakes in flight)",
            win["rate"],
            "connections/s",
            win,
            percentiles(in_window(t_all, l_all, win["t0"], win["t1"])),
            connections_total=len(t_all),
            failures=dict(failures),
            **({"profile": win["profile"]} if "profile" in win else {}),
        )
    ]


# --- main ----------------------------------------------------------------------------------------


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cores_used": CORES,
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = [
        "measure",
        "value",
        "p50 ms",
        "p99 ms",
        "server CPU%",
        "gen CPU%",
        "PG+Redis CPU%",
        "other CPU%",
    ]
    lines = [
        [
            r["measure"],
            f"{fmt(r['value'])} {r['unit']}",
            fmt(r["p50_ms"], 2),
            fmt(r["p99_ms"], 2),
            fmt(r["server_cpu_pct"]),
            fmt(r["generator_cpu_pct"]),
            fmt(r["pg_redis_cpu_pct"]),
            fmt(r["unaccounted_cpu_pct"]),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=True)]
    print()
    for i, line in enumerate([header, *lines]):
        print(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in rows:
        for label, prof in (r.get("profile") or {}).items():
            gc = prof.get("gc", {})
            print(
                f"\nprofile {label} ({prof.get('samples', 0)} samples; cyclic GC "
                f"{gc.get('share_of_wall_pct', '?')}% of wall time), top own time:"
            )
            for name, pct in prof.get("top_own", [])[:12]:
                print(f"  {pct:5.1f}%  {name}")


def serve(admin_url: str, redis_url: str, port: int) -> int:
    bench = Bench(admin_url, redis_url, FULL, profile=False)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with `&`
    try:
        bench.setup()
        server = bench.server(None, port)
        print(
            f"bench: serving http://{HOST}:{server.port} (database {bench.db_name}, "
            f"REDIS_PREFIX {bench.prefix}, log {server.log}); Ctrl-C stops and cleans up",
            flush=True,
        )
        while server.proc.poll() is None:
            time.sleep(0.5)
        print(f"bench: server exited with {server.proc.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        bench.teardown()


def run_unit(
    label: str,
    run: Callable[[], list[dict[str, Any]]],
    attempts: int,
    max_foreign: float,
    quiet_secs: int,
) -> list[dict[str, Any]]:
    """Run one scenario; on a shared machine, run it again (up to `attempts` times) while other
    processes took more than `max_foreign` % of a core during its windows; keep the cleanest."""
    best: list[dict[str, Any]] | None = None
    best_foreign = float("inf")
    for attempt in range(1, attempts + 1):
        background = wait_quiet(quiet_secs)
        print(
            f"bench: {label} (attempt {attempt}, background {background:.0f}% of a core) ...",
            file=sys.stderr,
            flush=True,
        )
        t = time.time()
        rows = run()
        foreign = max(
            (
                r["unaccounted_cpu_pct"] or 0.0
                for r in rows
                if r.get("unaccounted_cpu_pct") is not None
            ),
            default=0.0,
        )
        for r in rows:
            r["attempt"], r["background_cpu_pct_before"] = attempt, background
        print(
            f"bench: {label} took {time.time() - t:.0f}s; unaccounted CPU up to "
            f"{foreign:.0f}% of a core",
            file=sys.stderr,
            flush=True,
        )
        if foreign < best_foreign:
            best, best_foreign = rows, foreign
        if foreign <= max_foreign:
            break
    assert best is not None
    return best


def wait_quiet(quiet_secs: int = 2, limit_pct: float = 15.0, patience: float = 180.0) -> float:
    """Wait (up to `patience` s) until other processes use under `limit_pct` of a core for
    `quiet_secs` seconds in a row: on a shared machine, someone's test run would halve our
    figures. Returns the last background level; warns if the machine never got quiet."""
    deadline, quiet, level = time.time() + patience, 0, 0.0
    while time.time() < deadline:
        before = machine_jiffies()
        time.sleep(1)
        after = machine_jiffies()
        total = after[1] - before[1]
        level = 100 * len(CORES) * (after[0] - before[0]) / total if total else 0.0
        quiet = quiet + 1 if level < limit_pct else 0
        if quiet >= quiet_secs:
            return round(level, 1)
    print(
        f"bench: WARNING: the machine is busy ({level:.0f}% of a core used by other "
        "processes); figures will be low",
        file=sys.stderr,
        flush=True,
    )
    return round(level, 1)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def main() -> int:
    parser = argparse.ArgumentParser(description="HugMood realtime benchmark")
    parser.add_argument("--quick", action="store_true", help="smoke run: small N, short windows")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable); default: all",
    )
    parser.add_argument("--duration", type=float, help="seconds per measurement window")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the servers during the fanout/direct/presence saturation and connect windows",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="like --profile, with C frames (py-spy --native; slows the server while sampling)",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default loadtests/results/...)")
    parser.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="runs of a scenario while other processes disturb it (default 3)",
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=30.0,
        help="%% of a core of unaccounted CPU (other processes, softirq) during "
        "a window above which the scenario is run again (default 30)",
    )
    parser.add_argument(
        "--serve",
        type=int,
        metavar="PORT",
        help="measure nothing: run one web process on PORT with a fresh bench "
        "database and load-test limits (for Locust) until Ctrl-C",
    )
    args = parser.parse_args()

    admin_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not admin_url or not redis_url:
        print(
            "bench: DATABASE_URL and REDIS_URL must be set, e.g.\n"
            "  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres "
            "REDIS_URL=redis://127.0.0.1:6379/0 make bench\n"
            "or, with the embedded development servers:\n"
            "  export $(.venv/bin/python scripts/dev.py services) && make bench",
            file=sys.stderr,
        )
        return 2
    for url in (admin_url, redis_url):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            print(f"bench: refusing a non-loopback server: {url}", file=sys.stderr)
            return 2
    if args.profile and not py_spy():
        print("bench: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    if args.serve:
        return serve(admin_url, redis_url, args.serve)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out = args.output or HERE / "results" / f"{stamp}.json"
    if args.profile or args.native:
        global PROFILE_DIR, PROFILE_NATIVE
        PROFILE_DIR = out.with_name(out.stem + "-profiles")
        PROFILE_NATIVE = args.native
        args.profile = True
    plan = QUICK if args.quick else FULL
    if args.duration:
        plan = replace(plan, duration=args.duration, connect_duration=args.duration)
    chosen = args.scenario or list(SCENARIOS)

    os.sched_setaffinity(0, GENERATOR_CORES)  # the orchestrator mostly sleeps; keep it off core 0
    bench = Bench(admin_url, redis_url, plan, args.profile)
    commit = git("rev-parse", "HEAD")  # what the servers run; others may commit meanwhile
    dirty = git("status", "--porcelain", "--untracked-files=no").splitlines()
    rows: list[dict[str, Any]] = []
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    units: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = []
    for name in chosen:
        if name == "fanout":
            units += [
                (f"fanout N={n}", lambda n=n: scenario_fanout(bench, n)) for n in plan.fanout_sizes
            ]
        elif name == "direct":
            units += [(f"direct {k}p", lambda k=k: scenario_direct(bench, k)) for k in (1, 2)]
        elif name == "presence":
            units += [(f"presence {k}p", lambda k=k: scenario_presence(bench, k)) for k in (1, 2)]
        elif name == "mood":
            units.append(("mood", lambda: scenario_mood(bench)))
        elif name == "memory":
            units.append(("memory", lambda: scenario_memory(bench)))
        elif name == "connect":
            units.append(("connect", lambda: scenario_connect(bench)))
    try:
        bench.setup()
        for label, run in units:
            rows += run_unit(label, run, args.attempts, args.max_foreign, 1 if args.quick else 2)
    finally:
        bench.teardown()

    print_table(rows)
    result = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_commit": commit,
        "git_dirty": dirty,
        "git_commit_at_end": git("rev-parse", "HEAD"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "plan": asdict(plan),
        "server_env": SERVER_ENV,
        "pinning": {
            "server": sorted(SERVER_CORE),
            "generator": sorted(GENERATOR_CORES),
            "two_process_nodes": [sorted(c) for c in NODE_CORES],
            "two_process_generator": "unpinned",
        },
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
