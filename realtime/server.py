"""The Socket.IO server: who may connect, which rooms they are in, how client events are answered.

Guarantees: a connection exists only with a valid access token (else `connect_error` with
`data.code == "unauthorized"`); rooms are joined by the server alone; every client event that
asks for an ack gets `{ok: true, ...}` or `{ok: false, error: {code, message, field?}}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import socketio
from socketio import packet

from hugmood import ratelimit, tokens
from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.events import user_room
from hugmood.logs import request_id
from hugmood.models import Envelope, Hello, Principal
from hugmood.settings import Settings
from hugmood.users import fetch_user
from hugmood.validation import convert
from realtime import jsoncodec
from realtime.handlers import EVENTS
from realtime.manager import RedisManager

log = logging.getLogger("hugmood.realtime")

PING_INTERVAL_SECS = 25  # under the 30 s idle timeout of common load balancers
PING_TIMEOUT_SECS = 20
MAX_MESSAGE_BYTES = 64 * 1024  # one client frame; larger frames close the connection


class _Server(socketio.AsyncServer):
    """Routes every client event through `RealtimeServer.dispatch`, telling it whether the
    client asked for an ack (python-socketio hides that from handlers)."""

    dispatch: Callable[[str, str, tuple[Any, ...], bool], Awaitable[dict[str, Any]]]

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
        self.sio = _Server(
            async_mode="asgi",
            client_manager=RedisManager(settings),
            json=jsoncodec,
            transports=["websocket"],
            cors_allowed_origins=list(settings.cors_origins) or None,
            ping_interval=PING_INTERVAL_SECS,
            ping_timeout=PING_TIMEOUT_SECS,
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
        now = datetime.now(UTC)
        await self.sio.emit("hello", Envelope(at=now, data=Hello(user, now)), to=sid)
        log.info("connected", extra={"user_id": str(user.id)})

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        request_id.set(sid)
        log.info("disconnected", extra={"reason": str(reason)})

    async def dispatch(
        self, sid: str, name: str, args: tuple[Any, ...], wants_ack: bool
    ) -> dict[str, Any]:
        """Answer one client event: `{ok: true, ...}` or `{ok: false, error}`, never silence."""
        request_id.set(sid)
        try:
            ctx = self.context
            caller: Principal = await self.sio.get_session(sid)
            await ratelimit.hit(
                ctx, "socket_event", str(caller.user_id), ctx.settings.rate_socket_events
            )
            event = EVENTS.get(name)
            if event is None:
                raise AppError("invalid", f"unknown event {name!r}")
            if not wants_ack:
                raise AppError("invalid", f"{name} needs an ack callback; nothing was done")
            if len(args) != 1:
                raise AppError("invalid", f"{name} takes exactly one payload object")
            result = await event.handler(ctx, caller, convert(args[0], event.payload))
            return {"ok": True, **result}
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}
        except Exception:
            log.exception("client event failed", extra={"event": name})
            return {"ok": False, "error": AppError("internal", "internal error").to_dict()}
