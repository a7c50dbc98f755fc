"""The arq worker process boots from the Procfile's command, and its jobs do their work."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from tests.conftest import ROOT, Stack, register
from workers.main import open_services
from workers.purge import purge_expired_tokens


async def test_worker_process_starts_with_project_settings_and_stops_on_sigterm(
    stack: Stack,
) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        cwd=ROOT,
        env=stack.env(LOG_LEVEL="INFO"),
        stdout=subprocess.PIPE,
    )
    redis = Redis.from_url(stack.redis_url)
    try:
        health_key = f"{stack.redis_prefix}:arq:queue:health-check"
        for _ in range(100):
            if await redis.exists(health_key):
                break
            assert worker.poll() is None, "worker exited"
            await asyncio.sleep(0.1)
        assert await redis.exists(health_key)
    finally:
        await redis.aclose()
        worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 15) == 0
    assert worker.stdout is not None
    lines = worker.stdout.read().decode().splitlines()
    assert lines and all(json.loads(line)["logger"] for line in lines), lines  # JSON, every one


async def test_purge_job_deletes_only_expired_refresh_tokens(api, stack: Stack, db) -> None:
    session = await register(api)
    user_id = session["user"]["id"]
    await db.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
        "VALUES ($1, (SELECT family_id FROM refresh_tokens WHERE user_id = $1 LIMIT 1), "
        "'expired-token-hash', $2)",
        uuid.UUID(user_id),
        datetime.now(UTC) - timedelta(seconds=1),
    )
    settings = stack.settings()
    svc = await open_services(settings)
    try:
        assert await purge_expired_tokens({"services": svc}) >= 1
    finally:
        await svc.close()
    remaining = await db.fetch(
        "SELECT expires_at FROM refresh_tokens WHERE user_id = $1", uuid.UUID(user_id)
    )
    assert len(remaining) == 1 and remaining[0]["expires_at"] > datetime.now(UTC)
    response = await api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert response.status_code == 200


def test_cron_jobs_and_queue_carry_the_deployments_prefix(stack: Stack) -> None:
    """arq's job keys are `arq:job:<id>` whatever the queue: two deployments sharing a Redis
    must not take each other's cron runs for their own."""
    script = (
        "from workers.main import WorkerSettings as W; "
        "print(W.queue_name); print(*(job.name for job in W.cron_jobs), sep='\\n')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=stack.env(), capture_output=True, text=True
    )
    queue, *crons = out.stdout.split()
    assert queue == f"{stack.redis_prefix}:arq:queue"
    assert crons == [
        f"{stack.redis_prefix}:purge_expired_tokens",
        f"{stack.redis_prefix}:purge_old_inbox_events",
        f"{stack.redis_prefix}:sweep_group_hugs",
    ]
