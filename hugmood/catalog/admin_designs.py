"""Admin changes to hug collections and designs, each with its audit row (see
`hugmood.catalog.admin` for the transaction, the role check and the error answers).

A window's start must be before its end; a design's price has both an amount and a currency or
neither (free).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from hugmood.catalog.admin import (
    admin_transaction,
    changes,
    create_row,
    delete_row,
    patch_row,
)
from hugmood.catalog.admin_models import (
    CollectionCreate,
    CollectionPatch,
    DesignCreate,
    DesignPatch,
)
from hugmood.catalog.designs import COLLECTION_COLUMNS, collection_from_row, design
from hugmood.catalog.models import Collection, Design
from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.identity.models import Principal


def _check_window(start: datetime | None, end: datetime | None, field: str) -> None:
    if start is not None and end is not None and start >= end:
        raise AppError("invalid", "the window must start before it ends", field)


async def _collection(conn: asyncpg.Connection, collection_id: uuid.UUID) -> Collection:
    row = await conn.fetchrow(
        f"SELECT {COLLECTION_COLUMNS} FROM hug_collections c WHERE c.id = $1", collection_id
    )
    if row is None:
        raise AppError("not_found", "no such hug collection")
    return collection_from_row(row)


async def create_collection(ctx: Context, caller: Principal, data: CollectionCreate) -> Collection:
    async with admin_transaction(ctx, caller) as conn:
        _check_window(data.start_date, data.end_date, "end_date")
        fields = changes(data) | {"creator_id": caller.user_id}
        found = await create_row(
            conn, caller, "hug_collection", "hug_collections", fields, _collection
        )
    return found


async def update_collection(
    ctx: Context, caller: Principal, collection_id: uuid.UUID, data: CollectionPatch
) -> Collection:
    async with admin_transaction(ctx, caller) as conn:
        before = await _collection(conn, collection_id)
        fields = changes(data)
        _check_window(
            fields.get("start_date", before.start_date),
            fields.get("end_date", before.end_date),
            "end_date",
        )
        return await patch_row(
            conn, caller, "hug_collection", "hug_collections", before, fields, _collection
        )


async def delete_collection(ctx: Context, caller: Principal, collection_id: uuid.UUID) -> None:
    """Deletes its designs with it (and so they leave everyone's inventory)."""
    async with admin_transaction(ctx, caller) as conn:
        before = await _collection(conn, collection_id)
        await delete_row(conn, caller, "hug_collection", "hug_collections", before, collection_id)


def _check_design(fields: dict[str, Any], before: Design | None) -> None:
    def current(name: str) -> Any:
        if name in fields:
            return fields[name]
        if before is None:
            return None
        if name in ("price_minor", "currency"):
            price = before.price
            return None if price is None else getattr(price, name.replace("price_", "amount_"))
        return getattr(before, name)

    _check_window(current("available_from"), current("available_until"), "available_until")
    if (current("price_minor") is None) != (current("currency") is None):
        raise AppError("invalid", "give price_minor and currency together", "currency")


async def _design_in(conn: asyncpg.Connection, design_id: uuid.UUID, caller: Principal) -> Design:
    """The design as the shop serves it (ownership: the admin's own)."""
    return await design(conn, design_id, caller.user_id)


async def _known_collection(conn: asyncpg.Connection, fields: dict[str, Any]) -> None:
    collection_id = fields.get("collection_id")
    if collection_id is not None:
        if not await conn.fetchval("SELECT 1 FROM hug_collections WHERE id = $1", collection_id):
            raise AppError("not_found", "no such hug collection", "collection_id")


async def create_design(ctx: Context, caller: Principal, data: DesignCreate) -> Design:
    async with admin_transaction(ctx, caller) as conn:
        fields = changes(data)
        _check_design(fields, None)
        await _known_collection(conn, fields)
        found = await create_row(
            conn,
            caller,
            "hug_design",
            "hug_designs",
            fields,
            lambda conn, design_id: _design_in(conn, design_id, caller),
        )
    return found


async def update_design(
    ctx: Context, caller: Principal, design_id: uuid.UUID, data: DesignPatch
) -> Design:
    async with admin_transaction(ctx, caller) as conn:
        before = await _design_in(conn, design_id, caller)
        fields = changes(data)
        _check_design(fields, before)
        await _known_collection(conn, fields)
        return await patch_row(
            conn,
            caller,
            "hug_design",
            "hug_designs",
            before,
            fields,
            lambda c, i: design(c, i, caller.user_id),
        )


async def delete_design(ctx: Context, caller: Principal, design_id: uuid.UUID) -> None:
    """Hugs that used it keep their text; the design leaves them (`design_id` set null)."""
    async with admin_transaction(ctx, caller) as conn:
        before = await _design_in(conn, design_id, caller)
        await delete_row(conn, caller, "hug_design", "hug_designs", before, design_id)
