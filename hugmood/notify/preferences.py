"""Notification preferences (`GET/PUT /me/notifications`): muted categories and quiet hours.
Stored as what differs from the default (everything on, no quiet hours)."""

from __future__ import annotations

import uuid
from datetime import time

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.notify.events import CATEGORIES
from hugmood.notify.models import NotificationSettings, QuietHours


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def settings_of(muted: list[str], start: time | None, end: time | None) -> NotificationSettings:
    quiet = QuietHours(start.strftime("%H:%M"), end.strftime("%H:%M")) if start and end else None
    return NotificationSettings(
        **{category: category not in muted for category in CATEGORIES}, quiet_hours=quiet
    )


async def get(ctx: Context, user_id: uuid.UUID) -> NotificationSettings:
    row = await ctx.db.fetchrow(
        "SELECT muted, quiet_start, quiet_end FROM notification_settings WHERE user_id = $1",
        user_id,
    )
    if row is None:
        return NotificationSettings()
    return settings_of(row["muted"], row["quiet_start"], row["quiet_end"])


async def put(
    ctx: Context, user_id: uuid.UUID, wanted: NotificationSettings
) -> NotificationSettings:
    quiet = wanted.quiet_hours
    if quiet is not None and quiet.start == quiet.end:
        raise AppError("invalid", "quiet hours must not start when they end", "quiet_hours")
    muted = [category for category in CATEGORIES if not getattr(wanted, category)]
    await ctx.db.execute(
        """
        INSERT INTO notification_settings (user_id, muted, quiet_start, quiet_end)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (user_id) DO UPDATE SET muted = EXCLUDED.muted,
          quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, updated_at = now()
        """,
        user_id,
        muted,
        _clock(quiet.start) if quiet else None,
        _clock(quiet.end) if quiet else None,
    )
    return wanted
