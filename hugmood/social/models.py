"""Structs of the social graph and privacy settings."""

from __future__ import annotations

import uuid
from typing import Literal

from msgspec import Struct

from hugmood.core.structs import Inbound
from hugmood.identity.models import UserCard

Audience = Literal["everyone", "friends", "nobody"]


class Privacy(Inbound):
    allow_hugs_from: Audience
    show_mood_to: Audience
    show_activity_to: Audience


class Profile(Struct, frozen=True):
    """Another user as the caller sees them, with how the two are connected."""

    user: UserCard
    following: bool  # the caller follows them
    followed_by: bool  # they follow the caller
    friends: bool


class LostSight(Struct, frozen=True):
    """`presence.hidden` / `mood.hidden`: stop showing the last status / mood seen of `user`."""

    user: uuid.UUID
