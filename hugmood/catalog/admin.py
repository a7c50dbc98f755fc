"""Admin changes to notes, fragrances and products: each in one transaction with its audit row
(`hugmood.audit.log`), the caller's admin role checked first (`hugmood.identity.roles`).

Constraint violations are answered, never leaked: a taken slug or sku is `conflict`, a
reference to something that does not exist `not_found` / `invalid`, a note still used by a
fragrance `conflict`. Stock moves only by `change_stock`, one conditional UPDATE, so concurrent
changes never take it below zero.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import msgspec

from hugmood.audit import log as audit
from hugmood.catalog import queries, store
from hugmood.catalog.admin_models import (
    FragranceCreate,
    FragrancePatch,
    NoteCreate,
    NotePatch,
    NotesIn,
    ProductCreate,
    ProductPatch,
    StockChange,
)
from hugmood.catalog.models import FragranceDetail, Note, Product
from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.identity.models import Principal
from hugmood.identity.roles import require_admin

NOTE_COLUMNS = "id, slug, name, description"
T = TypeVar("T")


@asynccontextmanager
async def admin_transaction(ctx: Context, caller: Principal) -> AsyncIterator[asyncpg.Connection]:
    """A transaction for an admin change, which moves the catalog's version on; unique and
    foreign-key violations become answers."""
    require_admin(caller)
    try:
        async with ctx.db.acquire() as conn, conn.transaction():
            yield conn
            await store.touch(conn)
    except asyncpg.UniqueViolationError as exc:
        field = (exc.constraint_name or "").split("_")[-2] if exc.constraint_name else None
        raise AppError("conflict", f"this {field or 'value'} is taken", field) from None
    except asyncpg.ForeignKeyViolationError:
        raise AppError("conflict", "it is still used, or refers to something gone") from None
    except asyncpg.CheckViolationError as exc:
        raise AppError("invalid", f"breaks the rule {exc.constraint_name}") from None


def changes(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a patch sets (None included: it clears them)."""
    return {
        name: getattr(patch, name)
        for name in patch.__struct_fields__
        if getattr(patch, name) is not msgspec.UNSET
    }


async def insert(conn: asyncpg.Connection, table: str, fields: dict[str, Any]) -> uuid.UUID:
    names = list(fields)
    values = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return await conn.fetchval(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values}) RETURNING id",
        *fields.values(),
    )


async def update(
    conn: asyncpg.Connection, table: str, row_id: uuid.UUID, fields: dict[str, Any]
) -> None:
    """Set `fields` (and updated_at) of one row; `not_found` if there is no such row."""
    sets = [f"{name} = ${i}" for i, name in enumerate(fields, start=2)] + ["updated_at = now()"]
    done = await conn.fetchval(
        f"UPDATE {table} SET {', '.join(sets)} WHERE id = $1 RETURNING id",
        row_id,
        *fields.values(),
    )
    if done is None:
        raise AppError("not_found", f"no such {table.rstrip('s').replace('_', ' ')}")


async def create_row(
    conn: asyncpg.Connection,
    caller: Principal,
    entity: str,
    table: str,
    fields: dict[str, Any],
    load: Callable[[asyncpg.Connection, uuid.UUID], Awaitable[T]],
) -> T:
    """Insert a row of `fields` and audit its creation; the entry as `load` reads it."""
    after = await load(conn, await insert(conn, table, fields))
    await audit.record(conn, caller.user_id, entity, after.id, "create", None, after)
    return after


async def patch_row(
    conn: asyncpg.Connection,
    caller: Principal,
    entity: str,
    table: str,
    before: T,
    fields: dict[str, Any],
    load: Callable[[asyncpg.Connection, uuid.UUID], Awaitable[T]],
) -> T:
    """Set `fields` of the row `before` was read from and audit the change; the entry as
    `load` reads it afterwards."""
    row_id = before.id
    if fields:
        await update(conn, table, row_id, fields)
    after = await load(conn, row_id)
    await audit.record(conn, caller.user_id, entity, row_id, "update", before, after)
    return after


async def delete_row(
    conn: asyncpg.Connection,
    caller: Principal,
    entity: str,
    table: str,
    before: Any,
    row_id: uuid.UUID,
) -> None:
    """Delete one row and audit what it was (`before`)."""
    await conn.execute(f"DELETE FROM {table} WHERE id = $1", row_id)
    await audit.record(conn, caller.user_id, entity, row_id, "delete", before)


# Notes ----------------------------------------------------------------------------------------


async def _note(conn: asyncpg.Connection, note_id: uuid.UUID) -> Note:
    row = await conn.fetchrow(f"SELECT {NOTE_COLUMNS} FROM fragrance_notes WHERE id = $1", note_id)
    if row is None:
        raise AppError("not_found", "no such note")
    return Note(**dict(row))


async def create_note(ctx: Context, caller: Principal, data: NoteCreate) -> Note:
    async with admin_transaction(ctx, caller) as conn:
        note = await create_row(
            conn, caller, "fragrance_note", "fragrance_notes", changes(data), _note
        )
    return note


async def update_note(ctx: Context, caller: Principal, note_id: uuid.UUID, data: NotePatch) -> Note:
    async with admin_transaction(ctx, caller) as conn:
        before = await _note(conn, note_id)
        after = await patch_row(
            conn, caller, "fragrance_note", "fragrance_notes", before, changes(data), _note
        )
        await store.refresh_note(conn, note_id)  # the search follows the new name
    return after


async def delete_note(ctx: Context, caller: Principal, note_id: uuid.UUID) -> None:
    """Refused (`conflict`) while a fragrance has the note."""
    async with admin_transaction(ctx, caller) as conn:
        before = await _note(conn, note_id)
        used = await conn.fetchval(
            "SELECT count(*) FROM fragrance_note_links WHERE note_id = $1", note_id
        )
        if used:
            raise AppError("conflict", f"{used} fragrance(s) still have this note")
        await delete_row(conn, caller, "fragrance_note", "fragrance_notes", before, note_id)


# Fragrances -----------------------------------------------------------------------------------


async def _set_notes(conn: asyncpg.Connection, fragrance_id: uuid.UUID, notes: NotesIn) -> None:
    """Replace the fragrance's notes; a slug that names no note is `invalid`."""
    layered = [
        (slug, layer, position)
        for layer in ("top", "heart", "base")
        for position, slug in enumerate(getattr(notes, layer))
    ]
    slugs = [slug for slug, _, _ in layered]
    if len(set(slugs)) != len(slugs):
        raise AppError("invalid", "a note is listed twice", "notes")
    known = await conn.fetch("SELECT id, slug FROM fragrance_notes WHERE slug = ANY($1)", slugs)
    ids = {r["slug"]: r["id"] for r in known}
    if missing := [s for s in slugs if s not in ids]:
        raise AppError("invalid", f"no note {missing[0]!r}", "notes")
    await conn.execute("DELETE FROM fragrance_note_links WHERE fragrance_id = $1", fragrance_id)
    await conn.executemany(
        "INSERT INTO fragrance_note_links (fragrance_id, note_id, layer, position) "
        "VALUES ($1, $2, $3, $4)",
        [(fragrance_id, ids[slug], layer, position) for slug, layer, position in layered],
    )


async def create_fragrance(
    ctx: Context, caller: Principal, data: FragranceCreate
) -> FragranceDetail:
    async with admin_transaction(ctx, caller) as conn:
        fields = changes(data)
        notes = fields.pop("notes")
        fragrance_id = await insert(conn, "fragrances", fields)
        await _set_notes(conn, fragrance_id, notes)
        await store.refresh(conn, [fragrance_id])
        after = await queries.fragrance(conn, fragrance_id)
        await audit.record(conn, caller.user_id, "fragrance", fragrance_id, "create", None, after)
    return after


async def update_fragrance(
    ctx: Context, caller: Principal, fragrance_id: uuid.UUID, data: FragrancePatch
) -> FragranceDetail:
    async with admin_transaction(ctx, caller) as conn:
        before = await queries.fragrance(conn, fragrance_id)
        fields = changes(data)
        notes = fields.pop("notes", None)
        if fields:
            await update(conn, "fragrances", fragrance_id, fields)
        if notes is not None:
            await _set_notes(conn, fragrance_id, notes)
        await store.refresh(conn, [fragrance_id])
        after = await queries.fragrance(conn, fragrance_id)
        await audit.record(conn, caller.user_id, "fragrance", fragrance_id, "update", before, after)
    return after


async def delete_fragrance(ctx: Context, caller: Principal, fragrance_id: uuid.UUID) -> None:
    """Deletes its products and note links with it."""
    async with admin_transaction(ctx, caller) as conn:
        before = await queries.fragrance(conn, fragrance_id)
        await delete_row(conn, caller, "fragrance", "fragrances", before, fragrance_id)


# Products -------------------------------------------------------------------------------------


async def _product(conn: asyncpg.Connection, product_id: uuid.UUID) -> Product:
    row = await conn.fetchrow(
        f"SELECT {queries.PRODUCT_COLUMNS} FROM products WHERE id = $1", product_id
    )
    if row is None:
        raise AppError("not_found", "no such product")
    return Product(**dict(row))


async def create_product(ctx: Context, caller: Principal, data: ProductCreate) -> Product:
    async with admin_transaction(ctx, caller) as conn:
        if not await conn.fetchval("SELECT 1 FROM fragrances WHERE id = $1", data.fragrance_id):
            raise AppError("not_found", "no such fragrance", "fragrance_id")
        product = await create_row(conn, caller, "product", "products", changes(data), _product)
    return product


async def update_product(
    ctx: Context, caller: Principal, product_id: uuid.UUID, data: ProductPatch
) -> Product:
    async with admin_transaction(ctx, caller) as conn:
        before = await _product(conn, product_id)
        return await patch_row(conn, caller, "product", "products", before, changes(data), _product)


async def delete_product(ctx: Context, caller: Principal, product_id: uuid.UUID) -> None:
    async with admin_transaction(ctx, caller) as conn:
        before = await _product(conn, product_id)
        await delete_row(conn, caller, "product", "products", before, product_id)


async def take_stock(conn: asyncpg.Connection, product_id: uuid.UUID, delta: int) -> int:
    """Add `delta` to a product's stock in one conditional UPDATE and return the new stock:
    `conflict` when it would go below zero (nothing changes), `not_found` without the product.
    Checkout reserves stock through this too."""
    stock = await conn.fetchval(
        "UPDATE products SET stock = stock + $2, updated_at = now() "
        "WHERE id = $1 AND stock + $2 >= 0 RETURNING stock",
        product_id,
        delta,
    )
    if stock is None:
        await _product(conn, product_id)  # not_found if it does not exist
        raise AppError("conflict", "not enough stock", "delta")
    if 0 in (stock, stock - delta):  # in stock or out of it: the in_stock facets change
        await store.touch(conn)
    return stock


async def change_stock(
    ctx: Context, caller: Principal, product_id: uuid.UUID, data: StockChange
) -> Product:
    async with admin_transaction(ctx, caller) as conn:
        await take_stock(conn, product_id, data.delta)
        after = await _product(conn, product_id)
        before = msgspec.structs.replace(after, stock=after.stock - data.delta)
        await audit.record(conn, caller.user_id, "product", product_id, "stock", before, after)
    return after
