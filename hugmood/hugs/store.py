"""The hugs table as the feature reads it: columns, row mapping, lookup by idempotency key."""

from __future__ import annotations

import uuid

import asyncpg

from hugmood.hugs.models import Hug, Reaction

HUG_COLUMNS = (
    "h.id, h.sender_id, h.recipient_id, h.type, h.message, h.design_id, h.client_id, "
    "h.sent_at, h.received_at, h.read_at, r.emoji, r.message AS reaction_message, "
    "r.updated_at AS reacted_at"
)
HUG_FROM = "hugs h LEFT JOIN hug_reactions r ON r.hug_id = h.id"


def hug_from_row(row: asyncpg.Record) -> Hug:
    reaction = (
        Reaction(emoji=row["emoji"], message=row["reaction_message"], reacted_at=row["reacted_at"])
        if row["emoji"] is not None
        else None
    )
    fields = {name: row[name] for name in Hug.__struct_fields__ if name != "reaction"}
    return Hug(**fields, reaction=reaction)


async def existing(db: asyncpg.Pool, sender_id: uuid.UUID, client_id: str) -> Hug | None:
    row = await db.fetchrow(
        f"SELECT {HUG_COLUMNS} FROM {HUG_FROM} WHERE h.sender_id = $1 AND h.client_id = $2",
        sender_id,
        client_id,
    )
    return hug_from_row(row) if row else None
