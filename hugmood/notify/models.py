"""Structs of push: devices, notification preferences, and the provider-neutral notification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from hugmood.core.structs import Inbound, Text

Platform = Literal["ios", "android"]
# APNs tokens are hex, FCM registration tokens URL-safe base64 with ':' (~160-400 characters).
Token = Annotated[str, Meta(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_:.\-]+$")]
Locale = Annotated[str, Meta(max_length=35, pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")]
ClockTime = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]  # HH:MM, 24 h


class DeviceRegister(Inbound):
    platform: Platform
    token: Token
    app_version: Text(50) | None = None
    locale: Locale | None = None


class Device(Struct, frozen=True):
    id: uuid.UUID
    platform: Platform
    token: str
    app_version: str | None
    locale: str | None
    created_at: datetime  # when this user registered it (re-registering by another moves it)
    last_seen: datetime  # its last registration: apps re-register at every start


class QuietHours(Inbound):
    """No pushes from `start` until `end` in the user's time zone (`PATCH /me time_zone`);
    `start` after `end` spans midnight."""

    start: ClockTime
    end: ClockTime


class NotificationSettings(Inbound):
    """What to push (each category on unless turned off) and when not to."""

    hugs: bool = True
    hug_requests: bool = True
    reactions: bool = True
    group_hugs: bool = True
    orders: bool = True
    quiet_hours: QuietHours | None = None


class Notification(Struct, frozen=True):
    """One push as the providers get it, built from one inbox event (`notify.content`)."""

    title: str
    body: str
    badge: int  # unread hugs
    collapse_id: str  # per conversation: the newest replaces the previous on the phone
    data: dict[str, str]  # type, seq (so the app can `sync`), and the event's ids
    ttl_secs: int  # how long the provider keeps trying to reach the phone
    priority: Literal["high", "normal"] = "high"
    push_type: Literal["alert", "background"] = "alert"
