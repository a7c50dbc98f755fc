"""The Redis client: the only place that opens Redis connections for the domain.

A blocking pool waits for a free connection instead of raising "Too many connections" under a
burst, which would otherwise turn load into errors.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from hugmood.settings import Settings

POOL_WAIT_SECS = 5  # longer than any healthy command; beyond it the caller gets an error


def create_pool(url: str, max_connections: int) -> BlockingConnectionPool:
    return BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT_SECS
    )


def create_client(settings: Settings) -> Redis:
    return Redis(connection_pool=create_pool(settings.redis_url, settings.redis_pool_max))
