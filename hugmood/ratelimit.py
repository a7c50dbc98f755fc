"""Fixed-window rate limits counted in Redis, so every process shares one budget per subject.

A fixed window lets a client burst up to twice the limit across a boundary; for abuse limits that
is fine and it costs one round trip. The counter key expires with its window.
"""

from __future__ import annotations

import time

from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.settings import Rate


def _window(ctx: Context, bucket: str, subject: str, rate: Rate) -> tuple[str, int]:
    now = int(time.time())
    window_start = now - now % rate.window_secs
    return ctx.keys.rate(bucket, subject, window_start), window_start + rate.window_secs - now


def _refuse(bucket: str, retry_after: int) -> AppError:
    return AppError(
        "rate_limited", f"too many {bucket} attempts, try again later", retry_after=retry_after
    )


async def hit(ctx: Context, bucket: str, subject: str, rate: Rate) -> None:
    """Count one hit of `subject` in `bucket`; raise `rate_limited` once over the limit."""
    key, retry_after = _window(ctx, bucket, subject, rate)
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, rate.window_secs)
        count, _ = await pipe.execute()
    if count > rate.limit:
        raise _refuse(bucket, retry_after)


async def refund(ctx: Context, bucket: str, subject: str, rate: Rate) -> None:
    """Give back a hit that turned out not to count (a login that succeeded)."""
    key, _ = _window(ctx, bucket, subject, rate)
    await ctx.redis.decr(key)
