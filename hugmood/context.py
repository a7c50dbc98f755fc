"""What every domain function needs, opened once per process: settings, pools, bus, key names."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from hugmood import db, redis
from hugmood.events import EventBus, Publisher
from hugmood.keys import Keys
from hugmood.settings import Settings


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    keys: Keys
    bus: EventBus

    @classmethod
    async def open(cls, settings: Settings, publisher: Publisher) -> Context:
        pool = await db.create_pool(settings)
        return cls(
            settings=settings,
            db=pool,
            redis=redis.create_client(settings),
            keys=Keys(settings.redis_prefix),
            bus=EventBus(publisher),
        )

    async def close(self) -> None:
        await self.redis.aclose()
        await self.db.close()
