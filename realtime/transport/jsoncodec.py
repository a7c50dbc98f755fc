"""msgspec as python-socketio's JSON module: faster than the stdlib, and it encodes our Structs,
UUIDs and datetimes directly, so payloads are never converted to dicts first.

`loads` sees two kinds of input. Text (`str`) comes from clients: python-socketio and
python-engineio decode websocket text frames with it (binary frames are Socket.IO attachments and
never pass through here). It is held to `hugmood.core.validation`'s limits before it is decoded,
and an event whose name can be read but not its payload (over a limit, or not JSON) still
reaches the dispatcher: as `[name, Unreadable(reason)]`, which `convert` answers with `invalid`.
Bytes are pub/sub messages between our own processes and are decoded as they are.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from hugmood.core.validation import Unreadable, limits_broken

_encoder = msgspec.json.Encoder()
# The event name at the start of a Socket.IO event array, `["name", ...`, read only to address
# the answer; the limit keeps the match short.
_EVENT_NAME = re.compile(r'\s*\[\s*("(?:[^"\\]|\\.){0,100}")')


def dumps(obj: Any, **_: Any) -> str:
    """python-socketio passes `separators=`; msgspec output is already compact."""
    return _encoder.encode(obj).decode()


def _decode(data: str | bytes) -> Any:
    """msgspec refuses lone UTF-16 surrogates (`"\\ud83d"`), which browsers send when a string
    is cut inside an emoji, and integers beyond 64 bits; the stdlib accepts both, so the event
    still gets a field-level `invalid` answer from validation instead of being dropped."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def loads(data: str | bytes) -> Any:
    """Decoded JSON. Client text over the limits or not JSON at all is, if it starts like an
    event (`["name", ...`), that event with an `Unreadable` payload; else a `ValueError`, as
    from any JSON module (python-engineio then keeps the text as it is, python-socketio drops
    the connection)."""
    if isinstance(data, bytes):
        return _decode(data)
    reason = limits_broken(data)
    if reason is None:
        try:
            return _decode(data)
        except json.JSONDecodeError:
            reason = "is not valid JSON"
        except ValueError:  # an integer of more than 4300 digits
            reason = "has a number too large to read"
    name = _event_name(data)
    if name is None:
        raise ValueError(f"payload {reason}")
    return [name, Unreadable(f"payload {reason}")]


def _event_name(data: str) -> str | None:
    """The name of the event `data` was meant to be, if it can be read."""
    match = _EVENT_NAME.match(data)
    try:
        name = json.loads(match.group(1)) if match else None
    except ValueError:
        return None
    return name if isinstance(name, str) else None
