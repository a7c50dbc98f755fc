"""Rate-limit hits batched through Redis (`hugmood.ratelimit`): exact counts under concurrency,
fewer Redis calls than hits, and refunds that never leave a counter without expiry."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from hugmood import ratelimit
from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.settings import Rate
from tests.test_hug_batch import Recorder


@pytest.fixture
async def ctx(stack) -> AsyncIterator[Context]:
    ctx = await Context.open(stack.settings(), Recorder())
    yield ctx
    await ctx.close()


async def test_concurrent_hits_are_counted_exactly_in_fewer_calls(ctx: Context) -> None:
    subject, rate = secrets.token_hex(6), Rate(limit=250, window_secs=60)
    batches = ctx.rate_hits.batches
    outcomes = await asyncio.gather(
        *(ratelimit.hit(ctx, "test", subject, rate) for _ in range(300)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, AppError)]
    assert len(refused) == 50
    assert {(e.code, e.retry_after is not None) for e in refused} == {("rate_limited", True)}
    assert outcomes.count(None) == 250
    assert ctx.rate_hits.batches - batches < 300 / 10  # many hits per Redis call
    key, _ = ratelimit._window(ctx, "test", subject, rate)
    assert int(await ctx.redis.get(key)) == 300
    assert 0 < await ctx.redis.ttl(key) <= 60


async def test_subjects_and_buckets_have_their_own_budgets(ctx: Context) -> None:
    rate = Rate(limit=1, window_secs=60)
    a, b = secrets.token_hex(6), secrets.token_hex(6)
    await asyncio.gather(
        ratelimit.hit(ctx, "test", a, rate),
        ratelimit.hit(ctx, "test", b, rate),
        ratelimit.hit(ctx, "other", a, rate),
    )
    with pytest.raises(AppError) as refused:
        await ratelimit.hit(ctx, "test", a, rate)
    assert refused.value.code == "rate_limited"


async def test_refund_gives_a_hit_back_and_never_creates_a_counter(ctx: Context) -> None:
    subject, rate = secrets.token_hex(6), Rate(limit=1, window_secs=60)
    await ratelimit.hit(ctx, "test", subject, rate)
    await ratelimit.refund(ctx, "test", subject, rate)
    await ratelimit.hit(ctx, "test", subject, rate)  # the budget is back
    # A refund in a window with no counter (it expired, or the window rolled over since the hit)
    # must not leave a counter at -1 that never expires.
    other = secrets.token_hex(6)
    await ratelimit.refund(ctx, "test", other, rate)
    key, _ = ratelimit._window(ctx, "test", other, rate)
    assert await ctx.redis.exists(key) == 0


async def test_counters_expire_with_their_window(ctx: Context) -> None:
    subject, rate = secrets.token_hex(6), Rate(limit=5, window_secs=2)
    await ratelimit.hit(ctx, "test", subject, rate)
    key, _ = ratelimit._window(ctx, "test", subject, rate)
    assert 0 < await ctx.redis.ttl(key) <= 2
    started = time.monotonic()
    while await ctx.redis.exists(key):
        assert time.monotonic() - started < 5
        await asyncio.sleep(0.2)
