"""Keyset cursors of catalog lists, which sort by more than time: `(sort, key, id)` inside.

Like `hugmood.core.pagination` (whose time bounds and `invalid` answer these share), a page
continues strictly after its cursor's `(key, id)`, so rows inserted meanwhile never shift a
page. The sort is part of the cursor: one sort's cursor is refused by another.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import msgspec

from hugmood.core.errors import AppError
from hugmood.core.pagination import MAX_TIME, MIN_TIME

# The type of each sort's key: relevance is a score, prices and popularity integers.
KEY_TYPES: dict[str, type] = {
    "relevance": float,
    "price": int,
    "price_desc": int,
    "popularity": int,
    "newest": datetime,
}


def encode(sort: str, key: Any, item_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([sort, key, item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    """The `(key, id)` after which the page starts; `invalid` for a cursor that is malformed,
    forged or of another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, key, item_id = msgspec.json.decode(raw, type=tuple[str, Any, uuid.UUID])
        if kind != sort:
            raise AppError("invalid", f"this cursor belongs to sort={kind}", "cursor")
        key = msgspec.convert(key, KEY_TYPES[sort])
        if isinstance(key, datetime) and (key.tzinfo is None or not MIN_TIME <= key <= MAX_TIME):
            raise ValueError("cursor time out of range")
        if isinstance(key, int) and not -(2**31) <= key < 2**31:
            raise ValueError("cursor key out of range")
        if isinstance(key, float) and key != key:
            raise ValueError("cursor key is not a number")
    except (ValueError, OverflowError, msgspec.MsgspecError):
        raise AppError("invalid", "malformed cursor", "cursor") from None
    return key, item_id
