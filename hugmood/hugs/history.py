"""Hug history: a user's received or sent hugs, newest first, keyset-paginated."""

from __future__ import annotations

import uuid

from hugmood.core.context import Context
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page
from hugmood.hugs.models import Hug, HugHistoryQuery
from hugmood.hugs.store import HUG_COLUMNS, HUG_FROM, hug_from_row


async def list_hugs(ctx: Context, user_id: uuid.UUID, query: HugHistoryQuery) -> Page[Hug]:
    """The user's received (`inbox`) or sent hugs, newest first, keyset-paginated."""
    column = "recipient_id" if query.box == "inbox" else "sender_id"
    limit = query.limit
    rows = await ctx.db.fetch(
        f"SELECT {HUG_COLUMNS} FROM {HUG_FROM} WHERE h.{column} = $1 "
        "AND ($2::timestamptz IS NULL OR (h.sent_at, h.id) < ($2, $3)) "
        "ORDER BY h.sent_at DESC, h.id DESC LIMIT $4",
        user_id,
        *decode_cursor(query.cursor),
        limit + 1,
    )
    return page(rows, limit, hug_from_row, lambda r: (r["sent_at"], r["id"]))
