"""Request ids, access logs and the request deadline for HTTP, as plain ASGI (no per-request
task or body buffering)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hugmood.core.logs import request_id
from hugmood.core.outages import DEADLINE_SECS
from rest.http import error_response

log = logging.getLogger("hugmood.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Tags the request with the caller's `X-Request-ID` (if sane) or a new one, echoes it in
    the response, and writes one JSON access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = supplied if _SAFE_ID.match(supplied) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        started_services = getattr(scope["app"].state, "services", None)
        outages = started_services.ctx.outages if started_services is not None else None
        try:
            async with asyncio.timeout(DEADLINE_SECS):
                await self.app(scope, receive, send_with_id)
            if status < 500 and outages is not None:
                outages.succeeded()
        except TimeoutError as exc:
            # Past the deadline the dependency it waits on is as good as down.
            outage = outages.failed(exc) if outages is not None else None
            if responded or outage is None:
                raise
            response = error_response(outage.code, outage.message, 503)
            response.headers["Retry-After"] = str(outage.retry_after)
            await response(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id.reset(token)
