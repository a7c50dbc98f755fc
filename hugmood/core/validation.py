"""Decoding untrusted payloads into Structs, with errors that name the offending field.

Both transports use this: REST decodes raw JSON bytes, sockets convert already-parsed data. Either
way a wrong type, an unknown field or a value out of bounds becomes `AppError("invalid", ...)`
with `field` set, and nothing downstream runs.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from hugmood.core.errors import AppError

T = TypeVar("T")

_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def _invalid(exc: msgspec.MsgspecError) -> AppError:
    text = str(exc)
    match = _AT_PATH.search(text)
    field = match.group(1) if match and match.group(1) else None
    message = _AT_PATH.sub("", text) if match else text
    if " matching regex " in message:  # the pattern means nothing to a client
        message = "contains characters that are not allowed here"
    for prefix, short in (
        ("Object contains unknown field", "unknown field"),
        ("Object missing required field", "required field is missing"),
    ):
        if message.startswith(prefix):
            name = message.split("`")[1]
            field = f"{field}.{name}" if field else name
            message = short
    return AppError("invalid", message, field)


def decode_json(body: bytes, type: type[T]) -> T:
    """Parse JSON bytes into `type`; malformed JSON and schema violations are `invalid`."""
    try:
        return msgspec.json.decode(body, type=type)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError:
        raise AppError("invalid", "body is not valid JSON") from None


def convert(data: Any, type: type[T], strict: bool = True) -> T:
    """Validate already-parsed data (a socket event payload) into `type`; `strict=False` also
    accepts numbers and booleans written as strings (query parameters)."""
    try:
        return msgspec.convert(data, type=type, strict=strict)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
