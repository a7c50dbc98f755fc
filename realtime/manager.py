"""The Redis pub/sub manager joining web processes (and workers' write-only emitters).

python-socketio's stock manager builds a default redis-py pool that fails with "Too many
connections" past 100 and only logs "Cannot publish to redis... retrying" while dropping the
message. Ours uses a bounded blocking pool sized from settings, so bursts wait instead of losing
live events. (Durable events never depend on this path alone: clients resume from the inbox.)
"""

from __future__ import annotations

import socketio
from redis.asyncio import Redis

from hugmood.keys import Keys
from hugmood.models import Envelope
from hugmood.redis import create_pool
from hugmood.settings import Settings
from realtime import jsoncodec


class RedisManager(socketio.AsyncRedisManager):
    def __init__(self, settings: Settings, write_only: bool = False) -> None:
        super().__init__(
            settings.redis_url,
            channel=Keys(settings.redis_prefix).socketio_channel,
            write_only=write_only,
            json=jsoncodec,
        )
        self._pool_max = settings.redis_pool_max

    def _redis_connect(self) -> None:
        self.redis = Redis(connection_pool=create_pool(self.redis_url, self._pool_max))
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True


class SocketIOPublisher:
    """The domain's `Publisher`, over a Socket.IO server or a write-only manager (same call)."""

    def __init__(self, emitter: socketio.AsyncServer | socketio.AsyncManager) -> None:
        self._emitter = emitter

    async def emit(self, event: str, payload: Envelope, room: str) -> None:
        await self._emitter.emit(event, payload, room=room)
