"""Structs of mood entries, their feeds and aggregates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from hugmood.core.structs import ClientId, Inbound, Text

Unit = Annotated[float, Meta(ge=0, le=1)]
Tag = Text(50, min_length=1)
# Narrows the owner's show_mood_to for one entry (see hugmood.social.privacy).
Visibility = Literal["everyone", "friends", "private"]


class MoodUpdate(Inbound):
    mood: Text(50, min_length=1)
    intensity: Unit
    valence: Unit
    arousal: Unit
    note: Text(500) | None = None
    tags: Annotated[list[Tag], Meta(max_length=10)] = []
    visibility: Visibility = "everyone"
    client_id: ClientId | None = None  # a retry with it returns the first entry, not a second


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
