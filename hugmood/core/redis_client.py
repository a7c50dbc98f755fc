"""The Redis client: the one pool per process, shared by the domain and the Socket.IO manager.

A blocking pool waits for a free connection instead of raising "Too many connections" under a
burst, which would otherwise turn load into errors.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from hugmood.core.settings import Settings

POOL_WAIT_SECS = 5  # longer than any healthy command; beyond it the caller gets an error


def create_client(settings: Settings) -> Redis:
    """A client over its own bounded pool; closing the client closes the pool."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_pool_max, timeout=POOL_WAIT_SECS
    )
    return Redis.from_pool(pool)
