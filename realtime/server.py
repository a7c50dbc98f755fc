"""The Socket.IO server: who may connect, which rooms they are in, how client events are answered.

Guarantees: a connection exists only with a valid access token of a live session (else
`connect_error` with `data.code` `unauthorized`, or `unavailable` when a dependency is down);
rooms are joined by the server alone (`hugmood.delivery.connections`); `hello` is the first event
after CONNECT, and nothing reaches a connection before it; every client event that asks for an
ack gets `{ok: true, ...}` or `{ok: false, error: {code, message, field?}}`; a connection ends
with its session or, unless refreshed over the socket, `TOKEN_GRACE_SECS` after its token.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import socketio
from engineio import packet as eio_packet
from redis.asyncio import Redis
from socketio import packet

from hugmood.core.errors import AppError
from hugmood.core.logs import request_id
from hugmood.core.outages import DEADLINE_SECS
from hugmood.core.settings import Settings
from hugmood.core.structs import Envelope
from hugmood.core.validation import convert
from hugmood.delivery import connections
from hugmood.delivery.bus import Emission
from hugmood.delivery.connections import Live
from hugmood.delivery.models import Hello, Resync
from hugmood.services import Services
from realtime.handlers import EVENTS
from realtime.transport import jsoncodec
from realtime.transport.engine import EngineIO
from realtime.transport.manager import RedisManager
from realtime.transport.wire import event_packet

log = logging.getLogger("hugmood.realtime")

MAX_MESSAGE_BYTES = 64 * 1024  # one client frame; larger frames close the connection
REFUSABLE = ("unauthorized", "unavailable")  # the codes a refused connect carries


class _Server(socketio.AsyncServer):
    """python-socketio's server with three hooks: every client event goes through
    `RealtimeServer.dispatch` (which learns whether the client asked for an ack); `hello` is
    sent right after the CONNECT packet; undecodable packets end the connection quietly."""

    dispatch: Callable[[str, str, tuple[Any, ...], bool], Awaitable[dict[str, Any]]]
    connected: Callable[[str], Awaitable[None]]

    def _engineio_server_class(self):
        return EngineIO

    async def _handle_connect(self, eio_sid, namespace, data):
        await super()._handle_connect(eio_sid, namespace, data)
        await self.connected(eio_sid)

    async def _handle_eio_message(self, eio_sid, data):
        """A packet python-socketio cannot handle (not Socket.IO, not an event) ends the
        connection with one info line, the client's mistake, instead of a traceback per frame
        for as long as the client sends. Any other failure is ours: logged with its traceback."""
        try:
            await super()._handle_eio_message(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            log.info("client packet not understood; closing", extra={"error": repr(exc)})
            await self.eio.disconnect(eio_sid)
        except Exception:
            log.exception("client packet failed; closing the connection")
            await self.eio.disconnect(eio_sid)

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        answer = await self.dispatch(sid, data[0], tuple(data[1:]), id is not None)
        if id is not None:
            await self._send_packet(
                eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[answer])
            )
        elif not answer["ok"]:
            await self.emit("event.error", Envelope(at=datetime.now(UTC), data=answer), to=sid)


class _Seat:
    """`connections.Seat` over the manager's rooms; the first join holds the connection's
    events back until its `hello` is out."""

    def __init__(self, sio: _Server, sid: str) -> None:
        self._sio = sio
        self._manager: RedisManager = sio.manager
        self._sid = sid
        self._rooms: list[str] = []
        self._watched: list[str] = []

    def join(self, rooms: list[str]) -> None:
        if not self._rooms:
            eio_sid = self._manager.eio_sid_from_sid(self._sid, "/")
            if (socket := self._sio.eio.sockets.get(eio_sid)) is not None:
                socket.hold()
        for room in rooms:
            self._manager.basic_enter_room(self._sid, "/", room)
        self._rooms += rooms

    def leave_all(self) -> None:
        for room in self._rooms:
            self._manager.basic_leave_room(self._sid, "/", room)
        self._rooms = []

    def moves(self, room: str) -> int:
        if room not in self._watched:
            self._manager.watch_moves(room)
            self._watched.append(room)
        return self._manager.moves_to(room)

    def done(self) -> None:
        for room in self._watched:
            self._manager.unwatch_moves(room)


class RealtimeServer:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.started: Services | None = None  # set by the application's lifespan
        self.live: dict[str, Live] = {}  # this process's open connections by sid
        self._hellos: dict[str, Hello] = {}  # opened, CONNECT not yet sent
        self.sio = _Server(
            async_mode="asgi",
            client_manager=RedisManager(settings, redis),
            json=jsoncodec,
            transports=["websocket"],
            cors_allowed_origins=list(settings.cors_origins) or None,
            ping_interval=settings.ping_interval_secs,
            ping_timeout=settings.ping_timeout_secs,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
        )
        self.sio.dispatch = self.dispatch
        self.sio.connected = self._send_hello
        self.manager.on_resubscribed = self.reconcile
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)

    @property
    def services(self) -> Services:
        if self.started is None:
            raise AppError("unavailable", "server is starting")
        return self.started

    def _outage(self, exc: Exception) -> AppError | None:
        return self.started.ctx.outages.failed(exc) if self.started is not None else None

    @property
    def manager(self) -> RedisManager:
        return self.sio.manager

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request_id.set(sid)
        # Held for the connection's life by python-socketio; a websocket never reads this body
        # reader, whose class engine.io defines anew per request (2.4 KB per connection).
        environ.pop("wsgi.input", None)
        token = auth.get("token") if isinstance(auth, dict) else None
        seat = _Seat(self.sio, sid)
        try:
            live, hello = await connections.open_connection(self.services.ctx, token, sid, seat)
        except Exception as exc:
            error = exc if isinstance(exc, AppError) else self._outage(exc)
            if error is None or error.code not in REFUSABLE:
                log.warning("connect failed", extra={"error": repr(exc)})
                error = AppError("unavailable", "the service is unavailable; retry shortly")
            raise socketio.exceptions.ConnectionRefusedError(
                error.message, {"code": error.code, "message": error.message}
            ) from None
        finally:
            seat.done()
        self.live[sid] = live
        self._hellos[sid] = hello
        log.info("connected", extra={"user_id": str(live.user_id)})

    async def _send_hello(self, eio_sid: str) -> None:
        """Right after python-socketio sent CONNECT: `hello`, then what was held back."""
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        hello = self._hellos.pop(sid, None) if sid is not None else None
        if hello is None or (socket := self.sio.eio.sockets.get(eio_sid)) is None:
            return
        envelope = Envelope(at=hello.server_time, data=hello)
        await socket.release(
            eio_packet.Packet(eio_packet.MESSAGE, event_packet("hello", envelope)[1:].decode())
        )

    async def reconcile(self) -> None:
        """The Redis subscription is back after a break, so room moves and events published
        meanwhile never reached this process: re-seat every connection in the audience and
        group hug rooms PostgreSQL says now, then tell each to `sync` (`resync`), which replays
        the durable events it missed and brings a fresh snapshot. (Presence entries heal with
        the next heartbeat.)"""
        try:
            ctx = self.services.ctx
            by_user: dict[uuid.UUID, list[str]] = {}
            for live in list(self.live.values()):
                by_user.setdefault(live.user_id, []).append(live.sid)
            seats = await connections.seated_rooms(ctx, list(by_user))
            for user, sids in by_user.items():
                for sid in sids:
                    if sid in self.live:
                        self.manager.reseat(sid, seats[user])
            if sids := list(self.live):
                resync = Envelope(at=datetime.now(UTC), data=Resync())
                await self.manager.deliver_here(Emission("resync", resync, sids))
            log.info(
                "reconciled after the subscription came back", extra={"connections": len(sids)}
            )
        except Exception as exc:
            if self._outage(exc) is None:
                log.exception("reconciling after the subscription came back failed")

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        request_id.set(sid)
        log.info("disconnected", extra={"reason": str(reason)})
        self._hellos.pop(sid, None)
        if (live := self.live.pop(sid, None)) is None:
            return
        try:
            await connections.close_connection(self.services.ctx, live)
        except AppError as exc:  # Redis down, or the batch of disconnects not answered in time
            log.info("presence not removed; it expires", extra={"error": exc.message})
        except Exception as exc:
            # Its presence entry expires with the TTL: no heartbeat registers it any more.
            if self._outage(exc) is None:
                log.exception("closing the connection failed")

    async def dispatch(
        self, sid: str, name: str, args: tuple[Any, ...], wants_ack: bool
    ) -> dict[str, Any]:
        """Answer one client event: `{ok: true, ...}` or `{ok: false, error}`, never silence."""
        request_id.set(sid)
        try:
            svc = self.services
            if (live := self.live.get(sid)) is None:
                raise AppError("unauthorized", "the connection is not open")
            await svc.limiter.hit(
                "socket event", str(live.user_id), svc.ctx.settings.rate_socket_events
            )
            event = EVENTS.get(name) if isinstance(name, str) else None
            if event is None:
                raise AppError("invalid", f"unknown event {name!r}")
            if not wants_ack:
                raise AppError("invalid", f"{name} needs an ack callback; nothing was done")
            if len(args) != 1:
                raise AppError("invalid", f"{name} takes exactly one payload object")
            async with asyncio.timeout(DEADLINE_SECS):
                result = await event.handler(svc, live, convert(args[0], event.payload))
            svc.ctx.outages.succeeded()
            return {"ok": True, **result}
        except AppError as exc:
            if exc.code == "unavailable":
                self._outage(exc)  # counted (and logged once) as an outage
            return {"ok": False, "error": exc.to_dict()}
        except Exception as exc:
            if (outage := self._outage(exc)) is not None:
                return {"ok": False, "error": outage.to_dict()}
            log.exception("client event failed", extra={"event": name})
            return {"ok": False, "error": AppError("internal", "internal error").to_dict()}
