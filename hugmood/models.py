"""msgspec Structs for every payload that crosses a boundary (HTTP bodies, socket events, jobs).

Inbound Structs forbid unknown fields and carry their bounds, so a malformed payload is rejected
with a field-level `invalid` error before any rule runs. Outbound Structs are what clients see.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Audience = Literal["everyone", "friends", "nobody"]

Username = Annotated[str, Meta(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")]
Email = Annotated[str, Meta(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
# Upper bound keeps hashing cost bounded; argon2 accepts any length.
Password = Annotated[str, Meta(min_length=8, max_length=256)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100)]
Bio = Annotated[str, Meta(max_length=500)]
ImageUrl = Annotated[str, Meta(max_length=500, pattern=r"^https://\S+$")]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64)]
OpaqueToken = Annotated[str, Meta(min_length=1, max_length=512)]


class Inbound(Struct, forbid_unknown_fields=True, frozen=True):
    """Base of every client-supplied payload."""


# --- accounts ------------------------------------------------------------------------------


class RegisterIn(Inbound):
    username: Username
    email: Email
    password: Password
    display_name: DisplayName | None = None


class LoginIn(Inbound):
    login: Annotated[str, Meta(min_length=1, max_length=255)]  # username or email
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


class Ack(Struct, frozen=True, omit_defaults=True):
    ok: bool
    error: dict[str, str] | UnsetType = UNSET


def to_builtins(value: Any) -> Any:
    """Plain data for transports that serialize on their own."""
    return msgspec.to_builtins(value)
