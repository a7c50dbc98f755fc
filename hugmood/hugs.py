"""Hugs: sending (idempotent, privacy-checked, durable), "I need a hug" requests, and history.

A send commits the hug and both inbox events (recipient `hug.received`, sender `hug.sent`, which
keeps the sender's other devices in step) in one transaction; only then is it acknowledged and
published. The same `client_id` from the same sender always returns the first hug.
"""

from __future__ import annotations

import uuid

import asyncpg

from hugmood import inbox, ratelimit, social
from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.models import (
    Hug,
    HugHistoryQuery,
    HugPage,
    HugRequest,
    HugRequested,
    HugSend,
    Reaction,
    UserCard,
)
from hugmood.pagination import decode_cursor, encode_cursor

HUG_COLUMNS = (
    "h.id, h.sender_id, h.recipient_id, h.type, h.message, h.design_id, h.client_id, "
    "h.sent_at, h.received_at, h.read_at, r.emoji, r.message AS reaction_message, "
    "r.updated_at AS reacted_at"
)
HUG_FROM = "hugs h LEFT JOIN hug_reactions r ON r.hug_id = h.id"
FORBIDDEN_HUG = "this user does not accept hugs from you"


def hug_from_row(row: asyncpg.Record) -> Hug:
    reaction = (
        Reaction(emoji=row["emoji"], message=row["reaction_message"], reacted_at=row["reacted_at"])
        if row["emoji"] is not None
        else None
    )
    fields = {name: row[name] for name in Hug.__struct_fields__ if name != "reaction"}
    return Hug(**fields, reaction=reaction)


async def _existing(conn: asyncpg.Connection, sender_id: uuid.UUID, client_id: str) -> Hug | None:
    row = await conn.fetchrow(
        f"SELECT {HUG_COLUMNS} FROM {HUG_FROM} WHERE h.sender_id = $1 AND h.client_id = $2",
        sender_id,
        client_id,
    )
    return hug_from_row(row) if row else None


async def may_hug(conn: asyncpg.Connection, sender_id: uuid.UUID, recipient_id: uuid.UUID) -> None:
    """Raise unless `recipient_id`'s allow_hugs_from admits `sender_id`.

    Blocked senders get the same `forbidden` as anyone else refused: no hint of the block.
    """
    allow = await conn.fetchval(
        "SELECT allow_hugs_from FROM privacy_settings WHERE user_id = $1", recipient_id
    )
    if allow is None:
        raise AppError("not_found", "no such user", "to")
    if not social.audience_allows(allow, await social.relation(conn, recipient_id, sender_id)):
        raise AppError("forbidden", FORBIDDEN_HUG, "to")


async def _check_design(
    conn: asyncpg.Connection, owner_id: uuid.UUID, design_id: uuid.UUID
) -> None:
    owned = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM hug_designs WHERE id = $2) AS known, "
        "EXISTS (SELECT 1 FROM user_hug_inventory "
        "        WHERE user_id = $1 AND hug_design_id = $2) AS owned",
        owner_id,
        design_id,
    )
    if not owned["known"]:
        raise AppError("not_found", "no such hug design", "design_id")
    if not owned["owned"]:
        raise AppError("forbidden", "you do not own this hug design", "design_id")


async def send(ctx: Context, sender_id: uuid.UUID, data: HugSend) -> tuple[Hug, bool]:
    """The hug for `data.client_id`, and whether this call created it."""
    async with ctx.db.acquire() as conn:
        if (hug := await _existing(conn, sender_id, data.client_id)) is not None:
            return hug, False
        await ratelimit.hit(ctx, "hug send", str(sender_id), ctx.settings.rate_hug_send)
        if data.to == sender_id:
            raise AppError("invalid", "you cannot hug yourself", "to")
        async with conn.transaction():
            await may_hug(conn, sender_id, data.to)
            if data.design_id is not None:
                await _check_design(conn, sender_id, data.design_id)
            row = await conn.fetchrow(
                "INSERT INTO hugs (sender_id, recipient_id, type, message, design_id, client_id) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sender_id, client_id) DO NOTHING "
                "RETURNING id, sender_id, recipient_id, type, message, design_id, client_id, "
                "sent_at, received_at, read_at",
                sender_id,
                data.to,
                data.type,
                data.message,
                data.design_id,
                data.client_id,
            )
            if row is not None:
                hug = Hug(**dict(row))
                deliveries = await inbox.append(
                    conn, [(data.to, "hug.received", hug), (sender_id, "hug.sent", hug)]
                )
        if row is None:  # a concurrent retry with the same client_id committed first
            hug = await _existing(conn, sender_id, data.client_id)
            assert hug is not None
            return hug, False
    await inbox.publish(ctx, deliveries)
    return hug, True


async def request(ctx: Context, requester_id: uuid.UUID, data: HugRequest) -> uuid.UUID:
    """Ask for a hug: `hug.requested` reaches each target whose allow_hugs_from admits the
    requester. Who was skipped is not revealed. Returns the request id."""
    await ratelimit.hit(ctx, "hug request", str(requester_id), ctx.settings.rate_hug_request)
    async with ctx.db.acquire() as conn:
        if data.to == "friends":
            targets = await social.friend_ids(conn, requester_id)
        else:
            targets = list(dict.fromkeys(t for t in data.to if t != requester_id))
        allowed = []
        for target in targets:
            try:
                await may_hug(conn, requester_id, target)
            except AppError:
                continue
            allowed.append(target)
        async with conn.transaction():
            card = await conn.fetchrow(
                "SELECT id, username, display_name, profile_image FROM users WHERE id = $1",
                requester_id,
            )
            request_id = await conn.fetchval(
                "INSERT INTO hug_requests (requester_id, message) VALUES ($1, $2) RETURNING id",
                requester_id,
                data.message,
            )
            event = HugRequested(request_id, UserCard(**dict(card)), data.message)
            deliveries = (
                await inbox.append(conn, [(t, "hug.requested", event) for t in allowed])
                if allowed
                else []
            )
    await inbox.publish(ctx, deliveries)
    return request_id


async def history(ctx: Context, user_id: uuid.UUID, query: HugHistoryQuery) -> HugPage:
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
    items = [hug_from_row(row) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return HugPage(items, encode_cursor(last.sent_at, last.id) if last else None)
