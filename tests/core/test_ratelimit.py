"""Rate-limit hits batched through Redis (`hugmood.core.ratelimit`): exact counts under concurrency,
fewer Redis calls than hits, and refunds that never leave a counter without expiry."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from hugmood.core.errors import AppError
from hugmood.core.keys import Keys
from hugmood.core.ratelimit import RateLimiter
from hugmood.core.settings import Rate
from hugmood.services import Services
from tests.conftest import Recorder, free_port, open_services


@pytest.fixture
async def svc(stack) -> AsyncIterator[Services]:
    svc = await open_services(stack.settings(), Recorder())
    yield svc
    await svc.close()


async def test_concurrent_hits_are_counted_exactly_in_fewer_calls(svc: Services) -> None:
    subject, rate = secrets.token_hex(6), Rate(limit=250, window_secs=60)
    batches = svc.limiter.hits.batches
    outcomes = await asyncio.gather(
        *(svc.limiter.hit("test", subject, rate) for _ in range(300)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, AppError)]
    assert len(refused) == 50
    assert {(e.code, e.retry_after is not None) for e in refused} == {("rate_limited", True)}
    assert outcomes.count(None) == 250
    assert svc.limiter.hits.batches - batches < 300 / 10  # many hits per Redis call
    key, _ = svc.limiter.window("test", subject, rate)
    assert int(await svc.ctx.redis.get(key)) == 300
    assert 0 < await svc.ctx.redis.ttl(key) <= 60


async def test_subjects_and_buckets_have_their_own_budgets(svc: Services) -> None:
    rate = Rate(limit=1, window_secs=60)
    a, b = secrets.token_hex(6), secrets.token_hex(6)
    await asyncio.gather(
        svc.limiter.hit("test", a, rate),
        svc.limiter.hit("test", b, rate),
        svc.limiter.hit("other", a, rate),
    )
    with pytest.raises(AppError) as refused:
        await svc.limiter.hit("test", a, rate)
    assert refused.value.code == "rate_limited"


async def test_refund_gives_a_hit_back_and_never_creates_a_counter(svc: Services) -> None:
    subject, rate = secrets.token_hex(6), Rate(limit=1, window_secs=60)
    await svc.limiter.hit("test", subject, rate)
    await svc.limiter.refund("test", subject, rate)
    await svc.limiter.hit("test", subject, rate)  # the budget is back
    # A refund in a window with no counter (it expired, or the window rolled over since the hit)
    # must not leave a counter at -1 that never expires.
    other = secrets.token_hex(6)
    await svc.limiter.refund("test", other, rate)
    key, _ = svc.limiter.window("test", other, rate)
    assert await svc.ctx.redis.exists(key) == 0


async def test_counters_expire_with_their_window(svc: Services) -> None:
    subject, rate = secrets.token_hex(6), Rate(limit=5, window_secs=2)
    await svc.limiter.hit("test", subject, rate)
    key, _ = svc.limiter.window("test", subject, rate)
    assert 0 < await svc.ctx.redis.ttl(key) <= 2
    started = time.monotonic()
    while await svc.ctx.redis.exists(key):
        assert time.monotonic() - started < 5
        await asyncio.sleep(0.2)


async def hits_against(
    limiter: RateLimiter, count: int
) -> tuple[list[BaseException | None], float]:
    """`count` concurrent hits of distinct subjects: each caller's answer, and the seconds all
    of them took."""
    rate = Rate(limit=5, window_secs=60)
    started = time.monotonic()
    answers = await asyncio.gather(
        *(limiter.hit("test", f"s{i}", rate) for i in range(count)), return_exceptions=True
    )
    return answers, time.monotonic() - started


def all_unavailable(answers: list[BaseException | None]) -> bool:
    return all(
        isinstance(a, AppError) and (a.code, a.retry_after) == ("unavailable", 1) for a in answers
    )


async def test_a_redis_that_is_down_answers_every_hit_unavailable_at_once() -> None:
    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)  # nobody listens
    limiter = RateLimiter(redis, Keys("test-down"))
    try:
        answers, took = await hits_against(limiter, 200)
    finally:
        await limiter.close()
        await redis.aclose()
    assert all_unavailable(answers), answers[:3]
    assert {a.message for a in answers} == {"rate limits unavailable; retry shortly"}
    assert took < 1
    assert limiter.hits.batches < 200 / 10  # failed as batches, not hit by hit


async def test_a_redis_that_never_answers_is_unavailable_within_the_deadline() -> None:
    """A server that accepts and reads but never replies (a paused Redis), behind a client with
    no timeouts of its own: only the limiter's deadline bounds the wait."""
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = Redis(host="127.0.0.1", port=port)
    limiter = RateLimiter(redis, Keys("test-silent"), deadline_secs=0.5)
    try:
        answers, took = await hits_against(limiter, 50)
        assert connections, "the limiter never reached the server"
    finally:
        server.close()
        for writer in connections:  # the batch in flight now fails on its connection
            writer.close()
        await limiter.close()
        await redis.aclose()
    assert all_unavailable(answers), answers[:3]
    assert {a.message for a in answers} == {"not answered in time; retry shortly"}
    assert 0.4 < took < 1.5
