"""msgspec as python-socketio's JSON module: faster than the stdlib, and it encodes our Structs,
UUIDs and datetimes directly, so payloads are never converted to dicts first."""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def dumps(obj: Any, **_: Any) -> str:
    """python-socketio passes `separators=`; msgspec output is already compact."""
    return _encoder.encode(obj).decode()


def loads(data: str | bytes) -> Any:
    return msgspec.json.decode(data)
