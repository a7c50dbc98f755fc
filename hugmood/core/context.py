"""What every domain function needs, opened once per process: settings, pools, the event bus,
key names and the process's view of outages. Infrastructure only: feature services that keep
per-process state (batchers) are built on top of it by the composition root,
`hugmood.services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from redis.asyncio import Redis

from hugmood.core import db
from hugmood.core.keys import Keys
from hugmood.core.outages import Outages, process_outages
from hugmood.core.settings import Settings

if TYPE_CHECKING:
    from hugmood.delivery.bus import EventBus


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    keys: Keys
    bus: EventBus
    outages: Outages

    @classmethod
    async def open(cls, settings: Settings, redis: Redis, bus: EventBus) -> Context:
        """Open the PostgreSQL pool; `redis` is the process's one client (shared with its
        Socket.IO manager), which `close` closes."""
        pool = await db.create_pool(settings)
        return cls(settings, pool, redis, Keys(settings.redis_prefix), bus, process_outages())

    async def close(self) -> None:
        await self.redis.aclose()
        await self.db.close()
