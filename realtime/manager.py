"""The Redis pub/sub manager joining web processes (and workers' write-only emitters).

python-socketio's stock manager builds a default redis-py pool that fails with "Too many
connections" past 100 and only logs "Cannot publish to redis... retrying" while dropping the
message. Ours uses a bounded blocking pool sized from settings, so bursts wait instead of losing
live events. (Durable events never depend on this path alone: clients resume from the inbox.)

Emits take our own path (realtime/wire.py): each event is encoded once where it is published,
travels through Redis already encoded — many events in one message when the domain publishes a
batch — and each process looks only at the room names to find its own recipients, framing the
packet once and writing it to their websockets. A process with no recipients decodes nothing but
a short header. Emits to a connection of this process (`to=sid`) never leave it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec
import socketio
from engineio import packet as eio_packet
from redis.asyncio import Redis

from hugmood.events import Emission
from hugmood.keys import Keys
from hugmood.redis import create_pool
from hugmood.settings import Settings
from realtime import jsoncodec
from realtime.wire import event_packet, frame

MOVE_METHOD = "hugmood.move"
# msgspec keeps dict order, so our messages start with this and others' never do.
_MOVE_PREFIX = b'{"method":"' + MOVE_METHOD.encode() + b'"'
_EMIT_PREFIX = b"hugmood.emit\n"

log = logging.getLogger("hugmood.realtime")


class _EmitHeader(msgspec.Struct, array_like=True):
    """Ahead of the packets in an emit message: the sender, and each packet's rooms and size."""

    host_id: str
    parts: list[tuple[list[str], int]]


_header_decoder = msgspec.json.Decoder(_EmitHeader)


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

    async def emit(self, event, data, namespace=None, room=None, skip_sid=None, callback=None,
                   to=None, **kwargs):  # fmt: skip
        """python-socketio's emit; plain emits to rooms take `emit_many`'s path (broadcasts,
        callbacks, skips and other namespaces keep python-socketio's)."""
        room = to or room
        if room is None or callback or skip_sid is not None or namespace not in (None, "/"):
            return await super().emit(event, data, namespace, room, skip_sid, callback, **kwargs)
        await self.emit_many([Emission(event, data, [room] if isinstance(room, str) else room)])

    async def emit_many(self, emissions: Iterable[Emission]) -> None:
        """Deliver to this process's members of each emission's rooms, then publish what other
        processes may need in one Redis message."""
        remote: list[tuple[list[str], bytes]] = []
        for emission in emissions:
            packet = event_packet(emission.event, emission.payload)
            if not self.write_only:
                await self._deliver(emission.rooms, packet)
                if self._is_local_sid(emission.rooms):
                    continue
            remote.append((emission.rooms, packet))
        if remote:
            header = _EmitHeader(self.host_id, [(rooms, len(p)) for rooms, p in remote])
            head = [_EMIT_PREFIX, msgspec.json.encode(header), b"\n"]
            await self._publish(b"".join(head + [packet for _, packet in remote]))

    def _is_local_sid(self, rooms: list[str]) -> bool:
        return len(rooms) == 1 and rooms[0] in self.rooms.get("/", {}).get(None, ())

    async def _deliver(self, rooms: list[str], packet: bytes) -> None:
        """Write `packet` once to each of this process's connections in any of `rooms`."""
        namespace = self.rooms.get("/")
        if not namespace:
            return
        if len(rooms) == 1:
            members = namespace.get(rooms[0])
            if not members:
                return
            eio_sids: Iterable[str] = members.values()
        else:
            eio_sids = {eio_sid for room in rooms for eio_sid in namespace.get(room, {}).values()}
        sockets = self.server.eio.sockets
        data = frame(packet)
        others = []
        for eio_sid in eio_sids:
            socket = sockets.get(eio_sid)
            if socket is None:
                continue
            if (wire := socket.wire) is None:
                others.append(socket)
            else:
                wire.send(data)
        for socket in others:  # not on a websocket we can write to: engine.io's own path
            await socket.send(eio_packet.Packet(eio_packet.MESSAGE, packet[1:].decode()))

    async def _deliver_published(self, message: bytes) -> None:
        header_end = message.index(b"\n", len(_EMIT_PREFIX))
        header = _header_decoder.decode(message[len(_EMIT_PREFIX) : header_end])
        if header.host_id == self.host_id:
            return  # delivered locally before publishing
        view = memoryview(message)
        offset = header_end + 1
        for rooms, size in header.parts:
            await self._deliver(rooms, bytes(view[offset : offset + size]))
            offset += size

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

    async def _publish(self, data: dict[str, Any] | bytes) -> None:
        """Publish a message (bytes as they are); one retry on a fresh connection, then the
        live event is given up (logged): clients recover durable events with `sync`."""
        payload = data if isinstance(data, bytes) else jsoncodec.dumps(data)
        for attempt in (1, 2):
            try:
                if not self.connected:
                    self._redis_connect()
                await self.redis.publish(self.channel, payload)
                return
            except Exception:
                self.connected = False
                log.exception("publish to redis failed", extra={"attempt": attempt})

    async def _listen(self):  # type: ignore[override]
        """Handle our emit and move messages; pass python-socketio's own on to it."""
        async for data in super()._listen():
            if isinstance(data, bytes) and data.startswith(_EMIT_PREFIX):
                try:
                    await self._deliver_published(data)
                except Exception:  # one bad message must not end this process's subscription
                    log.exception("undeliverable emit message", extra={"bytes": len(data)})
            elif isinstance(data, bytes) and data.startswith(_MOVE_PREFIX):
                message = jsoncodec.loads(data)
                if message.get("host_id") != self.host_id:
                    self._apply_move(message)
            else:
                yield data


class SocketIOPublisher:
    """The domain's `Publisher`, over a Socket.IO server's manager or a write-only one."""

    def __init__(self, emitter: socketio.AsyncServer | RedisManager) -> None:
        self._manager: RedisManager = (
            emitter.manager if isinstance(emitter, socketio.AsyncServer) else emitter
        )

    async def emit(self, emissions: list[Emission]) -> None:
        await self._manager.emit_many(emissions)

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        await self._manager.move(members_of, leave, join)
