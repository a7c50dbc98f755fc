"""What every domain function needs, opened once per process: settings, pools, bus, key names,
and the process's batchers (hug sends, rate-limit hits)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial

import asyncpg
from redis.asyncio import Redis

from hugmood import db, ratelimit, redis
from hugmood.events import EventBus, Publisher
from hugmood.groupcommit import Answer, GroupCommit
from hugmood.keys import Keys
from hugmood.models import Hug, HugSend
from hugmood.settings import Settings


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    keys: Keys
    bus: EventBus
    # `hugs.send` submits (sender_id, send) here; see `hugs.commit_sends`. Its runner task
    # starts with the first send, so processes that send no hugs (workers) never run one.
    hug_sends: GroupCommit[tuple[uuid.UUID, HugSend], tuple[Hug, bool]]
    # `ratelimit.hit` counts through here: concurrent hits share one Redis call.
    rate_hits: GroupCommit[ratelimit.Hit, int]

    @classmethod
    async def open(cls, settings: Settings, publisher: Publisher) -> Context:
        from hugmood import hugs  # hugs is built on Context: import it once this module is

        async def commit_hug_sends(
            sends: list[tuple[uuid.UUID, HugSend]], answer: Answer[tuple[Hug, bool]]
        ) -> None:
            await hugs.commit_sends(ctx, sends, answer)  # `ctx` is bound below, before any send

        pool = await db.create_pool(settings)
        client = redis.create_client(settings)
        ctx = cls(
            settings=settings,
            db=pool,
            redis=client,
            keys=Keys(settings.redis_prefix),
            bus=EventBus(publisher),
            hug_sends=GroupCommit(commit_hug_sends, hugs.SEND_BATCH_MAX),
            rate_hits=GroupCommit(partial(ratelimit.count_hits, client), ratelimit.HIT_BATCH_MAX),
        )
        return ctx

    async def close(self) -> None:
        """Drain the hug sends first (they need the database and Redis), then the pools."""
        await self.hug_sends.close()
        await self.rate_hits.close()
        await self.redis.aclose()
        await self.db.close()
