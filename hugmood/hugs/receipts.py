"""Receipts flowing back to a hug's sender: delivered (via `ack`), read, and reacted.

Each receipt is a durable event in the sender's inbox, written in the transaction that records
it, and each is idempotent: acking or reading twice sends nothing new; a changed reaction sends
the new one.
"""

from __future__ import annotations

import uuid

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.delivery import inbox
from hugmood.hugs.models import HugDelivered, HugReact, HugReacted, HugReadReceipt, Reaction


async def acknowledge(ctx: Context, user_id: uuid.UUID, seq: int) -> None:
    """The user's devices have seen every event up to `seq`: hugs among them are delivered."""
    async with ctx.db.acquire() as conn, conn.transaction():
        previous = await inbox.advance_ack(conn, user_id, seq)
        if previous >= seq:
            return
        rows = await conn.fetch(
            "UPDATE hugs h SET received_at = now(), updated_at = now() FROM inbox_events e "
            "WHERE e.user_id = $1 AND e.seq > $2 AND e.seq <= $3 AND e.type = 'hug.received' "
            "AND h.id = (e.payload->>'id')::uuid AND h.recipient_id = $1 "
            "AND h.received_at IS NULL "
            "RETURNING h.id, h.sender_id, h.received_at",
            user_id,
            previous,
            seq,
        )
        deliveries = (
            await inbox.append(
                conn,
                [
                    (r["sender_id"], "hug.delivered", HugDelivered(r["id"], r["received_at"]))
                    for r in rows
                ],
            )
            if rows
            else []
        )
    await inbox.publish(ctx, deliveries)


async def mark_read(ctx: Context, user_id: uuid.UUID, hug_id: uuid.UUID) -> HugReadReceipt:
    """Only the recipient reads a hug; reading an undelivered hug also delivers it."""
    async with ctx.db.acquire() as conn, conn.transaction():
        hug = await conn.fetchrow(
            "SELECT sender_id, received_at, read_at FROM hugs "
            "WHERE id = $1 AND recipient_id = $2 FOR UPDATE",
            hug_id,
            user_id,
        )
        if hug is None:
            raise AppError("not_found", "no such hug in your inbox", "hug_id")
        if hug["read_at"] is not None:
            return HugReadReceipt(hug_id, hug["read_at"])
        read_at = await conn.fetchval(
            "UPDATE hugs SET read_at = now(), received_at = coalesce(received_at, now()), "
            "updated_at = now() WHERE id = $1 RETURNING read_at",
            hug_id,
        )
        receipt = HugReadReceipt(hug_id, read_at)
        events = [(hug["sender_id"], "hug.read", receipt)]
        if hug["received_at"] is None:
            events.insert(0, (hug["sender_id"], "hug.delivered", HugDelivered(hug_id, read_at)))
        deliveries = await inbox.append(conn, events)
    await inbox.publish(ctx, deliveries)
    return receipt


async def react(ctx: Context, user_id: uuid.UUID, data: HugReact) -> HugReacted:
    """One reaction per hug, by its recipient; reacting again replaces it."""
    async with ctx.db.acquire() as conn, conn.transaction():
        sender_id = await conn.fetchval(
            "SELECT sender_id FROM hugs WHERE id = $1 AND recipient_id = $2 FOR UPDATE",
            data.hug_id,
            user_id,
        )
        if sender_id is None:
            raise AppError("not_found", "no such hug in your inbox", "hug_id")
        row = await conn.fetchrow(
            "INSERT INTO hug_reactions AS r (hug_id, emoji, message) VALUES ($1, $2, $3) "
            "ON CONFLICT (hug_id) DO UPDATE SET emoji = EXCLUDED.emoji, "
            "message = EXCLUDED.message, updated_at = now() "
            "RETURNING r.emoji, r.message, r.updated_at AS reacted_at",
            data.hug_id,
            data.emoji,
            data.message,
        )
        reacted = HugReacted(data.hug_id, Reaction(**dict(row)))
        deliveries = await inbox.append(conn, [(sender_id, "hug.reacted", reacted)])
    await inbox.publish(ctx, deliveries)
    return reacted
