"""Structs of group hugs: the client events, the group hug as its participants see it, and the
events they are sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from hugmood.core.structs import Inbound, PageQuery, Text
from hugmood.identity.models import UserCard

Status = Literal["PENDING", "ACTIVE", "COMPLETED", "EXPIRED", "CANCELED"]
OPEN: tuple[Status, ...] = ("PENDING", "ACTIVE")  # not over yet: joinable, cancelable
ParticipantStatus = Literal["INVITED", "JOINED", "LEFT"]

# Invitees per call: one socket frame (64 KiB) and the document limit (1,000 items) hold 500
# ids with room to spare; `group_hug:invite` adds more, up to `MAX_PARTICIPANTS`.
MAX_INVITEES_PER_CALL = 500
MAX_PARTICIPANTS = 1000  # creator included: one pulse room, one start fan-out of 1,000 inboxes
MAX_AHEAD_SECS = 30 * 24 * 3600  # how far ahead `scheduled_for` / `expires_at` may be
DEFAULT_WAIT_SECS = 3600  # without `expires_at`: an hour after `scheduled_for` (or creation)
MAX_DURATION_SECS = 600
TOP_SQUEEZERS = 5  # strongest squeezes named in each pulse

Invitees = Annotated[list[uuid.UUID], Meta(max_length=MAX_INVITEES_PER_CALL)]


class GroupHugCreate(Inbound):
    name: Text(100, min_length=1)
    invitees: Invitees
    description: Text(1000) | None = None
    message: Text(500) | None = None
    scheduled_for: datetime | None = None
    expires_at: datetime | None = None
    min_participants: Annotated[int, Meta(ge=2, le=MAX_PARTICIPANTS)] = 2
    duration_s: Annotated[int, Meta(ge=1, le=MAX_DURATION_SECS)] = 10
    design_id: uuid.UUID | None = None


class GroupHugRef(Inbound):
    """`group_hug:join`, `leave`, `cancel`: which group hug."""

    group_hug_id: uuid.UUID


class GroupHugInvite(Inbound):
    group_hug_id: uuid.UUID
    invitees: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=MAX_INVITEES_PER_CALL)]


class Squeeze(Inbound):
    group_hug_id: uuid.UUID
    intensity: Annotated[float, Meta(ge=0, le=1)]


class TimeSyncIn(Inbound):
    """`time:sync`: the client's clock when it sent the request (any unit-consistent number:
    it is echoed back untouched, milliseconds since the epoch recommended)."""

    t0: Annotated[float, Meta(ge=-1e15, le=1e15)]


class GroupHugQuery(PageQuery):
    status: Status | None = None


class GroupHug(Struct, frozen=True):
    """A group hug as its participants see it."""

    id: uuid.UUID
    host: UserCard  # the creator
    name: str
    description: str | None
    message: str | None
    status: Status
    scheduled_for: datetime | None
    expires_at: datetime | None
    min_participants: int
    duration_s: int
    design_id: uuid.UUID | None
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    participants: int  # how many joined


class Participant(Struct, frozen=True):
    user: UserCard
    status: ParticipantStatus
    joined_at: datetime  # when they joined (or, while INVITED, were invited)


class GroupHugDetail(Struct, frozen=True):
    group_hug: GroupHug
    me: ParticipantStatus
    participants: list[Participant]  # the newest first page; more from /participants
    next_cursor: str | None


class GroupHugState(Struct, frozen=True):
    """A group hug in the snapshot: what a reconnecting participant needs to catch up."""

    id: uuid.UUID
    name: str
    status: Status
    me: ParticipantStatus
    participants: int
    scheduled_for: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    remaining_s: float | None  # until `ends_at`, at the snapshot's server time


# --- events ----------------------------------------------------------------------------------


class Invited(Struct, frozen=True):
    """`group_hug.invited` (durable, pushed)."""

    id: uuid.UUID
    host: UserCard
    name: str
    message: str | None
    scheduled_for: datetime | None
    expires_at: datetime | None


class Started(Struct, frozen=True):
    """`group_hug.started` (durable, pushed): sent a lead time before `starts_at`, which is in
    server time; the client starts at `starts_at - offset` on its own clock."""

    id: uuid.UUID
    name: str
    starts_at: datetime
    duration_s: int
    ends_at: datetime


class Ended(Struct, frozen=True):
    """`group_hug.completed`, `.expired`, `.canceled` (durable)."""

    id: uuid.UUID
    status: Status


class Membership(Struct, frozen=True):
    """`group_hug.joined` / `group_hug.left` (ephemeral, to the group's room)."""

    id: uuid.UUID
    user: UserCard
    participants: int


class Squeezer(Struct, frozen=True):
    user_id: uuid.UUID
    intensity: float


class Pulse(Struct, frozen=True):
    """`group_hug.pulse` (ephemeral): the squeezes of one pulse slot, all processes together."""

    id: uuid.UUID
    count: int
    mean_intensity: float
    top: list[Squeezer]
    at: datetime  # the end of the slot, server time


class TimeSync(Struct, frozen=True):
    """`time:sync` answer, NTP-style: `t0` echoed, `t1` when the server took the request and
    `t2` when it answered, both server time in epoch milliseconds."""

    t0: float
    t1: float
    t2: float
