"""One bench run's own world and its measuring window: a throwaway database (schema.sql
applied) and Redis prefix, users and tokens made directly, the server and generator processes
of the current scenario (HugMood's or the Node reference's web processes, as `target` says),
and `window`, which counts what the generators report over a span of time next to everyone's
CPU. Everything it creates, `teardown` removes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis.asyncio import Redis

from . import domain, node
from .loadgen import Role, Worker, counted
from .measure import CpuWindow
from .plan import Plan
from .profiling import Profiler, Profiling, gc_delta, gc_stats, install_gc_probe
from .servers import HOST, ROOT, SERVER_ENV, Server


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class Bench:
    """One run: created before the first scenario, torn down after the last; each scenario
    starts its servers and workers through it and stops them with `finish`."""

    def __init__(
        self, admin_url: str, redis_url: str, plan: Plan, profile: Profiling | None
    ) -> None:
        self.admin_url, self.redis_url = admin_url, redis_url
        self.plan, self.profile = plan, profile
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
        self.settings = domain.server_settings(self.env)
        if profile:
            self.env |= install_gc_probe(self.tmp, os.environ.get("PYTHONPATH"))
        self.user_serial = 0
        self.target = "hugmood"  # whose web processes `webs` starts: "hugmood" or "node"
        self._shared: dict[str, Any] = {}

    # database and Redis

    @contextlib.asynccontextmanager
    async def _db(self, url: str | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A connection to the bench database (or to `url`)."""
        conn = await asyncpg.connect(url or self.database_url)
        try:
            yield conn
        finally:
            await conn.close()

    def setup(self) -> None:
        async def create() -> None:
            async with self._db(self.admin_url) as admin:
                await admin.execute(f'CREATE DATABASE "{self.db_name}"')
                self.db_created = True
            async with self._db() as conn:
                await conn.execute((ROOT / "schema.sql").read_text())

        asyncio.run(create())

    def make_users(self, n: int) -> list[str]:
        """`n` users open to hugs from everyone, inserted directly; returns their ids."""
        start = self.user_serial
        self.user_serial += n

        async def insert() -> list[str]:
            async with self._db() as conn:
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

        return asyncio.run(insert())

    def follow(self, followers: list[str], owners: list[str]) -> None:
        """followers[i] follows owners[i] (rows inserted directly); every owner shows its moods
        and presence to everyone, so each follower sees them."""

        async def insert() -> None:
            async with self._db() as conn:
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

        asyncio.run(insert())

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()`'s result, made once per run under `key`: the Node and HugMood halves of a
        scenario use the same users, follows and tokens (HugMood's tokens are HS256 JWTs of the
        secret both servers get, so the Node reference verifies them as they are)."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def tokens(self, user_ids: list[str]) -> list[str]:
        return [domain.access_token(self.settings, u) for u in user_ids]

    def redis_get(self, keys: list[str]) -> list[bytes | None]:
        """The values of `keys` in Redis (as the servers left them)."""

        async def read() -> list[bytes | None]:
            redis = Redis.from_url(self.redis_url)
            try:
                return await redis.mget(keys)
            finally:
                await redis.aclose()

        return asyncio.run(read())

    def teardown(self) -> None:
        self.finish()

        async def clean() -> None:
            if self.db_created:
                async with self._db(self.admin_url) as admin:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
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

    def webs(self, cores: list[set[int]]) -> list[Server]:
        """The current target's web processes, one per entry of `cores`, started in turn:
        HugMood's, or the Node reference's (joined by its Redis adapter when more than one)."""
        if self.target == "hugmood":
            return [self.server(c) for c in cores]
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        redis_url = self.redis_url if len(cores) > 1 else None
        env = base | node.environment(self.database_url, redis_url, self.prefix, self.jwt_secret)
        out = []
        for c in cores:
            log = self.tmp / f"node-{len(self.servers)}.log"
            out.append(Server(env, c, log, command=node.command, cwd=node.NODE_DIR))
            self.servers.append(out[-1])
        return out

    def worker(self, role: Role, params: dict, counters: Any, slot: int, cores: Any) -> Worker:
        worker = Worker(role, {"host": HOST, **params}, counters, slot, cores)
        self.workers.append(worker)
        return worker

    def spawn(
        self, role: Role, params: list[dict], counters: Any, cores: Any, first_slot: int = 0
    ) -> list[Worker]:
        """One `role` process per entry of `params`, each counting in its own slot from
        `first_slot` on."""
        return [self.worker(role, p, counters, first_slot + i, cores) for i, p in enumerate(params)]

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
        """Count `counters[slots]` over `seconds`, with CPU and (optionally) a py-spy profile
        of HugMood's servers."""
        profile = profile if self.target == "hugmood" else None
        profilers = []
        if profile and self.profile:
            profilers = [
                (
                    label,
                    Profiler(
                        pid,
                        seconds,
                        self.tmp / f"{label}-{secrets.token_hex(3)}.txt",
                        self.profile,
                    ),
                )
                for label, pid in profile
            ]
        gc0 = {label: gc_stats(self.tmp, pid) for label, pid in profile or []}
        c0, t0 = counted(counters, slots), time.time()
        cpu.start()
        deadline = t0 + seconds
        while time.time() < deadline and not (stop_when and stop_when()):
            time.sleep(min(0.05, max(0.0, deadline - time.time())))
        c1, t1 = counted(counters, slots), time.time()
        used = cpu.stop()
        result = {"t0": t0, "t1": t1, "count": c1 - c0, "rate": (c1 - c0) / (t1 - t0), "cpu": used}
        if profilers:
            result["profile"] = {label: p.summary() for label, p in profilers}
            for label, pid in profile or []:
                before, after = gc0.get(label), gc_stats(self.tmp, pid)
                if before and after:
                    result["profile"][label]["gc"] = gc_delta(before, after, t1 - t0)
        return result
