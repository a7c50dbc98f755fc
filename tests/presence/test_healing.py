"""Presence heals (`hugmood.presence.status`, `realtime.upkeep`): every heartbeat re-registers
a process's live connections, so a process frozen past the TTL or lost Redis data puts its users
back online within one heartbeat; expiries follow Redis's clock; a mass disconnect is removed in
batches, quietly, and announced once after the grace."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from hugmood.presence import status
from hugmood.services import Services
from loadtests import wsclient
from tests.conftest import (
    Client,
    Recorder,
    ServerProcess,
    Stack,
    faults,
    follow,
    logged_server,
    open_services,
    register,
    uid,
    until,
)

TTL_SECS, HEARTBEAT_SECS = 3, 1  # the test servers' PRESENCE_TTL_SECS, and a third of it


async def friends(api) -> tuple[dict, dict]:
    """An owner and a friend who sees the owner's presence (the default: friends)."""
    owner, friend = await register(api), await register(api)
    await follow(api, owner, friend)
    await follow(api, friend, owner)
    return owner, friend


async def changes(client: Client, timeout: float) -> str:
    return (await client.expect("presence.changed", timeout=timeout))["data"]["status"]


@pytest.fixture
async def svc(stack: Stack) -> AsyncIterator[Services]:
    svc = await open_services(stack.settings(), Recorder())
    yield svc
    await svc.close()


async def test_a_process_frozen_past_the_ttl_brings_its_users_back_within_a_heartbeat(
    api, nodes, connect, stack: Stack, svc: Services
) -> None:
    owner, friend = await friends(api)
    watcher = await connect(nodes[1], friend)
    frozen = ServerProcess(stack)
    await frozen.wait_ready()
    try:
        device = Client()
        await device.connect(frozen.url, {"token": owner["access_token"]})
        await device.expect("hello")
        assert await device.sio.call("presence:set", {"status": "dnd"}, timeout=5) == {"ok": True}
        assert await changes(watcher, 5) == "online"
        assert await changes(watcher, 5) == "dnd"

        frozen.proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        assert await changes(watcher, TTL_SECS + 3) == "offline"  # swept by the other process
        await asyncio.sleep(max(0.0, TTL_SECS + 0.5 - (time.monotonic() - stopped)))
        frozen.proc.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        assert await changes(watcher, HEARTBEAT_SECS + 2) == "dnd"  # its own status, again
        back_secs = time.monotonic() - resumed
        assert back_secs < HEARTBEAT_SECS + 1, back_secs
        await watcher.nothing(1.5)  # once, and it stays

        conns = svc.ctx.keys.presence_conns(uid(owner))
        assert await svc.ctx.redis.zcard(conns) == 1
        assert await svc.ctx.redis.hvals(svc.ctx.keys.presence_statuses(uid(owner))) == [b"dnd"]
        await device.close()
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
        frozen.stop()


async def test_lost_presence_keys_are_registered_again_within_a_heartbeat(
    api, nodes, connect, svc: Services
) -> None:
    owner, friend = await friends(api)
    watcher = await connect(nodes[1], friend)
    device = await connect(nodes[0], owner)
    assert await changes(watcher, 5) == "online"
    assert await device.sio.call("presence:set", {"status": "away"}, timeout=5) == {"ok": True}
    assert await changes(watcher, 5) == "away"

    redis, keys, user = svc.ctx.redis, svc.ctx.keys, uid(owner)
    lost = [
        keys.presence_conns(user),
        keys.presence_statuses(user),
        keys.presence_announced(user),
        keys.presence_active(user),
    ]
    await redis.delete(*lost)  # as a flush or a Redis restart without persistence would
    await redis.zrem(keys.presence_index, user)
    deleted = time.monotonic()
    # Viewers hear the status again (a viewer connecting meanwhile was told offline).
    assert await changes(watcher, HEARTBEAT_SECS + 2) == "away"
    assert time.monotonic() - deleted < HEARTBEAT_SECS + 1
    assert await redis.zcard(keys.presence_conns(user)) == 1
    assert await redis.hvals(keys.presence_statuses(user)) == [b"away"]
    assert await redis.get(keys.presence_announced(user)) == b"away"
    assert await redis.zscore(keys.presence_index, user) is not None
    await watcher.nothing(1.5)


async def test_expiries_follow_redis_clock_not_the_callers(svc: Services, monkeypatch) -> None:
    """A process whose clock runs an hour ahead neither expires nor sweeps anyone early."""
    ctx, redis = svc.ctx, svc.ctx.redis
    skewed = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: skewed)
    user, sid = uuid.uuid4(), f"test-{uuid.uuid4().hex}"

    await status.heartbeat(ctx, [(user, sid, "online")])
    seconds, micros = await redis.time()
    now = seconds + micros / 1_000_000
    expiry = await redis.zscore(ctx.keys.presence_conns(user), sid)
    assert expiry is not None and abs(expiry - (now + TTL_SECS)) < 1
    assert abs(await redis.zscore(ctx.keys.presence_index, str(user)) - expiry) < 0.001

    # Due in ten minutes by Redis: a sweep now (an hour late by the skewed clock) leaves it.
    await redis.zadd(ctx.keys.presence_index, {str(user): now + 600})
    assert await status.sweep(ctx) == 0
    assert await redis.zscore(ctx.keys.presence_index, str(user)) == now + 600
    await redis.delete(ctx.keys.presence_conns(user), ctx.keys.presence_statuses(user))
    await redis.zrem(ctx.keys.presence_index, str(user))


STORM = 5000  # connections of one user on one process, closed at once
OPENING = 100  # connections opening at a time


async def test_a_mass_disconnect_is_removed_in_batches_quietly(
    api, nodes, connect, stack: Stack, tmp_path: Path, svc: Services
) -> None:
    owner, friend = await friends(api)
    watcher = await connect(nodes[1], friend)
    async with logged_server(stack, tmp_path) as server, AsyncExitStack() as closing:
        port = server.node.port
        gate = asyncio.Semaphore(OPENING)

        async def open_one() -> wsclient.SioConnection:
            async with gate:
                return await wsclient.connect("127.0.0.1", port, owner["access_token"], 30)

        conns = await asyncio.gather(*(open_one() for _ in range(STORM)))
        closing.callback(lambda: [conn.close() for conn in conns])
        assert await changes(watcher, 5) == "online"
        key = svc.ctx.keys.presence_conns(uid(owner))
        assert await svc.ctx.redis.zcard(key) == STORM

        mark = server.mark()
        for conn in conns:
            conn.close()
        closed = time.monotonic()
        assert await changes(watcher, 15) == "offline"
        offline_secs = time.monotonic() - closed
        assert offline_secs >= 0.9  # not before the grace
        await until(lambda: sum('"disconnected"' in line for line in server.since(mark)) >= STORM)
        assert await svc.ctx.redis.zcard(key) == 0
        await asyncio.sleep(0.5)
        assert faults(server.since(mark)) == []
    await watcher.nothing(1)
