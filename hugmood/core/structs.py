"""The few Structs every feature shares: the base of client payloads, bounded text, the event
envelope and keyset pages.

Inbound Structs forbid unknown fields and carry their bounds, so a malformed payload is rejected
with a field-level `invalid` error before any rule runs. Each feature defines its own Structs in
its `models` module on top of these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from msgspec import UNSET, Meta, Struct, UnsetType

T = TypeVar("T")

# PostgreSQL text cannot hold NUL, nor UTF-8 a lone UTF-16 surrogate (what a client sends when
# it cuts a string inside an emoji): no client string may contain either.
NO_NUL = r"^[^\x00\ud800-\udfff]*$"


def Text(max_length: int, min_length: int = 0) -> Any:
    """A bounded client string without NUL characters."""
    return Annotated[str, Meta(min_length=min_length, max_length=max_length, pattern=NO_NUL)]


# A client's idempotency key for a write it may retry (`hug:send`, `mood:update`): a retry with
# the same key returns the first result instead of writing again.
ClientId = Text(64, min_length=1)


class Inbound(Struct, forbid_unknown_fields=True, frozen=True):
    """Base of every client-supplied payload."""


class Envelope(Struct, frozen=True, omit_defaults=True):
    """Every server-to-client event: `seq` is present exactly on durable events."""

    at: datetime
    data: Any
    seq: int | UnsetType = UNSET


class PageQuery(Inbound):
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Text(200) | None = None


class Page(Struct, Generic[T], frozen=True):
    """One page of a keyset-paginated list: pass `next_cursor` back for the next (None: done)."""

    items: list[T]
    next_cursor: str | None
