"""msgspec Structs for every payload that crosses a boundary (HTTP bodies, socket events, jobs).

Inbound Structs forbid unknown fields and carry their bounds, so a malformed payload is rejected
with a field-level `invalid` error before any rule runs. Outbound Structs are what clients see.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

Audience = Literal["everyone", "friends", "nobody"]

# PostgreSQL text cannot hold NUL, nor UTF-8 a lone UTF-16 surrogate (what a client sends when
# it cuts a string inside an emoji): no client string may contain either.
NO_NUL = r"^[^\x00\ud800-\udfff]*$"


def Text(max_length: int, min_length: int = 0) -> Any:
    """A bounded client string without NUL characters."""
    return Annotated[str, Meta(min_length=min_length, max_length=max_length, pattern=NO_NUL)]


Username = Annotated[str, Meta(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")]
Email = Annotated[
    str, Meta(min_length=3, max_length=255, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
]
# Upper bound keeps hashing cost bounded; argon2 accepts any length.
Password = Annotated[str, Meta(min_length=8, max_length=256)]
DisplayName = Text(100, min_length=1)
Bio = Text(500)
ImageUrl = Annotated[str, Meta(max_length=500, pattern=r"^https://[^\s\x00]+$")]
TimeZone = Text(64, min_length=1)
OpaqueToken = Text(512, min_length=1)


class Inbound(Struct, forbid_unknown_fields=True, frozen=True):
    """Base of every client-supplied payload."""


# --- accounts ------------------------------------------------------------------------------


class RegisterIn(Inbound):
    username: Username
    email: Email
    password: Password
    display_name: DisplayName | None = None


class LoginIn(Inbound):
    login: Text(255, min_length=1)  # username or email
    password: Annotated[str, Meta(min_length=1, max_length=256)]


class RefreshIn(Inbound):
    refresh_token: OpaqueToken


class MePatch(Inbound):
    display_name: DisplayName | UnsetType | None = UNSET
    bio: Bio | UnsetType | None = UNSET
    profile_image: ImageUrl | UnsetType | None = UNSET
    time_zone: TimeZone | UnsetType = UNSET


class Privacy(Inbound):
    allow_hugs_from: Audience
    show_mood_to: Audience
    show_activity_to: Audience


class User(Struct, frozen=True):
    """A user as the owner sees themself (`GET /me`, socket `hello`)."""

    id: uuid.UUID
    username: str
    email: str | None
    role: str
    is_anonymous: bool
    display_name: str | None
    bio: str | None
    profile_image: str | None
    time_zone: str
    joined_at: datetime


class Session(Struct, frozen=True):
    user: User
    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    token_type: str = "Bearer"


class Principal(Struct, frozen=True):
    """Who is calling, as proven by a valid access token."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    is_anonymous: bool


# --- realtime ------------------------------------------------------------------------------


class Envelope(Struct, frozen=True, omit_defaults=True):
    """Every server-to-client event: `seq` is present exactly on durable events."""

    at: datetime
    data: Any
    seq: int | UnsetType = UNSET


class Hello(Struct, frozen=True):
    user: User
    server_time: datetime
    snapshot: Snapshot


# --- hugs ----------------------------------------------------------------------------------

HugType = Literal[
    "warm", "bear", "side", "gentle", "comfort", "celebration", "healing", "long_distance"
]
ClientId = Text(64, min_length=1)
HugMessage = Text(500)
Emoji = Text(16, min_length=1)
MAX_REQUEST_RECIPIENTS = 50


class HugSend(Inbound):
    to: uuid.UUID
    type: HugType
    client_id: ClientId
    message: HugMessage | None = None
    design_id: uuid.UUID | None = None


class HugRead(Inbound):
    hug_id: uuid.UUID


class HugReact(Inbound):
    hug_id: uuid.UUID
    emoji: Emoji
    message: HugMessage | None = None


class HugRequest(Inbound):
    to: (
        Annotated[list[uuid.UUID], Meta(min_length=1, max_length=MAX_REQUEST_RECIPIENTS)]
        | Literal["friends"]
    ) = "friends"
    message: HugMessage | None = None


class SyncIn(Inbound):
    since: Annotated[int, Meta(ge=0)]
    limit: Annotated[int, Meta(ge=1, le=1000)] = 500


class AckIn(Inbound):
    seq: Annotated[int, Meta(ge=0)]


class Reaction(Struct, frozen=True):
    emoji: str
    message: str | None
    reacted_at: datetime


class Hug(Struct, frozen=True):
    id: uuid.UUID
    sender_id: uuid.UUID
    recipient_id: uuid.UUID
    type: str
    message: str | None
    design_id: uuid.UUID | None
    client_id: str
    sent_at: datetime
    received_at: datetime | None
    read_at: datetime | None
    reaction: Reaction | None = None


class HugHistoryQuery(Inbound):
    box: Literal["inbox", "sent"] = "inbox"
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Text(200) | None = None


class HugPage(Struct, frozen=True):
    items: list[Hug]
    next_cursor: str | None


class HugDelivered(Struct, frozen=True):
    hug_id: uuid.UUID
    received_at: datetime


class HugReadReceipt(Struct, frozen=True):
    hug_id: uuid.UUID
    read_at: datetime


class HugReacted(Struct, frozen=True):
    hug_id: uuid.UUID
    reaction: Reaction


class UserCard(Struct, frozen=True):
    """What anyone allowed to interact with a user sees of them."""

    id: uuid.UUID
    username: str
    display_name: str | None
    profile_image: str | None


class HugRequested(Struct, frozen=True):
    request_id: uuid.UUID
    requester: UserCard
    message: str | None


# --- inbox ---------------------------------------------------------------------------------


class InboxEvent(Struct, frozen=True):
    """A durable event as `sync` returns it (live delivery sends `{seq, at, data}` as `type`)."""

    seq: int
    type: str
    at: datetime
    data: Any


class SyncResult(Struct, frozen=True):
    recovered: bool  # false: events after `since` are gone; refetch history, resume at `head`
    events: list[InboxEvent]
    head: int  # the newest seq of the inbox
    has_more: bool  # true: call sync again with the last seq received


# --- social --------------------------------------------------------------------------------


class PageQuery(Inbound):
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Text(200) | None = None


class Profile(Struct, frozen=True):
    """Another user as the caller sees them, with how the two are connected."""

    user: UserCard
    following: bool  # the caller follows them
    followed_by: bool  # they follow the caller
    friends: bool


class UserPage(Struct, frozen=True):
    items: list[UserCard]
    next_cursor: str | None


# --- presence ------------------------------------------------------------------------------

Status = Literal["online", "away", "dnd", "offline"]


class PresenceSet(Inbound):
    status: Literal["online", "away", "dnd"]


class Presence(Struct, frozen=True):
    user: uuid.UUID
    status: Status
    last_active: datetime | None


# --- moods ---------------------------------------------------------------------------------

Unit = Annotated[float, Meta(ge=0, le=1)]
Tag = Text(50, min_length=1)
Visibility = Literal["everyone", "friends", "private"]


class MoodUpdate(Inbound):
    mood: Text(50, min_length=1)
    intensity: Unit
    valence: Unit
    arousal: Unit
    note: Text(500) | None = None
    tags: Annotated[list[Tag], Meta(max_length=10)] = []
    visibility: Visibility = "everyone"


class MoodEntry(Struct, frozen=True):
    id: uuid.UUID
    user_id: uuid.UUID
    mood: str
    intensity: float
    valence: float
    arousal: float
    note: str | None
    tags: list[str]
    visibility: str
    created_at: datetime


class MoodPage(Struct, frozen=True):
    items: list[MoodEntry]
    next_cursor: str | None


class MoodStatsQuery(Inbound):
    period: Literal["day", "week", "month"] = "day"
    limit: Annotated[int, Meta(ge=1, le=366)] = 30


class MoodBucket(Struct, frozen=True):
    start: str  # the local date the day/week/month starts on, in the user's time zone
    entries: int
    moods: dict[str, int]
    mean_valence: float
    mean_arousal: float


class MoodStats(Struct, frozen=True):
    period: str
    time_zone: str
    buckets: list[MoodBucket]


class Streak(Struct, frozen=True):
    current: int  # consecutive local days with an entry, ending today or yesterday
    longest: int
    time_zone: str


class Snapshot(Struct, frozen=True):
    """Current state of the people the caller may see, sent instead of replaying ephemera."""

    presence: list[Presence]
    moods: list[MoodEntry]
