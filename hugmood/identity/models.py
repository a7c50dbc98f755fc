"""Structs of accounts and sessions: what clients send to sign up or in, and what they get."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from hugmood.core.structs import Inbound, Text

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


class UserCard(Struct, frozen=True):
    """What anyone allowed to interact with a user sees of them."""

    id: uuid.UUID
    username: str
    display_name: str | None
    profile_image: str | None


class Session(Struct, frozen=True):
    user: User
    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    token_type: str = "Bearer"


class Principal(Struct, frozen=True):
    """Who is calling, as proven by a valid access token, and until when it proves it."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    is_anonymous: bool
    expires_at: datetime
