"""The Redis pub/sub manager joining web processes (and workers' write-only emitters).

python-socketio's stock manager builds a default redis-py pool that fails with "Too many
connections" past 100 and only logs "Cannot publish to redis... retrying" while dropping the
message. Ours uses the process's one Redis client (`hugmood.core.redis_client`: a bounded
blocking pool sized from settings, shared with the domain), so bursts wait instead of losing
live events. (Durable events never depend on this path alone: clients resume from the inbox.)

Emits take our own path (`wire.py`): each event is encoded once where it is published,
travels through Redis already encoded — many events in one message when the domain publishes a
batch — and each process looks only at the room names to find its own recipients, framing the
packet once and writing it to their websockets. A process with no recipients decodes nothing but
a short header. Emits to a connection of this process (`to=sid`) never leave it. Under load,
emits that are already waiting when the listener wakes are delivered together: each connection
gets all its frames in one write, so the cost per connection is one system call per wake-up,
not one per event.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import socketio
from engineio import packet as eio_packet
from redis.asyncio import Redis

from hugmood.core.keys import Keys
from hugmood.core.outages import process_outages
from hugmood.core.settings import Settings
from hugmood.core.structs import Envelope
from hugmood.delivery.bus import Emission
from hugmood.delivery.models import EndReason, SessionEnded
from hugmood.delivery.rooms import SEATED_PREFIXES
from realtime.transport import jsoncodec
from realtime.transport.wire import Wire, event_packet, frame

MOVE_METHOD = "hugmood.move"
END_METHOD = "hugmood.end"
# msgspec keeps dict order, so our control messages start with this and others' never do.
_CONTROL_PREFIX = b'{"method":"hugmood.'
_EMIT_PREFIX = b"hugmood.emit\n"
LISTEN_BATCH = 64  # pub/sub messages handled together at most
# After the subscription breaks: first retry soon (Redis restarts take about a second), then
# back off, jittered so a fleet of processes does not reconnect in step.
RESUBSCRIBE_FIRST_SECS = 0.1
RESUBSCRIBE_MAX_SECS = 2.0

log = logging.getLogger("hugmood.realtime")


class _EmitHeader(msgspec.Struct, array_like=True):
    """Ahead of the packets in an emit message: the sender, and each packet's rooms and size."""

    host_id: str
    parts: list[tuple[list[str], int]]


_header_decoder = msgspec.json.Decoder(_EmitHeader)


class RedisManager(socketio.AsyncRedisManager):
    def __init__(self, settings: Settings, redis: Redis, write_only: bool = False) -> None:
        super().__init__(
            settings.redis_url,
            channel=Keys(settings.redis_prefix).socketio_channel,
            write_only=write_only,
            json=jsoncodec,
        )
        self._client = redis
        self.outages = process_outages()
        # Run (as a task) once the subscription is back after a break.
        self.on_resubscribed: Callable[[], Awaitable[None]] | None = None
        # Rooms whose moves an opening connection is counting: room -> moves, room -> watchers.
        self._moves: dict[str, int] = {}
        self._watchers: dict[str, int] = {}

    def _redis_connect(self) -> None:
        """python-socketio calls this to (re)connect, after a failed publish too. Publishing
        goes through the process's shared client, whose pool replaces broken connections by
        itself. The subscription has a connection of its own (it waits for messages without a
        read timeout) and is created once: python-socketio resubscribes the same object, so a
        publish error never swaps it under the listener or leaks a connection."""
        self.redis = self._client
        if self.pubsub is None:
            self.pubsub = Redis.from_url(self.redis_url).pubsub(ignore_subscribe_messages=True)
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
        local: list[tuple[list[str], bytes]] = []
        remote: list[tuple[list[str], bytes]] = []
        for emission in emissions:
            packet = event_packet(emission.event, emission.payload)
            if not self.write_only:
                local.append((emission.rooms, packet))
                if self._is_local_sid(emission.rooms):
                    continue
            remote.append((emission.rooms, packet))
        if local:
            await self._deliver(local)
        if remote:
            header = _EmitHeader(self.host_id, [(rooms, len(p)) for rooms, p in remote])
            head = [_EMIT_PREFIX, msgspec.json.encode(header), b"\n"]
            await self._publish(b"".join(head + [packet for _, packet in remote]))

    def _is_local_sid(self, rooms: list[str]) -> bool:
        return len(rooms) == 1 and rooms[0] in self.rooms.get("/", {}).get(None, ())

    def _members(self, rooms: list[str]) -> Iterable[str]:
        """The eio sids of this process's connections in any of `rooms`, each once."""
        namespace = self.rooms.get("/", {})
        if len(rooms) == 1:
            members = namespace.get(rooms[0])
            return members.values() if members else ()
        return {eio_sid for room in rooms for eio_sid in namespace.get(room, {}).values()}

    def _wires(
        self, rooms: list[str], packet: bytes, others: list[tuple[Any, bytes]]
    ) -> Iterator[Wire]:
        """The wires of this process's connections in any of `rooms`; a connection without one
        (not on a websocket we can write to) or holding events back while it opens is put in
        `others` with the packet instead."""
        sockets = self.server.eio.sockets
        for eio_sid in self._members(rooms):
            if (socket := sockets.get(eio_sid)) is None:
                continue
            if (wire := socket.wire) is None or socket.held is not None:
                others.append((socket, packet))
            else:
                yield wire

    async def _deliver(self, items: list[tuple[list[str], bytes]]) -> None:
        """Write each `(rooms, packet)` to this process's connections in those rooms, in order.
        One packet: its frame is written to each recipient. Several: each recipient's frames
        are joined into one write (one system call per connection, however many packets)."""
        others: list[tuple[Any, bytes]] = []
        if len(items) == 1:
            rooms, packet = items[0]
            data = frame(packet)
            for wire in self._wires(rooms, packet, others):
                wire.send(data)
        else:
            outbox: dict[Wire, list[bytes]] = {}
            for rooms, packet in items:
                data = frame(packet)
                for wire in self._wires(rooms, packet, others):
                    outbox.setdefault(wire, []).append(data)
            for wire, frames in outbox.items():
                wire.send(frames[0] if len(frames) == 1 else b"".join(frames))
        for socket, packet in others:  # engine.io's own send path
            await socket.send(eio_packet.Packet(eio_packet.MESSAGE, packet[1:].decode()))

    def _published(self, message: bytes) -> list[tuple[list[str], bytes]]:
        """The `(rooms, packet)` items of another process's emit message (none of our own)."""
        header_end = message.index(b"\n", len(_EMIT_PREFIX))
        header = _header_decoder.decode(message[len(_EMIT_PREFIX) : header_end])
        if header.host_id == self.host_id:
            return []  # delivered locally before publishing
        view = memoryview(message)
        items, offset = [], header_end + 1
        for rooms, size in header.parts:
            items.append((rooms, bytes(view[offset : offset + size])))
            offset += size
        return items

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        """Connections in room `members_of`, on every process, leave and join rooms.

        python-socketio can only move a connection by sid, which only its own process knows;
        this moves whole rooms' members by name, here and (through pub/sub) everywhere else.
        """
        message = {"method": MOVE_METHOD, "members_of": members_of, "leave": leave, "join": join}
        if not self.write_only:
            self._apply_move(message)
        await self._publish(message | {"host_id": self.host_id})

    async def end(self, room: str, reason: str) -> None:
        """Connections in `room`, on every process, get `session.ended {reason}` and are
        disconnected."""
        message = {"method": END_METHOD, "room": room, "reason": reason}
        if not self.write_only:
            self._apply_end(message)
        await self._publish(message | {"host_id": self.host_id})

    def _apply_end(self, message: dict) -> None:
        for sid, _ in list(self.get_participants("/", message["room"])):
            self.server.start_background_task(self.end_connection, sid, message["reason"])

    async def end_connection(self, sid: str, reason: EndReason) -> None:
        """Tell this process's connection `sid` why with `session.ended`, then disconnect it."""
        ended = Envelope(at=datetime.now(UTC), data=SessionEnded(reason))
        await self.emit_many([Emission("session.ended", ended, [sid])])
        await self.server.disconnect(sid)

    def watch_moves(self, room: str) -> None:
        """Start counting the moves applied to members of `room` (see `moves_to`)."""
        self._watchers[room] = self._watchers.get(room, 0) + 1
        self._moves.setdefault(room, 0)

    def unwatch_moves(self, room: str) -> None:
        if (watchers := self._watchers.pop(room, 1) - 1) > 0:
            self._watchers[room] = watchers
        else:
            self._moves.pop(room, None)

    def moves_to(self, room: str) -> int:
        """Moves applied to members of a watched `room` on this process so far."""
        return self._moves.get(room, -1)

    def _apply_control(self, message: dict) -> None:
        """A move or end message of another process."""
        if message.get("host_id") == self.host_id:
            return
        if message["method"] == MOVE_METHOD:
            self._apply_move(message)
        elif message["method"] == END_METHOD:
            self._apply_end(message)

    def _apply_move(self, message: dict) -> None:
        if message["members_of"] in self._moves:
            self._moves[message["members_of"]] += 1
        members = [sid for sid, _ in self.get_participants("/", message["members_of"])]
        for sid in members:
            for room in message["leave"]:
                self.basic_leave_room(sid, "/", room)
            for room in message["join"]:
                self.basic_enter_room(sid, "/", room)

    async def _publish(self, data: dict[str, Any] | bytes) -> None:
        """Publish a message (bytes as they are); one retry on a fresh connection, then the
        live event is given up: clients recover durable events with `sync` (and are told to
        once the subscription is back). Redis being down is the process's outage (logged
        once); any other failure is a bug, logged with its traceback."""
        payload = data if isinstance(data, bytes) else jsoncodec.dumps(data)
        for attempt in (1, 2):
            try:
                if not self.connected:
                    self._redis_connect()
                await self.redis.publish(self.channel, payload)
                return
            except Exception as exc:
                self.connected = False
                if self.outages.failed(exc) is None:
                    log.exception("publish to redis failed", extra={"attempt": attempt})

    async def _redis_listen_with_retries(self):  # type: ignore[override]
        """python-socketio's subscription loop, made for outages: the first retry comes after
        `RESUBSCRIBE_FIRST_SECS`, then doubling with jitter up to `RESUBSCRIBE_MAX_SECS`, so
        live delivery is back within about a second of Redis; a lost subscription is the
        process's Redis outage (logged once, as `Outages` does), the way back one info line;
        and once back, `on_resubscribed` runs, since whatever was published meanwhile never
        reached us."""
        delay, lost_at, attempts = RESUBSCRIBE_FIRST_SECS, None, 0
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                if lost_at is not None:
                    self.outages.succeeded()
                    log.info(
                        "redis subscription back",
                        extra={
                            "down_secs": round(time.monotonic() - lost_at, 1),
                            "attempts": attempts,
                        },
                    )
                    lost_at, attempts = None, 0
                    if self.on_resubscribed is not None:
                        self.server.start_background_task(self.on_resubscribed)
                delay = RESUBSCRIBE_FIRST_SECS
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                if self.outages.failed(exc) is None:
                    log.exception("redis subscription failed; resubscribing")
                if lost_at is None:
                    lost_at = time.monotonic()
                attempts += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, RESUBSCRIBE_MAX_SECS)

    def deliver_here(self, emission: Emission) -> Awaitable[None]:
        """Deliver to this process's members of the emission's rooms only (nothing published)."""
        return self._deliver([(emission.rooms, event_packet(emission.event, emission.payload))])

    def reseat(self, sid: str, seated: list[str]) -> None:
        """Put this process's connection `sid` in exactly these audience and group hug rooms
        (`rooms.SEATED_PREFIXES`), leaving its own rooms as they are."""
        for room in self.get_rooms(sid, "/"):
            if room.startswith(SEATED_PREFIXES) and room not in seated:
                self.basic_leave_room(sid, "/", room)
        for room in seated:
            self.basic_enter_room(sid, "/", room)

    async def _listen(self):  # type: ignore[override]
        """Handle our emit and move messages; pass python-socketio's own on to it.

        Messages already received but not yet read are taken together (up to `LISTEN_BATCH`),
        so emits that arrive back to back reach each connection in one write; a move or a
        python-socketio message in between first flushes the emits before it, keeping order."""
        async for first in super()._listen():
            batch = [first]
            while len(batch) < LISTEN_BATCH and (more := await self._read_buffered()) is not None:
                batch.append(more)
            emits: list[tuple[list[str], bytes]] = []
            for data in batch:
                if isinstance(data, bytes) and data.startswith(_EMIT_PREFIX):
                    try:
                        emits += self._published(data)
                    except Exception:  # one bad message must not end this subscription
                        log.exception("undeliverable emit message", extra={"bytes": len(data)})
                    continue
                if emits:
                    await self._deliver(emits)
                    emits = []
                if isinstance(data, bytes) and data.startswith(_CONTROL_PREFIX):
                    self._apply_control(jsoncodec.loads(data))
                else:
                    yield data
            if emits:
                await self._deliver(emits)

    async def _read_buffered(self) -> bytes | None:
        """The next message on our channel if it already arrived, else None (never waits)."""
        channel = self.channel.encode()
        while (message := await self.pubsub.get_message(timeout=0)) is not None:
            if message["type"] == "message" and message["channel"] == channel:
                return message["data"]
        return None


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

    async def end(self, room: str, reason: str) -> None:
        await self._manager.end(room, reason)
