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

MOVE_METHOD = "hugmood.move"
# msgspec keeps dict order, so our messages start with this and others' never do.
_MOVE_PREFIX = b'{"method":"' + MOVE_METHOD.encode() + b'"'


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

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        """Connections in room `members_of`, on every process, leave and join rooms.

        python-socketio can only move a connection by sid, which only its own process knows;
        this moves whole rooms' members by name, here and (through pub/sub) everywhere else.
        """
        message = {"method": MOVE_METHOD, "members_of": members_of, "leave": leave, "join": join}
        if not self.write_only:
            self._apply_move(message)
        await self._publish(message | {"host_id": self.host_id})

    def _apply_move(self, message: dict) -> None:
        members = [sid for sid, _ in self.get_participants("/", message["members_of"])]
        for sid in members:
            for room in message["leave"]:
                self.basic_leave_room(sid, "/", room)
            for room in message["join"]:
                self.basic_enter_room(sid, "/", room)

    async def _listen(self):  # type: ignore[override]
        """Handle our `move` messages; pass python-socketio's own on to it."""
        async for data in super()._listen():
            if isinstance(data, bytes) and data.startswith(_MOVE_PREFIX):
                message = jsoncodec.loads(data)
                if message.get("host_id") != self.host_id:
                    self._apply_move(message)
                continue
            yield data


class SocketIOPublisher:
    """The domain's `Publisher`, over a Socket.IO server or a write-only manager (same call)."""

    def __init__(self, emitter: socketio.AsyncServer | RedisManager) -> None:
        self._emitter = emitter
        self._manager: RedisManager = (
            emitter.manager if isinstance(emitter, socketio.AsyncServer) else emitter
        )

    async def emit(self, event: str, payload: Envelope, room: str | list[str]) -> None:
        await self._emitter.emit(event, payload, room=room)

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        await self._manager.move(members_of, leave, join)
