"""Privacy settings: who may hug me, see my mood, see my activity (everyone / friends / nobody).

Every user has a row from registration on. Later features read these rules in the domain, so
no transport can bypass them.
"""

from __future__ import annotations

import uuid

from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.models import Privacy

_COLUMNS = "allow_hugs_from, show_mood_to, show_activity_to"


async def get(ctx: Context, user_id: uuid.UUID) -> Privacy:
    row = await ctx.db.fetchrow(
        f"SELECT {_COLUMNS} FROM privacy_settings WHERE user_id = $1", user_id
    )
    if row is None:
        raise AppError("not_found", "user not found")
    return Privacy(**dict(row))


async def put(ctx: Context, user_id: uuid.UUID, settings: Privacy) -> Privacy:
    """Replace all three settings; the owner's other devices get `privacy.updated`."""
    row = await ctx.db.fetchrow(
        "UPDATE privacy_settings SET allow_hugs_from = $2, show_mood_to = $3, "
        f"show_activity_to = $4, updated_at = now() WHERE user_id = $1 RETURNING {_COLUMNS}",
        user_id,
        settings.allow_hugs_from,
        settings.show_mood_to,
        settings.show_activity_to,
    )
    if row is None:
        raise AppError("not_found", "user not found")
    updated = Privacy(**dict(row))
    await ctx.bus.to_user(user_id, "privacy.updated", updated)
    return updated
