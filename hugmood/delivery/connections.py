"""The lifecycle of one live connection: what it is subscribed to, for how long, and that a
failed open leaves nothing behind.

Open, in order: authenticate the access token; join the user's and the session's rooms; join
the audience rooms of everyone the user follows, from relations read *after* those rooms were
joined and once no graph change of the user is being committed (`social.audiences`); a room
move for this user that lands meanwhile makes the read start over, so a concurrent follow or
block is never overwritten by an older read; mark presence; build the snapshot. If any step
fails, every step already taken is undone — no room, no presence entry — and the open fails
with a stable code: `unauthorized` for a bad, expired or revoked token, `unavailable` when a
dependency is down. The transport registers the connection only once open succeeded, and sends
`hello` as its first event.

A connection lives no longer than its token: `refresh` swaps in a newer access token of the
same session; `expired` tells the transport which connections outlived theirs by the grace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.delivery.models import EndReason, Hello
from hugmood.delivery.rooms import audience_room, session_room, user_room
from hugmood.delivery.snapshot import snapshot
from hugmood.group_hugs import store as group_hug_store
from hugmood.identity import sessions, tokens
from hugmood.identity.models import Principal
from hugmood.identity.users import fetch_user
from hugmood.presence import status
from hugmood.social import audiences, privacy

log = logging.getLogger("hugmood.connections")

# Reading the audience again because a move for this user landed meanwhile converges at once
# unless that user's graph changes faster than a read takes; past this, the connect is refused
# as `unavailable` and the client retries.
AUDIENCE_READS = 5


class Seat(Protocol):
    """The transport's handle on one opening connection's rooms on this process."""

    def join(self, rooms: list[str]) -> None:
        """Enter `rooms` now (no await in between: atomic with room moves)."""

    def leave_all(self) -> None:
        """Leave every room joined through this seat."""

    def moves(self, room: str) -> int:
        """How many room moves addressed to members of `room` this process applied so far."""


@dataclass(slots=True)
class Live:
    """One open connection on this process."""

    sid: str
    principal: Principal
    status: str = "online"  # its own presence status, re-registered by every heartbeat

    @property
    def user_id(self) -> uuid.UUID:
        return self.principal.user_id


async def open_connection(ctx: Context, token: object, sid: str, seat: Seat) -> tuple[Live, Hello]:
    """Authenticate and subscribe the connection `sid`; its `hello` is the second result."""
    principal = await tokens.authenticate(ctx, token)
    try:
        user = await fetch_user(ctx.db, principal.user_id)
    except AppError:
        raise AppError("unauthorized", "the account no longer exists") from None
    seat.join([user_room(user.id), session_room(principal.session_id)])
    try:
        await _join_seats(ctx, user.id, seat)
        await status.connected(ctx, user.id, sid)
        try:
            view = await snapshot(ctx, user.id)
        except BaseException:
            await status.disconnected(ctx, user.id, sid)
            raise
    except BaseException:
        seat.leave_all()
        raise
    hello = Hello(user, datetime.now(UTC), view, principal.expires_at)
    return Live(sid, principal), hello


async def _join_seats(ctx: Context, viewer: uuid.UUID, seat: Seat) -> None:
    """Seat the connection in its audience and group hug rooms, read after the user's room was
    joined: a change committed later moves it; one that moved the user's room meanwhile makes
    the read start again."""
    room = user_room(viewer)
    for _ in range(AUDIENCE_READS):
        moves = seat.moves(room)
        await audiences.wait_for_graph(ctx, viewer)
        async with ctx.db.acquire() as conn:
            rooms = await _seated_rooms(conn, viewer)
        if seat.moves(room) == moves:
            seat.join(rooms)
            return
    raise AppError("unavailable", "your connections are changing too fast; connect again")


async def close_connection(ctx: Context, live: Live) -> None:
    await status.disconnected(ctx, live.user_id, live.sid)


async def refresh(ctx: Context, live: Live, token: str) -> datetime:
    """Swap in a newer access token of the connection's own session; returns its expiry."""
    principal = await tokens.authenticate(ctx, token)
    if principal.session_id != live.principal.session_id:
        raise AppError("forbidden", "this token belongs to another session; reconnect with it")
    live.principal = principal
    return principal.expires_at


async def ended(ctx: Context, connections: list[Live]) -> list[tuple[Live, EndReason]]:
    """The connections whose session ended without their process hearing of it (the end
    message was published while Redis was down), with why."""
    if not connections:
        return []
    reasons = await sessions.ended_among(
        ctx, list({live.principal.session_id for live in connections})
    )
    return [
        (live, reasons[live.principal.session_id])
        for live in connections
        if live.principal.session_id in reasons
    ]


def expired(connections: list[Live], grace_secs: int, now: datetime) -> list[Live]:
    """The connections whose token expired more than `grace_secs` ago without a refresh."""
    limit = now - timedelta(seconds=grace_secs)
    return [live for live in connections if live.principal.expires_at <= limit]


async def _seated_rooms(conn: asyncpg.Connection, viewer: uuid.UUID) -> list[str]:
    """The audience rooms the graph gives the viewer, and the rooms of their open group hugs."""
    audiences = await privacy.audience_tiers(conn, viewer)
    return [
        audience_room(owner, tier) for owner, tier in audiences
    ] + await group_hug_store.rooms_of(conn, viewer)


async def seated_rooms(ctx: Context, viewers: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The audience and group hug rooms each viewer's connections belong in now: what a
    process re-seats its connections from when it may have missed room moves (its Redis
    subscription was down)."""
    async with ctx.db.acquire() as conn:
        return {viewer: await _seated_rooms(conn, viewer) for viewer in viewers}
