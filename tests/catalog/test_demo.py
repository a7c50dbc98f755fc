"""The demo catalog `make run` loads: every family, several products per fragrance, three
collections of designs, and loading it again changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hugmood.catalog import demo
from hugmood.catalog.models import FAMILIES
from tests.conftest import uid


async def counts(db) -> dict[str, int]:
    tables = ("fragrances", "fragrance_notes", "products", "hug_collections", "hug_designs")
    return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_the_demo_catalog_covers_every_family(catalog) -> None:
    slugs = [demo.slugify(f["name"]) for f in demo.data()["fragrances"]]
    rows = await catalog.db.fetch(
        "SELECT f.family, count(p.*) AS products FROM fragrances f "
        "JOIN products p ON p.fragrance_id = f.id WHERE f.slug = ANY($1) GROUP BY f.id",
        slugs,
    )
    assert len(rows) == len(slugs) >= 30
    assert {r["family"] for r in rows} == set(FAMILIES)
    assert min(r["products"] for r in rows) >= 3
    designs = await catalog.db.fetch(
        "SELECT c.name, count(d.*) AS designs FROM hug_collections c "
        "JOIN hug_designs d ON d.collection_id = c.id "
        "WHERE c.name = ANY($1) GROUP BY c.name",
        [c["name"] for c in demo.data()["collections"]],
    )
    assert len(designs) == 3 and min(r["designs"] for r in designs) >= 3


async def test_loading_it_again_adds_nothing(catalog) -> None:
    before = await counts(catalog.db)
    added = await demo.load(catalog.services.ctx, uuid.UUID(uid(catalog.admin)))
    assert added == 0
    assert await counts(catalog.db) == before


def test_seasonal_windows_take_the_occurrence_that_has_not_ended() -> None:
    dec = datetime(2026, 12, 2, tzinfo=UTC)
    assert demo.window(["12-01", "02-28"], dec) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 3, 1, tzinfo=UTC),
    )
    jan = datetime(2027, 1, 15, tzinfo=UTC)
    assert demo.window(["12-01", "02-28"], jan)[0] == datetime(2026, 12, 1, tzinfo=UTC)
    june = datetime(2027, 6, 1, tzinfo=UTC)
    assert demo.window(["12-01", "01-31"], june) == (
        datetime(2027, 12, 1, tzinfo=UTC),
        datetime(2028, 2, 1, tzinfo=UTC),
    )
