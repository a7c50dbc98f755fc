"""msgspec as python-socketio's JSON module: faster than the stdlib, and it encodes our Structs,
UUIDs and datetimes directly, so payloads are never converted to dicts first."""

from __future__ import annotations

import json
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def dumps(obj: Any, **_: Any) -> str:
    """python-socketio passes `separators=`; msgspec output is already compact."""
    return _encoder.encode(obj).decode()


def loads(data: str | bytes) -> Any:
    """msgspec refuses lone UTF-16 surrogates (`"\\ud83d"`), which browsers send when a string
    is cut inside an emoji; the stdlib accepts them, so the event still gets a field-level
    `invalid` answer from validation instead of being dropped unanswered."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)
