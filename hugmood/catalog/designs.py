"""Hug collections and designs as the shop shows them, and the availability rule.

A design is available while now is inside its own window (`available_from` inclusive,
`available_until` exclusive; an open end is no limit) and inside its collection's
(`start_date`, `end_date`). Only available designs are listed and only they can be bought
(`ensure_purchasable`, for checkout). Availability does not limit sending: a design someone
owns stays theirs to send after its window closes (the hug rule checks ownership only).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from hugmood.catalog.models import Collection, Design, DesignQuery, Price
from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page, PageQuery

COLLECTION_COLUMNS = (
    "c.id, c.name, c.description, c.is_premium, c.is_seasonal, c.start_date, c.end_date, "
    "c.created_at"
)
COLLECTION_OPEN = (
    "(c.start_date IS NULL OR c.start_date <= {at}) AND (c.end_date IS NULL OR c.end_date > {at})"
)
DESIGN_OPEN = (
    "(d.available_from IS NULL OR d.available_from <= {at}) "
    "AND (d.available_until IS NULL OR d.available_until > {at})"
)
# A design, whether it is available at $1 and whether user $2 owns it.
DESIGN_SELECT = f"""
SELECT d.id, d.collection_id, d.name, d.description, d.animation_data, d.haptic_pattern,
       d.preview_image, d.price_minor, d.currency, d.is_premium, d.available_from,
       d.available_until, d.created_at,
       {DESIGN_OPEN.format(at="$1")}
         AND (c.id IS NULL OR ({COLLECTION_OPEN.format(at="$1")})) AS available,
       EXISTS (SELECT 1 FROM user_hug_inventory i
               WHERE i.user_id = $2 AND i.hug_design_id = d.id) AS owned
FROM hug_designs d LEFT JOIN hug_collections c ON c.id = d.collection_id
"""


def _now(at: datetime | None) -> datetime:
    return at or datetime.now(UTC)


def design_from_row(row: asyncpg.Record) -> Design:
    fields = {k: row[k] for k in Design.__struct_fields__ if k != "price"}
    price = Price(row["price_minor"], row["currency"]) if row["price_minor"] is not None else None
    return Design(**fields, price=price)


def collection_from_row(row: asyncpg.Record) -> Collection:
    return Collection(**{k: row[k] for k in Collection.__struct_fields__})


async def list_collections(
    ctx: Context, query: PageQuery, at: datetime | None = None
) -> Page[Collection]:
    """Collections open now, newest first."""
    rows = await ctx.db.fetch(
        f"SELECT {COLLECTION_COLUMNS} FROM hug_collections c "
        f"WHERE {COLLECTION_OPEN.format(at='$1')} "
        "AND ($2::timestamptz IS NULL OR (c.created_at, c.id) < ($2, $3)) "
        "ORDER BY c.created_at DESC, c.id DESC LIMIT $4",
        _now(at),
        *decode_cursor(query.cursor),
        query.limit + 1,
    )
    return page(rows, query.limit, collection_from_row, lambda r: (r["created_at"], r["id"]))


async def list_designs(
    ctx: Context, user_id: uuid.UUID, query: DesignQuery, at: datetime | None = None
) -> Page[Design]:
    """Designs available now (of one collection, or all), newest first, with `owned` for the
    caller."""
    rows = await ctx.db.fetch(
        f"SELECT * FROM ({DESIGN_SELECT}) d WHERE d.available "
        "AND ($3::uuid IS NULL OR d.collection_id = $3) "
        "AND ($4::timestamptz IS NULL OR (d.created_at, d.id) < ($4, $5)) "
        "ORDER BY d.created_at DESC, d.id DESC LIMIT $6",
        _now(at),
        user_id,
        query.collection_id,
        *decode_cursor(query.cursor),
        query.limit + 1,
    )
    return page(rows, query.limit, design_from_row, lambda r: (r["created_at"], r["id"]))


async def design(
    conn: asyncpg.Connection | asyncpg.Pool,
    design_id: uuid.UUID,
    user_id: uuid.UUID,
    at: datetime | None = None,
) -> Design:
    row = await conn.fetchrow(f"{DESIGN_SELECT} WHERE d.id = $3", _now(at), user_id, design_id)
    if row is None:
        raise AppError("not_found", "no such hug design", "design_id")
    return design_from_row(row)


async def ensure_purchasable(
    conn: asyncpg.Connection | asyncpg.Pool,
    design_id: uuid.UUID,
    user_id: uuid.UUID,
    at: datetime | None = None,
) -> Design:
    """The design `user_id` may buy at `at` (default now): `not_found` if there is no such
    design, `conflict` if it is outside its availability window or already owned."""
    found = await design(conn, design_id, user_id, at)
    if not found.available:
        raise AppError("conflict", "this hug design is not available now", "design_id")
    if found.owned:
        raise AppError("conflict", "you already own this hug design", "design_id")
    return found
