"""Decoding untrusted payloads into Structs, with errors that name the offending field.

Both transports use this: REST decodes raw JSON bytes, sockets convert already-parsed data. Either
way a wrong type, an unknown field or a value out of bounds becomes `AppError("invalid", ...)`
with `field` set, and nothing downstream runs.

Before anything is decoded, a client document is held to `MAX_DEPTH` and `MAX_ITEMS` (its size is
already bounded by the transport: `MAX_BODY_BYTES`, 64 KiB socket frames). A decoder recurses
once per level, so a few kilobytes of `[[[[…` would otherwise end in a `RecursionError` instead of
an answer.
"""

from __future__ import annotations

import re
from itertools import accumulate, islice
from typing import Any, TypeVar

import msgspec

from hugmood.core.errors import AppError

T = TypeVar("T")

MAX_DEPTH = 32  # levels of arrays and objects in one document; our payloads need at most 4
# Array elements and object members in one document, counted together (an upper bound: commas
# plus containers); the largest payload, a hug request to 50 people, has about 55.
MAX_ITEMS = 1000

_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
# `limits_broken` reduces a document to its quotes, brackets (`{}` read as `[]`) and commas.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{},')))  # the bytes it drops
_BRACKET_RUNS = re.compile(rb"\[+|\]+")


class Unreadable(msgspec.Struct, frozen=True):
    """A socket payload the JSON codec refused to decode, carried in its place so the event is
    still answered: `convert` rejects it as `invalid` with `reason`."""

    reason: str


def limits_broken(document: str) -> str | None:
    """Why `document` must not be decoded ("nests deeper than 32 levels", "holds more than 1000
    items"), or None. Looks only at brackets and commas outside strings and decodes nothing;
    every step is a C-level pass, so even a hostile 64 KiB frame costs about a millisecond."""
    opens = document.count("[") + document.count("{")
    if opens <= MAX_DEPTH and opens + document.count(",") <= MAX_ITEMS:
        return None  # the usual case: within both limits even counting inside strings
    # Without escaped backslashes and quotes, every quote left opens or closes a string.
    unescaped = document.replace("\\\\", "").replace('\\"', "")
    kept = unescaped.encode("ascii", "ignore").translate(_BRACKETS, _NOT_STRUCTURE)
    # A string is an object key or an item, so a document within the limit has at most
    # 2 * MAX_ITEMS + 1 strings: more quotes than that need no closer look.
    if kept.count(b'"') > 2 * (2 * MAX_ITEMS + 1) + 1:
        return f"holds more than {MAX_ITEMS} items"
    structure = b"".join(kept.split(b'"')[::2])  # the parts between strings
    opens = structure.count(b"[")
    if opens > MAX_DEPTH:
        # Within MAX_ITEMS a document has at most 2 * MAX_ITEMS + 1 runs of brackets, so these
        # runs show any depth over the limit, or the document holds too many items anyway.
        runs = (m[0] for m in islice(_BRACKET_RUNS.finditer(structure), 2 * MAX_ITEMS + 2))
        if max(accumulate(len(r) if r[:1] == b"[" else -len(r) for r in runs)) > MAX_DEPTH:
            return f"nests deeper than {MAX_DEPTH} levels"
    if opens + structure.count(b",") > MAX_ITEMS:
        return f"holds more than {MAX_ITEMS} items"
    return None


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
    """Parse JSON bytes into `type`; bytes that are not UTF-8, documents over the limits,
    malformed JSON and schema violations are `invalid`."""
    try:
        text = body.decode()  # msgspec checks UTF-8 only in the strings it keeps
    except UnicodeDecodeError as exc:
        raise AppError("invalid", f"body is not valid UTF-8 (byte {exc.start})") from None
    broken = limits_broken(text)
    if broken is not None:
        raise AppError("invalid", f"body {broken}")
    try:
        return msgspec.json.decode(body, type=type)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError:
        raise AppError("invalid", "body is not valid JSON") from None


def convert(data: Any, type: type[T], strict: bool = True) -> T:
    """Validate already-parsed data (a socket event payload) into `type`; `strict=False` also
    accepts numbers and booleans written as strings (query parameters)."""
    if isinstance(data, Unreadable):
        raise AppError("invalid", data.reason)
    try:
        return msgspec.convert(data, type=type, strict=strict)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
