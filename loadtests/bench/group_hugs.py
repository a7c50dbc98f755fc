"""Group hug benchmark: start skew across simulated phones, and pulses under flat-out squeezes.

    python -m loadtests.bench.group_hugs [--skew-participants 200] [--pulse-participants 1000]

Needs `DATABASE_URL` (a server where it may create and drop a scratch database) and `REDIS_URL`;
starts two web processes and one worker on loopback, exactly as production starts them.

- **Start skew**: participants split over the two processes, each behind a simulated link
  (`hugmood.group_hugs.clock.SimulatedLink`: clock offset within ±5 s, base one-way delay
  10-150 ms the same both ways, independent jitter each way, optionally a fixed asymmetry)
  applied around real `time:sync` calls. Each samples the clock 32 times, estimates its offset
  with the reference estimator, and on the real `group_hug.started` computes its local start;
  reported: p50/p99/max of |local start - true start|, per jitter / asymmetry variant.
- **Pulses**: participants over the two processes squeeze as fast as their connection allows
  for `--squeeze-secs`; an observer on each process records the pulses: per second, delivery
  after the end of their slot, and the counted squeezes; plus the servers' CPU seconds per
  second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import psutil
import socketio
from redis.asyncio import Redis

from hugmood.group_hugs.clock import Sample, SimulatedLink, estimate
from loadtests.bench.servers import ROOT, SERVER_ENV, Server

SAMPLES = 32
# (jitter, asymmetry) of the skew runs, seconds: the network, more jitter, a fixed
# 10 ms asymmetry (which no clock-sync method can see).
VARIANTS = ((0.05, 0.0), (0.1, 0.0), (0.2, 0.0), (0.05, 0.01))
SAMPLE_GAP_SECS = 0.05
BATCH = 25  # connections opened at once


class Phone:
    """One participant: a real connection, a simulated clock and network path."""

    def __init__(self, user_id: str, token: str, url: str, link: SimulatedLink) -> None:
        self.user_id, self.token, self.url, self.link = user_id, token, url, link
        self.sio = socketio.AsyncClient(reconnection=False)
        self.started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pulses: list[tuple[float, dict[str, Any]]] = []

    async def _event(self, event: str, payload: Any = None) -> None:
        if event == "group_hug.started" and not self.started.done():
            self.started.set_result(payload["data"])
        elif event == "group_hug.pulse":
            self.pulses.append((time.time(), payload["data"]))

    async def connect(self, attempts: int = 5) -> None:
        """Connect, retrying as a phone does when the server answers `unavailable`."""
        for attempt in range(attempts):
            self.sio = socketio.AsyncClient(reconnection=False)
            self.sio.on("*", self._event)
            try:
                await self.sio.connect(
                    self.url, auth={"token": self.token}, transports=["websocket"]
                )
                return
            except socketio.exceptions.ConnectionError as exc:
                if attempt == attempts - 1:
                    raise
                print(f"connect failed ({exc}); retrying", file=sys.stderr)
                await asyncio.sleep(0.5 * 2**attempt)

    def local_ms(self) -> float:
        return (time.time() - self.link.offset) * 1000

    async def offset_ms(self, rng: random.Random) -> float:
        """The estimated server - local offset from `SAMPLES` real `time:sync` calls, each
        delayed by the simulated link both ways."""
        samples = []
        for _ in range(SAMPLES):
            t0 = self.local_ms()
            await asyncio.sleep(
                self.link.base + self.link.asymmetry + rng.uniform(0, self.link.jitter)
            )
            answer = await self.sio.call("time:sync", {"t0": t0}, timeout=10)
            await asyncio.sleep(self.link.base + rng.uniform(0, self.link.jitter))
            samples.append(Sample(t0, answer["time"]["t1"], answer["time"]["t2"], self.local_ms()))
            await asyncio.sleep(SAMPLE_GAP_SECS)
        return estimate(samples)

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.sio.call(event, data, timeout=30)


def quantiles(values: list[float]) -> dict[str, float] | None:
    if len(values) < 2:
        return None
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": round(q[49], 3), "p99": round(q[98], 3), "max": round(ordered[-1], 3)}


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.admin_url = os.environ["DATABASE_URL"]
        self.name = f"hugmood_bench_gh_{secrets.token_hex(4)}"
        self.database_url = self.admin_url.rsplit("/", 1)[0] + f"/{self.name}"
        self.secret = secrets.token_urlsafe(48)
        self.env = {
            **os.environ,
            **SERVER_ENV,
            "DATABASE_URL": self.database_url,
            "REDIS_PREFIX": f"bench-gh-{secrets.token_hex(4)}",
            "JWT_SECRET": self.secret,
            # Small pools: the database server may be shared (three processes, 24 at most).
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "8",
        }
        self.workdir = workdir
        self.servers: list[Server] = []
        self.worker: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        admin = await asyncpg.connect(self.admin_url)
        await admin.execute(f'CREATE DATABASE "{self.name}"')
        await admin.close()
        conn = await asyncpg.connect(self.database_url)
        await conn.execute((ROOT / "schema.sql").read_text())
        await conn.close()
        await asyncio.to_thread(self._launch)

    def _launch(self) -> None:
        log = self.workdir / "servers.log"
        self.servers = [Server(self.env, None, log) for _ in range(2)]
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "workers"], cwd=ROOT, env=self.env, stdout=log.open("ab")
        )

    def _halt(self) -> None:
        for server in self.servers:
            server.stop()
        if self.worker is not None:
            self.worker.terminate()
            self.worker.wait(20)

    async def stop(self) -> None:
        """Stop the processes, drop the scratch database and every key of the run's prefix."""
        await asyncio.to_thread(self._halt)
        redis = Redis.from_url(os.environ["REDIS_URL"])
        keys = [k async for k in redis.scan_iter(match=f"{self.env['REDIS_PREFIX']}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        admin = await asyncpg.connect(self.admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        await admin.close()

    async def phones(self, links: list[SimulatedLink]) -> list[Phone]:
        """One account, session and connection per link, alternating between the processes."""
        conn = await asyncpg.connect(self.database_url)
        rows = await conn.fetch(
            "INSERT INTO users (username, is_anonymous) "
            "SELECT 'gh' || left(md5(random()::text), 20), true FROM generate_series(1, $1) "
            "RETURNING id",
            len(links),
        )
        ids = [row["id"] for row in rows]
        await conn.execute(
            "INSERT INTO privacy_settings (user_id, allow_hugs_from) "
            "SELECT unnest($1::uuid[]), 'everyone'",
            ids,
        )
        sessions = [uuid.uuid4() for _ in ids]
        await conn.execute(
            "INSERT INTO sessions (id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])",
            sessions,
            ids,
        )
        await conn.close()
        exp = int(time.time()) + 3600
        phones = []
        for i, (user_id, session_id, link) in enumerate(zip(ids, sessions, links, strict=True)):
            claims = {"iss": "hugmood", "sub": str(user_id), "sid": str(session_id), "exp": exp}
            token = jwt.encode(claims | {"iat": int(time.time())}, self.secret, "HS256")
            url = f"http://127.0.0.1:{self.servers[i % 2].port}"
            phones.append(Phone(str(user_id), token, url, link))
        await connect_all(phones)
        return phones


async def connect_all(phones: list[Phone]) -> None:
    for start in range(0, len(phones), BATCH):
        await asyncio.gather(*(p.connect() for p in phones[start : start + BATCH]))


async def group_hug(phones: list[Phone], offline: bool = False, **fields: Any) -> str:
    """A group hug of all `phones` (the first creates it), every other one joined; `offline`:
    each disconnects right after joining (a large group's joins are n²/2 `joined` events,
    more than one client process can read), to be seated in the room when it reconnects."""
    host, *guests = phones
    created = await host.call(
        "group_hug:create",
        {"name": "bench", "invitees": [p.user_id for p in guests[:500]]} | fields,
    )
    group_id = created["group_hug"]["id"]
    for start in range(500, len(guests), 500):
        chunk = [p.user_id for p in guests[start : start + 500]]
        await host.call("group_hug:invite", {"group_hug_id": group_id, "invitees": chunk})
    for start in range(0, len(guests), BATCH):
        batch = guests[start : start + BATCH]
        await asyncio.gather(*(p.call("group_hug:join", {"group_hug_id": group_id}) for p in batch))
        if offline:
            await asyncio.gather(*(p.sio.disconnect() for p in batch))
    return group_id


async def skew(stack: Stack, count: int, jitter: float, asymmetry: float, seed: int) -> dict:
    rng = random.Random(seed)
    links = [
        SimulatedLink(rng.uniform(-5, 5), rng.uniform(0.010, 0.150), jitter, asymmetry)
        for _ in range(count)
    ]
    phones = await stack.phones(links)
    try:
        starts = datetime.now(UTC) + timedelta(seconds=SAMPLES * 0.5 + 10)
        await group_hug(phones, scheduled_for=starts.isoformat(), min_participants=2)
        offsets = await asyncio.gather(
            *(p.offset_ms(random.Random(seed + i)) for i, p in enumerate(phones))
        )
        errors = []
        for phone, offset in zip(phones, offsets, strict=True):
            started = await asyncio.wait_for(phone.started, 60)
            starts_at = datetime.fromisoformat(started["starts_at"]).timestamp() * 1000
            local_start = starts_at - offset  # on the phone's clock
            errors.append(abs(local_start + phone.link.offset * 1000 - starts_at))
        return {
            "participants": count,
            "jitter_ms": jitter * 1000,
            "asymmetry_ms": asymmetry * 1000,
            "start_error_ms": quantiles(errors),
        }
    finally:
        await asyncio.gather(*(p.sio.disconnect() for p in phones))


async def _squeeze_flat_out(
    phones: list[tuple[str, str, str]], group_id: str, began: float, secs: float
) -> dict[str, int]:
    """In a load process: connect these (user, token, url), then from `began` squeeze as fast
    as each connection's answers allow for `secs`; the answers by outcome."""
    connected = [Phone(user, token, url, SimulatedLink(0, 0, 0)) for user, token, url in phones]
    await connect_all(connected)  # seated in the group's room at connect
    await asyncio.sleep(max(0.0, began - time.time()))
    answers: dict[str, int] = {}

    async def squeeze(phone: Phone) -> None:
        while time.time() < began + secs:
            answer = await phone.call(
                "group_hug:squeeze", {"group_hug_id": group_id, "intensity": random.random()}
            )
            outcome = "ok" if answer["ok"] else answer["error"]["code"]
            answers[outcome] = answers.get(outcome, 0) + 1

    await asyncio.gather(*(squeeze(p) for p in connected))
    await asyncio.gather(*(p.sio.disconnect() for p in connected))
    return answers


def _load_process(args: tuple[list[tuple[str, str, str]], str, float, float]) -> dict[str, int]:
    return asyncio.run(_squeeze_flat_out(*args))


async def pulses(stack: Stack, count: int, squeeze_secs: float, procs: int) -> dict:
    """`count` participants squeezing from `procs` load processes; one observer per server."""
    phones = await stack.phones([SimulatedLink(0, 0, 0) for _ in range(count)])
    observers = phones[:2]  # the host on process A, one guest on process B
    try:
        group_id = await group_hug(
            phones, offline=True, duration_s=int(squeeze_secs) + 60, min_participants=count
        )
        await observers[1].connect()
        began = time.time() + 5 + count / 100  # the load processes connect meanwhile
        squeezers = [(p.user_id, p.token, p.url) for p in phones[2:]]
        jobs = [(squeezers[k::procs], group_id, began, squeeze_secs) for k in range(procs)]
        servers = [psutil.Process(s.pid) for s in stack.servers]
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
            running = [loop.run_in_executor(pool, _load_process, job) for job in jobs]
            await asyncio.sleep(max(0.0, began - time.time()))
            cpu_before = sum(sum(p.cpu_times()[:2]) for p in servers)
            await asyncio.sleep(squeeze_secs)
            cpu = sum(sum(p.cpu_times()[:2]) for p in servers) - cpu_before
            answers: dict[str, int] = {}
            for found in await asyncio.gather(*running):
                for outcome, n in found.items():
                    answers[outcome] = answers.get(outcome, 0) + n
        await asyncio.sleep(1)
        seen = {}
        for name, phone in zip(("process A", "process B"), observers, strict=True):
            window = [p for at, p in phone.pulses if began <= at <= began + squeeze_secs]
            late = [
                (at - datetime.fromisoformat(p["at"]).timestamp()) * 1000 for at, p in phone.pulses
            ]
            seen[name] = {
                "pulses_per_s": round(len(window) / squeeze_secs, 2),
                "delivery_after_slot_ms": quantiles(late),
                "squeezes_counted": sum(p["count"] for _, p in phone.pulses),
            }
        return {
            "participants": count,
            "load_processes": procs,
            "squeeze_secs": squeeze_secs,
            "squeeze_answers": answers,
            "squeezes_accepted_per_s": round(answers.get("ok", 0) / squeeze_secs),
            "server_cpu_s_per_s": round(cpu / squeeze_secs, 3),
            "observers": seen,
        }
    finally:
        await asyncio.gather(*(p.sio.disconnect() for p in observers))


async def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir))
        await stack.start()
        try:
            report: dict[str, Any] = {"skew": [], "pulses": None}
            for jitter, asymmetry in VARIANTS if args.skew_participants else ():
                found = await skew(stack, args.skew_participants, jitter, asymmetry, 1)
                print(json.dumps(found), file=sys.stderr)  # as it comes: a long run may fail
                report["skew"].append(found)
            if args.pulse_participants:
                report["pulses"] = await pulses(
                    stack, args.pulse_participants, args.squeeze_secs, args.load_processes
                )
            return report
        finally:
            await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skew-participants", type=int, default=200)
    parser.add_argument("--pulse-participants", type=int, default=1000)
    parser.add_argument("--squeeze-secs", type=float, default=10)
    parser.add_argument("--load-processes", type=int, default=4)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
