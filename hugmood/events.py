"""The outbound event bus: the one way the domain tells connected clients that something happened.

The domain does not know Socket.IO; it hands events to a `Publisher`, which the web process backs
with its Socket.IO server (reaching every process through Redis pub/sub) and workers back with a
write-only Redis emitter. Rooms are named here only, never by clients.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from msgspec import UNSET

from hugmood.models import Envelope


class Publisher(Protocol):
    async def emit(self, event: str, payload: Envelope, room: str) -> None: ...


def user_room(user_id: uuid.UUID) -> str:
    """Every connection of a user joins this room at connect."""
    return f"user:{user_id}"


class EventBus:
    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    async def to_user(
        self,
        user_id: uuid.UUID,
        event: str,
        data: Any,
        seq: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Publish `event` to every live connection of `user_id`, on every process."""
        envelope = Envelope(
            at=at or datetime.now(UTC), data=data, seq=UNSET if seq is None else seq
        )
        await self._publisher.emit(event, envelope, user_room(user_id))
