"""The Socket.IO server: who may connect, which rooms they are in, how client events are answered.

Guarantees: a connection exists only with a valid access token (else `connect_error` with
`data.code == "unauthorized"`); rooms are joined by the server alone; every client event that
asks for an ack gets `{ok: true, ...}` or `{ok: false, error: {code, message, field?}}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import socketio
from redis.asyncio import Redis
from socketio import packet

from hugmood.core.errors import AppError
from hugmood.core.logs import request_id
from hugmood.core.settings import Settings
from hugmood.core.structs import Envelope
from hugmood.core.validation import convert
from hugmood.delivery.models import Hello
from hugmood.delivery.rooms import audience_room, user_room
from hugmood.delivery.snapshot import snapshot
from hugmood.identity import tokens
from hugmood.identity.models import Principal
from hugmood.identity.users import fetch_user
from hugmood.presence import status
from hugmood.services import Services
from hugmood.social import privacy
from realtime.handlers import EVENTS
from realtime.transport import jsoncodec
from realtime.transport.engine import EngineIO
from realtime.transport.manager import RedisManager

log = logging.getLogger("hugmood.realtime")

MAX_MESSAGE_BYTES = 64 * 1024  # one client frame; larger frames close the connection
SWEEP_INTERVAL_SECS = 1  # how late an offline announcement may be after its grace period


class _Server(socketio.AsyncServer):
    """Routes every client event through `RealtimeServer.dispatch`, telling it whether the
    client asked for an ack (python-socketio hides that from handlers)."""

    dispatch: Callable[[str, str, tuple[Any, ...], bool], Awaitable[dict[str, Any]]]

    def _engineio_server_class(self):
        return EngineIO

    async def _handle_eio_message(self, eio_sid, data):
        """A packet python-socketio cannot handle (not Socket.IO, bad JSON) ends the connection
        with one log line, instead of a traceback per frame for as long as the client sends."""
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception:
            log.warning("client packet failed; closing the connection", exc_info=True)
            await self.eio.disconnect(eio_sid)

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        answer = await self.dispatch(sid, data[0], tuple(data[1:]), id is not None)
        if id is not None:
            await self._send_packet(
                eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[answer])
            )
        elif not answer["ok"]:
            await self.emit("event.error", Envelope(at=datetime.now(UTC), data=answer), to=sid)


class RealtimeServer:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.started: Services | None = None  # set by the application's lifespan
        self.connections: dict[str, uuid.UUID] = {}  # this process's sid -> user
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
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)

    @property
    def services(self) -> Services:
        if self.started is None:
            raise AppError("internal", "server is starting")
        return self.started

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request_id.set(sid)
        # Held for the connection's life by python-socketio; a websocket never reads this body
        # reader, whose class engine.io defines anew per request (2.4 KB per connection).
        environ.pop("wsgi.input", None)
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            ctx = self.services.ctx
            principal = await tokens.authenticate(ctx, token)
            user = await fetch_user(ctx.db, principal.user_id)
        except AppError as exc:
            code = "unauthorized" if exc.code in ("unauthorized", "not_found") else exc.code
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": code, "message": exc.message}
            ) from None
        await self.sio.save_session(sid, principal)
        await self.sio.enter_room(sid, user_room(user.id))
        async with ctx.db.acquire() as conn:
            audiences = await privacy.audience_tiers(conn, user.id)
        for owner, tier in audiences:
            await self.sio.enter_room(sid, audience_room(owner, tier))
        self.connections[sid] = user.id
        await status.connected(ctx, user.id, sid)
        now = datetime.now(UTC)
        view = await snapshot(ctx, user.id)
        await self.sio.emit("hello", Envelope(at=now, data=Hello(user, now, view)), to=sid)
        log.info("connected", extra={"user_id": str(user.id)})

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        request_id.set(sid)
        log.info("disconnected", extra={"reason": str(reason)})
        user_id = self.connections.pop(sid, None)
        if user_id is not None:
            await status.disconnected(self.services.ctx, user_id, sid)

    async def keep_presence(self) -> None:
        """Per process: refresh this process's connections and sweep expired presence. Every
        process sweeps; the Lua update makes sure each change is announced once."""
        ctx = self.services.ctx
        interval = status.heartbeat_secs(ctx)
        last_beat = 0.0
        while True:
            try:
                if time.monotonic() - last_beat >= interval:
                    last_beat = time.monotonic()
                    await status.heartbeat(ctx, [(u, sid) for sid, u in self.connections.items()])
                await status.sweep(ctx)
            except Exception:
                log.exception("presence upkeep failed; retrying")
            await asyncio.sleep(SWEEP_INTERVAL_SECS)

    async def dispatch(
        self, sid: str, name: str, args: tuple[Any, ...], wants_ack: bool
    ) -> dict[str, Any]:
        """Answer one client event: `{ok: true, ...}` or `{ok: false, error}`, never silence."""
        request_id.set(sid)
        try:
            svc = self.services
            caller: Principal = await self.sio.get_session(sid)
            await svc.limiter.hit(
                "socket event", str(caller.user_id), svc.ctx.settings.rate_socket_events
            )
            event = EVENTS.get(name)
            if event is None:
                raise AppError("invalid", f"unknown event {name!r}")
            if not wants_ack:
                raise AppError("invalid", f"{name} needs an ack callback; nothing was done")
            if len(args) != 1:
                raise AppError("invalid", f"{name} takes exactly one payload object")
            result = await event.handler(svc, caller, sid, convert(args[0], event.payload))
            return {"ok": True, **result}
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}
        except Exception:
            log.exception("client event failed", extra={"event": name})
            return {"ok": False, "error": AppError("internal", "internal error").to_dict()}
