"""The Redis client: the one pool per process, shared by the domain and the Socket.IO manager.

A blocking pool waits for a free connection instead of raising "Too many connections" under a
burst, which would otherwise turn load into errors.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from hugmood.core.settings import Settings

# Longer than any healthy command or wait for a free connection; past these a command fails
# (`unavailable` to the client) instead of hanging on a Redis that is paused or unreachable.
# The command timeout stays under the request deadline (`core.outages.DEADLINE_SECS`), so a
# paused Redis is reported as Redis, not as a request that merely ran out of time.
POOL_WAIT_SECS = 1.5
CONNECT_TIMEOUT_SECS = 1
COMMAND_TIMEOUT_SECS = 1.5


def create_client(settings: Settings) -> Redis:
    """A client over its own bounded pool; closing the client closes the pool. (Subscribers,
    which wait for messages without end, take a connection of their own:
    `realtime.transport.manager`.)"""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_max,
        timeout=POOL_WAIT_SECS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECS,
        socket_timeout=COMMAND_TIMEOUT_SECS,
    )
    return Redis.from_pool(pool)
