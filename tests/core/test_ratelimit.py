"""Rate-limit hits batched through Redis (`hugmood.core.ratelimit`): exact counts under concurrency,
fewer Redis calls than hits, and refunds that never leave a counter without expiry."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from hugmood.core.errors import AppError
from hugmood.core.settings import Rate
from hugmood.services import Services
from tests.conftest import Recorder, open_services


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
