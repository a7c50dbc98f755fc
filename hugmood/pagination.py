"""Keyset pagination cursors: opaque to clients, `(timestamp, id)` of the last item inside.

Every list endpoint orders by `(time DESC, id DESC)` and continues strictly after the cursor, so
pages never overlap or skip rows even while new rows arrive.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import msgspec

from hugmood.errors import AppError

Position = tuple[datetime, uuid.UUID]
# Cursors only ever hold times we wrote; anything PostgreSQL cannot represent is forged.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def encode_cursor(at: datetime, item_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([at, item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Position | tuple[None, None]:
    if cursor is None:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, item_id = msgspec.json.decode(raw, type=Position)
        if at.tzinfo is None or not MIN_TIME <= at <= MAX_TIME:
            raise ValueError("cursor time out of range")
        return at, item_id
    except (ValueError, OverflowError, msgspec.MsgspecError):
        raise AppError("invalid", "malformed cursor", "cursor") from None
