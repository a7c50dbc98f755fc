"""What every route shares: bounded JSON bodies into Structs, msgspec responses, the caller's
identity and IP, and the one mapping from `AppError` codes to HTTP statuses.

Whatever a client sends (a body of another media type, bytes that are not UTF-8 in the body or
the query, JSON over the limits of `hugmood.core.validation`) is a 400 `invalid`, never a 500."""

from __future__ import annotations

import logging
import uuid
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hugmood.core.errors import AppError
from hugmood.core.outages import unavailable
from hugmood.core.validation import convert, decode_json
from hugmood.identity import tokens
from hugmood.identity.models import Principal
from hugmood.services import Services

T = TypeVar("T")
log = logging.getLogger("hugmood.rest")

STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
}
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
_encoder = msgspec.json.Encoder()


def services(request: Request) -> Services:
    return request.app.state.services


def json_response(value: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(value), status, media_type="application/json")


def error_response(code: str, message: str, status: int, field: str | None = None) -> Response:
    error = {"code": code, "message": message} | ({"field": field} if field else {})
    return json_response({"error": error}, status)


def _is_json(media_type: str) -> bool:
    """`application/json` or `application/*+json` (lowercase, without parameters)."""
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def body(request: Request, type: type[T]) -> T:
    """The request's JSON body as `type`; a body of another declared media type, over-large or
    malformed, is `invalid`. A missing `Content-Type` is read as JSON: clients rely on that."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type and not _is_json(media_type):
        raise AppError(
            "invalid", f"send the body as JSON (Content-Type: application/json), not {media_type}"
        )
    limit = services(request).ctx.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise AppError("invalid", f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AppError("invalid", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return decode_json(b"".join(chunks), type)


def client_ip(request: Request) -> str:
    """The peer address; behind a proxy uvicorn rewrites it from X-Forwarded-For for the
    addresses in FORWARDED_ALLOW_IPS only, so clients cannot pick their own rate-limit bucket."""
    return request.client.host if request.client else "unknown"


async def principal(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AppError("unauthorized", "send 'Authorization: Bearer <access token>'")
    return await tokens.authenticate(services(request).ctx, token.strip())


async def on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    started = getattr(request.app.state, "services", None)
    if exc.code == "unavailable" and started is not None:
        started.ctx.outages.failed(exc)  # counted (and logged once) as an outage
    response = error_response(exc.code, exc.message, STATUS[exc.code], exc.field)
    if exc.code == "unauthorized":
        response.headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid")
    return error_response(code, str(exc.detail), exc.status_code)


async def on_outage(request: Request, exc: Exception) -> Response:
    """A dependency that is down: `unavailable` (503, logged once per outage), answered inside
    Starlette's exception layer so that no traceback is logged for it."""
    started = getattr(request.app.state, "services", None)
    outage = started.ctx.outages.failed(exc) if started is not None else None
    return await on_app_error(request, outage or unavailable())


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: `internal`, with its traceback in the log and no details in the answer."""
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response("internal", "internal error", 500)


def path_id(request: Request, name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params[name])
    except ValueError:
        raise AppError("invalid", "not a valid id", name) from None


def query(request: Request, type: type[T]) -> T:
    """Query parameters as `type` (numbers arrive as strings, hence not strict). Starlette would
    turn bytes that are not UTF-8 into U+FFFD; they are `invalid` instead."""
    try:
        unquote_to_bytes(request.scope["query_string"]).decode()
    except UnicodeDecodeError:
        raise AppError("invalid", "query string is not valid UTF-8") from None
    return convert(dict(request.query_params), type, strict=False)
