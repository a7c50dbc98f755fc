"""The demo catalog (`demo.json`, fictional, written for this project) loaded through the admin
functions, so that it is validated and audited like any admin change. Idempotent: entries that
exist (notes and fragrances by slug, products by sku, collections by name, designs by
collection and name) are left as they are.

Seasonal design windows are written as month-day pairs and placed on the calendar at load time:
the occurrence that has not ended yet (so a window that is open today stays open).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hugmood.catalog import admin, admin_designs
from hugmood.catalog.admin_models import (
    CollectionCreate,
    DesignCreate,
    FragranceCreate,
    NoteCreate,
    NotesIn,
    ProductCreate,
)
from hugmood.core.context import Context
from hugmood.identity.models import Principal

DEMO = Path(__file__).with_name("demo.json")
CURRENCY = "USD"


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def window(month_days: list[str], now: datetime) -> tuple[datetime, datetime]:
    """The first occurrence of a yearly window (start inclusive, end exclusive) that ends after
    `now`; a window whose end comes before its start spans the new year."""
    (sm, sd), (em, ed) = ((int(p) for p in md.split("-")) for md in month_days)
    for year in (now.year - 1, now.year, now.year + 1):
        start = datetime(year, sm, sd, tzinfo=UTC)
        end = datetime(year + ((em, ed) < (sm, sd)), em, ed, tzinfo=UTC) + timedelta(days=1)
        if end > now:
            return start, end
    raise AssertionError("unreachable: next year's window ends after now")


def data() -> dict[str, Any]:
    return json.loads(DEMO.read_text())


async def load(ctx: Context, admin_id: uuid.UUID, now: datetime | None = None) -> int:
    """Load what is missing of the demo catalog as admin `admin_id`; returns how many
    fragrances were added."""
    now = now or datetime.now(UTC)
    caller = Principal(admin_id, uuid.uuid4(), "admin", False, now + timedelta(hours=1))
    demo = data()
    db = ctx.db
    known = {r["slug"] for r in await db.fetch("SELECT slug FROM fragrance_notes")}
    for slug, name in demo["notes"].items():
        if slug not in known:
            await admin.create_note(ctx, caller, NoteCreate(slug=slug, name=name))
    added = 0
    for f in demo["fragrances"]:
        slug = slugify(f["name"])
        fragrance_id = await db.fetchval("SELECT id FROM fragrances WHERE slug = $1", slug)
        if fragrance_id is None:
            created = await admin.create_fragrance(ctx, caller, _fragrance(f, slug))
            fragrance_id, added = created.fragrance.id, added + 1
        for (kind, size, code), price, stock in zip(
            demo["products"], f["prices"], f["stock"], strict=True
        ):
            sku = f"{slug.upper()}-{code}"
            if not await db.fetchval("SELECT 1 FROM products WHERE sku = $1", sku):
                product = ProductCreate(fragrance_id, kind, size, sku, price, CURRENCY, stock)
                await admin.create_product(ctx, caller, product)
    for c in demo["collections"]:
        await _collection(ctx, caller, c, now)
    return added


def _fragrance(f: dict[str, Any], slug: str) -> FragranceCreate:
    return FragranceCreate(
        slug=slug,
        name=f["name"],
        family=f["family"],
        valence=f["valence"],
        arousal=f["arousal"],
        intensity=f["intensity"],
        description=f["description"],
        mood_tags=f["tags"],
        seasons=f["seasons"],
        times_of_day=f["times"],
        images=[f"https://images.hugmood.example/fragrances/{slug}.jpg"],
        popularity=f["popularity"],
        notes=NotesIn(top=f["top"], heart=f["heart"], base=f["base"]),
    )


async def _collection(ctx: Context, caller: Principal, c: dict[str, Any], now: datetime) -> None:
    collection_id = await ctx.db.fetchval(
        "SELECT id FROM hug_collections WHERE name = $1", c["name"]
    )
    if collection_id is None:
        created = await admin_designs.create_collection(
            ctx,
            caller,
            CollectionCreate(
                name=c["name"],
                description=c["description"],
                is_premium=c["is_premium"],
                is_seasonal=c.get("seasonal", False),
            ),
        )
        collection_id = created.id
    for d in c["designs"]:
        exists = await ctx.db.fetchval(
            "SELECT 1 FROM hug_designs WHERE collection_id = $1 AND name = $2",
            collection_id,
            d["name"],
        )
        if exists:
            continue
        start, end = window(d["window"], now) if "window" in d else (None, None)
        await admin_designs.create_design(
            ctx,
            caller,
            DesignCreate(
                name=d["name"],
                collection_id=collection_id,
                description=d["description"],
                animation_data=d["animation"],
                haptic_pattern=d["haptic"],
                preview_image=f"https://images.hugmood.example/designs/{slugify(d['name'])}.png",
                price_minor=d["price"],
                currency=CURRENCY if d["price"] is not None else None,
                is_premium=d["premium"],
                available_from=start,
                available_until=end,
            ),
        )
