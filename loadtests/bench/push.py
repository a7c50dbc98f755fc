"""Push: what one worker process sustains against the local fake providers (APNs over HTTP/2 +
TLS, FCM + OAuth; `tests/notify/fakes.py`), both platforms, with the in-flight cap, and the
delay from an event's commit to the fake receiving its push.

Throughput: `jobs` events are committed through the real hot path (`inbox.append`, which writes
the push intents), for offline users with one device each (half iOS, half Android), before the
worker starts; the window runs from the first request a fake receives to the last. Latency:
then events are committed one at a time at `LATENCY_RATE`/s while the worker runs, with
`PUSH_GRACE_SECS=0`, so the delay is relay poll + arq poll + the job + the provider call.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from hugmood.delivery import inbox
from tests.notify.fakes import FakeApns, FakeFcm

from .harness import Bench
from .measure import CpuWindow, percentiles
from .profiling import Profiler
from .report import row

ROOT = Path(__file__).resolve().parents[2]
EVENTS_PER_USER = 10
LATENCY_RATE = 50  # events/s in the latency phase
LATENCY_EVENTS = 150


def _token(user: str, ios: bool) -> str:
    return uuid.UUID(user).hex * 2 if ios else f"fcm:{user}"


async def _commit(conn: asyncpg.Connection, entries: list[tuple[uuid.UUID, str, Any]]) -> list:
    async with conn.transaction():
        return await inbox.append(conn, entries)


async def _seed(b: Bench, users: list[str], per_user: int) -> None:
    conn = await asyncpg.connect(b.database_url)
    try:
        await conn.executemany(
            "INSERT INTO devices (user_id, platform, token) VALUES ($1, $2, $3)",
            [
                (uuid.UUID(u), "apns" if i % 2 == 0 else "fcm", _token(u, i % 2 == 0))
                for i, u in enumerate(users)
            ],
        )
        sender = uuid.UUID(users[0])
        entries = [
            (uuid.UUID(u), "hug.received", {"id": str(uuid.uuid4()), "sender_id": str(sender)})
            for _ in range(per_user)
            for u in users
        ]
        for start in range(0, len(entries), 500):  # hug-send batches are at most 500
            await _commit(conn, entries[start : start + 500])
    finally:
        await conn.close()


async def _latency_phase(b: Bench, users: list[str]) -> dict[tuple[str, int], float]:
    """Commit events one at a time; (user, seq) -> commit time."""
    conn = await asyncpg.connect(b.database_url)
    committed: dict[tuple[str, int], float] = {}
    try:
        for i in range(LATENCY_EVENTS):
            user = users[i % len(users)]
            data = {"id": str(uuid.uuid4()), "sender_id": users[0]}
            [delivery] = await _commit(conn, [(uuid.UUID(user), "hug.received", data)])
            committed[(user, delivery.event.seq)] = time.time()
            await asyncio.sleep(1 / LATENCY_RATE)
    finally:
        await conn.close()
    return committed


def _receipts(apns: FakeApns, fcm: FakeFcm, by_token: dict[str, str]) -> dict:
    got = {}
    for r in apns.received:
        got[(by_token[r.path.rsplit("/", 1)[-1]], int(r.body["seq"]))] = r.at
    for r in fcm.sends():
        message = r.body["message"]
        got[(by_token[message["token"]], int(message["data"]["seq"]))] = r.at
    return got


def scenario_push(b: Bench) -> list[dict[str, Any]]:
    jobs = 2000 if b.plan.duration < 5 else 6000
    directory = b.tmp / "push"
    directory.mkdir(exist_ok=True)
    apns, fcm = FakeApns(directory), FakeFcm(directory)
    apns.start()
    fcm.start()
    users = b.make_users(jobs // EVENTS_PER_USER)
    by_token = {_token(u, i % 2 == 0): u for i, u in enumerate(users)}
    asyncio.run(_seed(b, users, EVENTS_PER_USER))
    env = {
        **os.environ,
        **b.env,
        **apns.env(),
        **fcm.env(),
        "PUSH_GRACE_SECS": "0",
        "OUTBOX_POLL_SECS": "0.05",
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env)
    profiler = None
    try:
        cpu = CpuWindow({"server": [worker.pid], "generator": [os.getpid()]}, b.db_name)
        cpu.start()
        deadline = time.time() + 180
        while len(apns.received) + len(fcm.sends()) < jobs and time.time() < deadline:
            if profiler is None and b.profile and apns.received:  # from the first push on
                profiler = Profiler(worker.pid, 10, b.tmp / "push-worker.txt", b.profile)
            time.sleep(0.05)
        window = {"cpu": cpu.stop()}
        times = [r.at for r in apns.received] + [r.at for r in fcm.sends()]
        rate = len(times) / max(max(times) - min(times), 1e-6)
        apns.reset()
        fcm.reset()
        committed = asyncio.run(_latency_phase(b, users))
        deadline = time.time() + 30
        while len(_receipts(apns, fcm, by_token)) < len(committed) and time.time() < deadline:
            time.sleep(0.05)
        got = _receipts(apns, fcm, by_token)
        delays = [got[key] - at for key, at in committed.items() if key in got]
    finally:
        worker.terminate()
        worker.wait(15)
        apns.stop()
        fcm.stop()
    return [
        row(
            "push",
            "pushes/s, 1 worker process, APNs + FCM fakes (saturation)",
            rate,
            "pushes/s",
            window,
            pushes=len(times),
            jobs=jobs,
            **({"profile": {"worker": profiler.summary()}} if profiler else {}),
        ),
        row(
            "push",
            f"commit -> fake provider, {LATENCY_RATE} events/s, grace 0",
            len(delays),
            "pushes",
            None,
            percentiles(delays),
        ),
    ]
