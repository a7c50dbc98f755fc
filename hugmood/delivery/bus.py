"""The outbound event bus: the one way the domain tells connected clients that something happened.

The domain does not know Socket.IO; it hands events to a `Publisher`, which the web process backs
with its Socket.IO server (reaching every process through Redis pub/sub) and workers back with a
write-only Redis emitter. Which rooms an event goes to is decided here and in
`hugmood.delivery.rooms`, never by clients.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from msgspec import UNSET

from hugmood.core.structs import Envelope
from hugmood.delivery.models import EndReason
from hugmood.delivery.rooms import TIERS, Tier, audience_room, session_room, user_room


class Emission(NamedTuple):
    """One event for every live connection in any of `rooms` (each connection gets it once)."""

    event: str
    payload: Envelope
    rooms: list[str]


class Publisher(Protocol):
    async def emit(self, emissions: list[Emission]) -> None:
        """Publish the emissions, in order, to every process (one Redis message for them all)."""

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        """Connections in room `members_of`, on every process, leave and join rooms."""

    async def end(self, room: str, reason: str) -> None:
        """Connections in `room`, on every process, are told `session.ended {reason}` and
        disconnected."""


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
        await self.to_users([(user_id, event, data, seq, at)])

    async def to_users(
        self, events: list[tuple[uuid.UUID, str, Any, int | None, datetime | None]]
    ) -> None:
        """Publish `(user_id, event, data, seq, at)` events in order, all in one publish."""
        now = datetime.now(UTC)
        await self._publisher.emit(
            [
                Emission(
                    event,
                    Envelope(at=at or now, data=data, seq=UNSET if seq is None else seq),
                    [user_room(user_id)],
                )
                for user_id, event, data, seq, at in events
            ]
        )

    async def to_audience(
        self, owner: uuid.UUID, tiers: list[Tier], event: str, data: Any, include_owner: bool
    ) -> None:
        """One ephemeral event to the owner's audience tiers (and own devices), one publish."""
        rooms = [audience_room(owner, tier) for tier in tiers]
        if include_owner:
            rooms.append(user_room(owner))
        if rooms:
            envelope = Envelope(at=datetime.now(UTC), data=data)
            await self._publisher.emit([Emission(event, envelope, rooms)])

    async def to_room(self, room: str, event: str, data: Any) -> None:
        """One ephemeral event to every live connection in a server-managed room."""
        await self._publisher.emit(
            [Emission(event, Envelope(at=datetime.now(UTC), data=data), [room])]
        )

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        """Connections in room `members_of` (a `user_room`, say), on every process, leave and
        join server-managed rooms."""
        await self._publisher.move(members_of, leave, join)

    async def set_tier(self, viewer: uuid.UUID, owner: uuid.UUID, tier: Tier | None) -> None:
        """Put every live connection of `viewer` in `owner`'s audience at `tier` (None: out)."""
        rooms = [audience_room(owner, t) for t in TIERS]
        join = [audience_room(owner, tier)] if tier else []
        await self._publisher.move(user_room(viewer), [r for r in rooms if r not in join], join)

    async def end_session(self, session_id: uuid.UUID, reason: EndReason) -> None:
        """Disconnect every live connection of the session, on every process, saying why."""
        await self._publisher.end(session_room(session_id), reason)
