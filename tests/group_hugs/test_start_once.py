"""A scheduled group hug starts exactly once: with two workers polling the same queue, across a
worker killed before the start time, and when Redis lost the job (the sweep starts it)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from redis.asyncio import Redis

from tests.conftest import Stack
from tests.group_hugs.support import (
    act,
    create,
    inbox_types,
    later,
    people,
    worker,
    worker_ready,
    workers,
)
from workers.group_hugs import SWEEP_EVERY_SECS


async def scheduled(nodes, connect, db, secs: float, size: int = 4):
    """A group hug scheduled `secs` from now whose `size` participants all joined."""
    host, *guests = await people(db, size)
    clients = [await connect(nodes[i % 2], who) for i, who in enumerate([host, *guests])]
    group = await create(clients[0], guests, scheduled_for=later(secs), min_participants=size)
    for client in clients[1:]:
        assert (await act(client, "join", group))["group_hug"]["status"] == "PENDING"
    return group, [host, *guests], clients


async def started_once(db, group, sessions, clients, late_by: float = 0) -> None:
    """Every participant got one `started`, live and in the inbox, a lead time ahead of
    `starts_at`: the scheduled time, or at most `late_by` seconds after it."""
    scheduled = datetime.fromisoformat(group["scheduled_for"])
    for client in clients:
        while (event := await client.next(15))[0] != "group_hug.started":
            pass
        starts_at = datetime.fromisoformat(event[1]["data"]["starts_at"])
        assert scheduled <= starts_at <= scheduled + timedelta(seconds=late_by)
        assert (starts_at - datetime.fromisoformat(event[1]["at"])).total_seconds() > 1.5
    await asyncio.sleep(1.0)  # a second start would have landed by now
    for session in sessions:
        assert (await inbox_types(db, session, group["id"])).count("group_hug.started") == 1
    row = await db.fetchrow(
        "SELECT status, starts_at FROM group_hugs WHERE id = $1", uuid.UUID(group["id"])
    )
    assert row["status"] == "ACTIVE"


async def test_two_workers_start_a_scheduled_group_hug_once(nodes, connect, db, stack) -> None:
    with workers(stack, 2):
        await worker_ready(stack)
        group, sessions, clients = await scheduled(nodes, connect, db, 5)
        await started_once(db, group, sessions, clients)


async def test_a_worker_killed_before_the_start_time_still_starts_it_once(
    nodes, connect, db, stack: Stack
) -> None:
    first = worker(stack)
    await worker_ready(stack)
    try:
        group, sessions, clients = await scheduled(nodes, connect, db, 5)
        key = uuid.UUID(group["id"])
        for _ in range(100):  # the first worker relayed the due time into a job
            if not await db.fetchval(
                "SELECT count(*) FROM outbox WHERE topic = 'group_hug' AND payload->>0 = $1",
                str(key),
            ):
                break
            await asyncio.sleep(0.1)
    finally:
        first.kill()
        first.wait(10)
    with workers(stack, 1):
        await started_once(db, group, sessions, clients)


async def test_a_start_whose_job_redis_lost_is_made_by_the_sweep(
    nodes, connect, db, stack: Stack
) -> None:
    group, sessions, clients = await scheduled(nodes, connect, db, 6)
    redis = Redis.from_url(stack.redis_url)
    try:
        with workers(stack, 1):
            await worker_ready(stack)
            for _ in range(100):
                jobs = [k async for k in redis.scan_iter(match=f"arq:job:*{group['id']}*")]
                if jobs:
                    break
                await asyncio.sleep(0.1)
            assert jobs, "the due times became jobs"
            assert (
                await db.fetchval(
                    "SELECT status FROM group_hugs WHERE id = $1", uuid.UUID(group["id"])
                )
                == "PENDING"
            )  # the start job has not run yet
            await redis.delete(*jobs)  # as a Redis restarted without persistence would
            # The sweep finds it within its period: the start is at most that late.
            await started_once(db, group, sessions, clients, late_by=SWEEP_EVERY_SECS + 0.5)
    finally:
        await redis.aclose()
