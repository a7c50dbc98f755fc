"""The Socket.IO server: who may connect, which rooms they are in, how client events are answered.

Guarantees: a connection exists only with a valid access token (else `connect_error` with
`data.code == "unauthorized"`); rooms are joined by the server alone; every client event that
asks for an ack gets `{ok: true, ...}` or `{ok: false, error: {code, message, field?}}`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import socketio

from hugmood import tokens
from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.events import user_room
from hugmood.logs import request_id
from hugmood.models import Envelope, Hello, Principal
from hugmood.settings import Settings
from hugmood.users import fetch_user
from realtime import jsoncodec
from realtime.manager import RedisManager

log = logging.getLogger("hugmood.realtime")

PING_INTERVAL_SECS = 25  # under the 30 s idle timeout of common load balancers
PING_TIMEOUT_SECS = 20
MAX_MESSAGE_BYTES = 64 * 1024  # one client frame; larger frames close the connection


class RealtimeServer:
    def __init__(self, settings: Settings) -> None:
        self.ctx: Context | None = None  # set by the application's lifespan
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=RedisManager(settings),
            json=jsoncodec,
            transports=["websocket"],
            cors_allowed_origins=list(settings.cors_origins) or None,
            ping_interval=PING_INTERVAL_SECS,
            ping_timeout=PING_TIMEOUT_SECS,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
        )
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)
        self.sio.on("*", self.unknown_event)

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

    async def principal(self, sid: str) -> Principal:
        return await self.sio.get_session(sid)

    async def unknown_event(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        request_id.set(sid)
        error = AppError("invalid", f"unknown event {event!r}")
        return {"ok": False, "error": error.to_dict()}
