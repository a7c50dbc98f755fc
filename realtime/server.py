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
from socketio import packet

from hugmood import presence, ratelimit, social, tokens
from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.events import audience_room, user_room
from hugmood.logs import request_id
from hugmood.models import Envelope, Hello, Principal
from hugmood.settings import Settings
from hugmood.snapshot import snapshot
from hugmood.users import fetch_user
from hugmood.validation import convert
from realtime import jsoncodec
from realtime.engine import EngineIO
from realtime.handlers import EVENTS
from realtime.manager import RedisManager

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
    def __init__(self, settings: Settings) -> None:
        self.ctx: Context | None = None  # set by the application's lifespan
        self.connections: dict[str, uuid.UUID] = {}  # this process's sid -> user
        self.sio = _Server(
            async_mode="asgi",
            client_manager=RedisManager(settings),
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
    def context(self) -> Context:
        if self.ctx is None:
            raise AppError("internal", "server is starting")
        return self.ctx

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request_id.set(sid)
        # Held for the connection's life by python-socketio; a websocket never reads this body
        # reader, whose class engine.io defines anew per request (2.4 KB per connection).
        environ.pop("wsgi.input", None)
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            principal = await tokens.authenticate(self.context, token)
            user = await fetch_user(self.context.db, principal.user_id)
        except AppError as exc:
            code = "unauthorized" if exc.code in ("unauthorized", "not_found") else exc.code
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": code, "message": exc.message}
            ) from None
        await self.sio.save_session(sid, principal)
        await self.sio.enter_room(sid, user_room(user.id))
        async with self.context.db.acquire() as conn:
            audiences = await social.audience_tiers(conn, user.id)
        for owner, tier in audiences:
            await self.sio.enter_room(sid, audience_room(owner, tier))
        self.connections[sid] = user.id
        await presence.connected(self.context, user.id, sid)
        now = datetime.now(UTC)
        view = await snapshot(self.context, user.id)
        await self.sio.emit("hello", Envelope(at=now, data=Hello(user, now, view)), to=sid)
        log.info("connected", extra={"user_id": str(user.id)})

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        request_id.set(sid)
        log.info("disconnected", extra={"reason": str(reason)})
        user_id = self.connections.pop(sid, None)
        if user_id is not None:
            await presence.disconnected(self.context, user_id, sid)

    async def keep_presence(self) -> None:
        """Per process: refresh this process's connections and sweep expired presence. Every
        process sweeps; the Lua update makes sure each change is announced once."""
        ctx = self.context
        interval = presence.heartbeat_secs(ctx)
        last_beat = 0.0
        while True:
            try:
                if time.monotonic() - last_beat >= interval:
                    last_beat = time.monotonic()
                    await presence.heartbeat(ctx, [(u, sid) for sid, u in self.connections.items()])
                await presence.sweep(ctx)
            except Exception:
                log.exception("presence upkeep failed; retrying")
            await asyncio.sleep(SWEEP_INTERVAL_SECS)

    async def dispatch(
        self, sid: str, name: str, args: tuple[Any, ...], wants_ack: bool
    ) -> dict[str, Any]:
        """Answer one client event: `{ok: true, ...}` or `{ok: false, error}`, never silence."""
        request_id.set(sid)
        try:
            ctx = self.context
            caller: Principal = await self.sio.get_session(sid)
            await ratelimit.hit(
                ctx, "socket event", str(caller.user_id), ctx.settings.rate_socket_events
            )
            event = EVENTS.get(name)
            if event is None:
                raise AppError("invalid", f"unknown event {name!r}")
            if not wants_ack:
                raise AppError("invalid", f"{name} needs an ack callback; nothing was done")
            if len(args) != 1:
                raise AppError("invalid", f"{name} takes exactly one payload object")
            result = await event.handler(ctx, caller, sid, convert(args[0], event.payload))
            return {"ok": True, **result}
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}
        except Exception:
            log.exception("client event failed", extra={"event": name})
            return {"ok": False, "error": AppError("internal", "internal error").to_dict()}
