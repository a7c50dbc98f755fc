"""Reading group hugs: one for its participants, a caller's list, and participant pages."""

from __future__ import annotations

import uuid

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page, PageQuery
from hugmood.group_hugs import store
from hugmood.group_hugs.models import (
    GroupHug,
    GroupHugDetail,
    GroupHugQuery,
    Participant,
    ParticipantStatus,
)

FIRST_PARTICIPANTS = 50  # participants in a group hug's detail; the rest page from the cursor


async def _member(ctx: Context, group_id: uuid.UUID, user: uuid.UUID) -> ParticipantStatus:
    """Only participants (invited, joined or left) see a group hug; to anyone else it does not
    exist."""
    if (me := await store.membership(ctx.db, group_id, user)) is None:
        raise AppError("not_found", "no such group hug")
    return me


async def detail(ctx: Context, user: uuid.UUID, group_id: uuid.UUID) -> GroupHugDetail:
    me = await _member(ctx, group_id, user)
    group = await store.fetch(ctx.db, group_id)
    first = await store.participants_page(ctx.db, group_id, FIRST_PARTICIPANTS, None)
    return GroupHugDetail(group, me, first.items, first.next_cursor)


async def participants(
    ctx: Context, user: uuid.UUID, group_id: uuid.UUID, query: PageQuery
) -> Page[Participant]:
    await _member(ctx, group_id, user)
    return await store.participants_page(ctx.db, group_id, query.limit, query.cursor)


async def list_for(ctx: Context, user: uuid.UUID, query: GroupHugQuery) -> Page[GroupHug]:
    """The caller's group hugs (any participation), newest first, optionally of one status."""
    rows = await ctx.db.fetch(
        f"SELECT {store.GROUP_COLUMNS} FROM group_hug_participants p "
        f"JOIN {store.GROUP_FROM} ON g.id = p.group_hug_id "
        "WHERE p.user_id = $1 AND ($2::text IS NULL OR g.status = $2) "
        "AND ($3::timestamptz IS NULL OR (g.created_at, g.id) < ($3, $4)) "
        "ORDER BY g.created_at DESC, g.id DESC LIMIT $5",
        user,
        query.status,
        *decode_cursor(query.cursor),
        query.limit + 1,
    )
    return page(rows, query.limit, store.group_from_row, lambda r: (r["created_at"], r["id"]))
