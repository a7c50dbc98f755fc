"""Keyset pagination cursors: opaque to clients, `(timestamp, id)` of the last item inside.

Every list endpoint orders by `(time DESC, id DESC)`, continues strictly after the cursor and
fetches one row more than the page, which `page` turns into the items and the next cursor; pages
never overlap or skip rows even while new rows arrive.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from hugmood.core.errors import AppError
from hugmood.core.structs import Page

R = TypeVar("R")
T = TypeVar("T")
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


def page(
    rows: Sequence[R], limit: int, item: Callable[[R], T], position: Callable[[R], Position]
) -> Page[T]:
    """The first `limit` of `rows` (fetched with `LIMIT limit + 1`) as items, and the cursor
    after the last of them when there are more."""
    more = len(rows) > limit
    return Page(
        [item(row) for row in rows[:limit]],
        encode_cursor(*position(rows[limit - 1])) if more else None,
    )
