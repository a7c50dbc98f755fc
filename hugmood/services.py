"""The composition root: the domain as one process runs it.

`Context` is infrastructure only; the feature services that keep per-process state (the rate
limiter's and the hug sender's batchers) are built on it here, once, and closed in the order
their work needs: hug sends first (they count rate-limit hits and need both pools), then the
rate limiter, then the pools.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from hugmood.core.context import Context
from hugmood.core.ratelimit import RateLimiter
from hugmood.core.settings import Settings
from hugmood.delivery.bus import EventBus, Publisher
from hugmood.group_hugs.pulses import Pulses
from hugmood.hugs.send import HugSender


@dataclass(frozen=True, slots=True)
class Services:
    ctx: Context
    limiter: RateLimiter
    hug_sender: HugSender
    pulses: Pulses

    @classmethod
    async def open(cls, settings: Settings, redis: Redis, publisher: Publisher) -> Services:
        """`redis` is the process's one client (its Socket.IO manager shares it)."""
        ctx = await Context.open(settings, redis, EventBus(publisher))
        limiter = RateLimiter(redis, ctx.keys)
        return cls(ctx, limiter, HugSender(ctx, limiter), Pulses(ctx, limiter))

    async def close(self) -> None:
        await self.pulses.close()
        await self.hug_sender.close()
        await self.limiter.close()
        await self.ctx.close()
