"""Browsing fragrances: filters, search, sorts, keyset pages, facets and the detail view.

One `Filter` turns a `FragranceQuery` into SQL conditions over `fragrances f`; the page and the
facet counts are both read through it, so the counts always describe exactly the list. Filters
on products (price range, in stock) hold when one product in the asked currency meets all of
them; `price_from` and the price sorts use the cheapest such product.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from hugmood.catalog import cursor as cursors
from hugmood.catalog.facets import CACHE
from hugmood.catalog.models import (
    FAMILIES,
    MAX_FILTER_VALUES,
    Fragrance,
    FragranceDetail,
    FragrancePage,
    FragranceQuery,
    NoteRef,
    Notes,
    Price,
    Product,
)
from hugmood.catalog.search import tsquery_text
from hugmood.core.context import Context
from hugmood.core.errors import AppError

NO_PRICE = 2**31 - 1  # the price key of a fragrance without a product in the currency
# ts_rank weights of D, C, B, A (description; tags, seasons, times; notes, family; name), and
# what an exact name adds, so that typing a fragrance's name puts it first.
RANK_WEIGHTS = "{0.05, 0.2, 0.5, 1.0}"
EXACT_NAME_BONUS = 10.0

FRAGRANCE_COLUMNS = (
    "f.id, f.slug, f.name, f.description, f.family, f.valence, f.arousal, f.mood_tags, "
    "f.intensity, f.seasons, f.times_of_day, f.images, f.popularity, f.created_at, f.updated_at"
)
PRODUCT_COLUMNS = (
    "id, fragrance_id, kind, size, sku, price_minor, currency, stock::int AS stock, created_at"
)


def _values(text: str | None, field: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated filter as its distinct values; unknown or too many are `invalid`."""
    if text is None:
        return []
    values = list(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    if not values or len(values) > MAX_FILTER_VALUES:
        raise AppError("invalid", f"give 1 to {MAX_FILTER_VALUES} comma-separated values", field)
    if allowed is not None and (unknown := [v for v in values if v not in allowed]):
        raise AppError("invalid", f"unknown value {unknown[0]!r}", field)
    return values


def _check_range(low: float | None, high: float | None, field: str) -> None:
    if low is not None and high is not None and low > high:
        raise AppError("invalid", f"{field}_min is above {field}_max", f"{field}_min")


class Filter:
    """SQL conditions and their parameters for one query (parameters numbered in order)."""

    def __init__(self) -> None:
        self.params: list[Any] = []
        self.where: list[str] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    async def build(self, conn: Any, query: FragranceQuery) -> Filter:
        for name in ("valence", "arousal", "price"):
            _check_range(getattr(query, f"{name}_min"), getattr(query, f"{name}_max"), name)
        self.query_text = (query.q or "").strip()
        self.tsquery: str | None = None
        if self.query_text:
            must, rank = await tsquery_text(conn, self.query_text)
            self.tsquery = f"to_tsquery('english', {self.param(must)})"
            self.where.append(f"f.search @@ {self.tsquery}")
            self.rank_text = rank
        if families := _values(query.family, "family", FAMILIES):
            self.where.append(f"f.family = ANY({self.param(families)}::text[])")
        if notes := _values(query.note, "note"):
            self.where.append(f"f.note_slugs @> {self.param(notes)}::text[]")
        if moods := _values(query.mood, "mood"):
            self.where.append(f"f.mood_tags @> {self.param(moods)}::text[]")
        for column, value in (("seasons", query.season), ("times_of_day", query.time_of_day)):
            if value is not None:
                self.where.append(f"f.{column} @> ARRAY[{self.param(value)}::text]")
        for name in ("valence", "arousal"):
            for bound, op in (("min", ">="), ("max", "<=")):
                if (value := getattr(query, f"{name}_{bound}")) is not None:
                    self.where.append(f"f.{name} {op} {self.param(value)}")
        products = []
        if query.price_min is not None:
            products.append(f"p.price_minor >= {self.param(query.price_min)}")
        if query.price_max is not None:
            products.append(f"p.price_minor <= {self.param(query.price_max)}")
        if query.in_stock:
            products.append("p.stock > 0")
        self.currency, self.product_conditions, self._products = query.currency, products, ""
        if products:
            self.where.append(
                f"EXISTS (SELECT 1 FROM products p WHERE p.fragrance_id = f.id "
                f"AND {self.products()})"
            )
        self.filter_params = len(self.params)  # the ones `sql()` names, facets reuse them
        return self

    def products(self) -> str:
        """What a product must meet (its currency's parameter made when first needed)."""
        if not self._products:
            currency = f"p.currency = {self.param(self.currency)}"
            self._products = " AND ".join([currency, *self.product_conditions])
        return self._products

    def sql(self) -> str:
        return " AND ".join(self.where) or "true"


def _sort_key(sort: str, flt: Filter) -> tuple[str, str]:
    """The SQL of a sort's key and its direction."""
    if sort in ("price", "price_desc"):
        cheapest = (
            "(SELECT min(p.price_minor) FROM products p WHERE p.fragrance_id = f.id "
            f"AND {flt.products()})"
        )
        if sort == "price":
            return f"coalesce({cheapest}, {NO_PRICE})", "ASC"
        return f"coalesce({cheapest}, -1)", "DESC"
    if sort == "relevance" and flt.tsquery is not None:
        return (
            f"(ts_rank('{RANK_WEIGHTS}', f.search, to_tsquery('english', "
            f"{flt.param(flt.rank_text)}))::float8 + CASE WHEN "
            f"lower(f.name) = lower({flt.param(flt.query_text)}) "
            f"THEN {EXACT_NAME_BONUS} ELSE 0 END)",
            "DESC",
        )
    if sort == "newest":
        return "f.created_at", "DESC"
    return "f.popularity", "DESC"


class Statements:
    """The SQL a list runs, with its parameters: the page (`page_sql`, one row more than the
    limit) and the facet counts over the same conditions (`facets_sql`)."""

    def __init__(self, flt: Filter, query: FragranceQuery) -> None:
        self.sort = query.sort if query.sort != "relevance" or flt.tsquery else "popularity"
        key, self.direction = _sort_key(self.sort, flt)
        conditions = flt.sql()
        self.facets_sql = FACETS.format(conditions=conditions)
        self.facets_params = flt.params[: flt.filter_params]
        if query.cursor is not None:
            after, after_id = cursors.decode(query.cursor, self.sort)
            op = "<" if self.direction == "DESC" else ">"
            conditions += f" AND ({key}, f.id) {op} ({flt.param(after)}, {flt.param(after_id)})"
        self.page_sql = (
            f"SELECT {FRAGRANCE_COLUMNS}, {key} AS sort_key FROM fragrances f "
            f"WHERE {conditions} ORDER BY sort_key {self.direction}, f.id {self.direction} "
            f"LIMIT {flt.param(query.limit + 1)}"
        )
        self.page_params = flt.params

    @classmethod
    async def build(cls, conn: asyncpg.Connection, query: FragranceQuery) -> Statements:
        return cls(await Filter().build(conn, query), query)


# Facet counts over the filter's rows: one pass over them, materialised once.
FACETS = """
WITH m AS MATERIALIZED (
  SELECT f.family, f.note_slugs, f.mood_tags FROM fragrances f WHERE {conditions}
)
SELECT 'family' AS facet, family AS value, count(*) AS n FROM m GROUP BY family
UNION ALL
SELECT 'note', v, count(*) FROM m, unnest(m.note_slugs) AS v GROUP BY v
UNION ALL
SELECT 'mood', v, count(*) FROM m, unnest(m.mood_tags) AS v GROUP BY v
"""


async def list_fragrances(ctx: Context, query: FragranceQuery) -> FragrancePage:
    async with ctx.db.acquire() as conn:
        sql = await Statements.build(conn, query)
        rows = await conn.fetch(sql.page_sql, *sql.page_params)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items = await _fragrances(conn, rows, query.currency)
        last = rows[-1] if more and rows else None
        next_cursor = cursors.encode(sql.sort, last["sort_key"], last["id"]) if last else None
        total, facets = None, None
        if query.facets:
            total, facets = await CACHE.counts(conn, sql.facets_sql, sql.facets_params)
    return FragrancePage(items, next_cursor, total, facets)


async def _fragrances(
    conn: asyncpg.Connection | asyncpg.Pool, rows: list[asyncpg.Record], currency: str
) -> list[Fragrance]:
    """Rows of `fragrances` with their notes, cheapest product in `currency` and stock."""
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    notes = await conn.fetch(
        "SELECT l.fragrance_id, l.layer, n.slug, n.name FROM fragrance_note_links l "
        "JOIN fragrance_notes n ON n.id = l.note_id WHERE l.fragrance_id = ANY($1::uuid[]) "
        "ORDER BY l.position, n.name",
        ids,
    )
    offers = await conn.fetch(
        "SELECT fragrance_id, min(price_minor) FILTER (WHERE currency = $2) AS price_from, "
        "bool_or(stock > 0) AS in_stock FROM products WHERE fragrance_id = ANY($1::uuid[]) "
        "GROUP BY fragrance_id",
        ids,
        currency,
    )
    layers: dict[uuid.UUID, dict[str, list[NoteRef]]] = {
        i: {"top": [], "heart": [], "base": []} for i in ids
    }
    for n in notes:
        layers[n["fragrance_id"]][n["layer"]].append(NoteRef(n["slug"], n["name"]))
    offer = {o["fragrance_id"]: o for o in offers}
    out = []
    for r in rows:
        o = offer.get(r["id"])
        price = Price(o["price_from"], currency) if o and o["price_from"] is not None else None
        fields = {k: r[k] for k in Fragrance.__struct_fields__ if k in r.keys()}
        out.append(
            Fragrance(
                **fields,
                notes=Notes(**layers[r["id"]]),
                price_from=price,
                in_stock=bool(o and o["in_stock"]),
            )
        )
    return out


async def fragrance(
    db: asyncpg.Connection | asyncpg.Pool, ref: str | uuid.UUID, currency: str = "USD"
) -> FragranceDetail:
    """One fragrance by id or slug, with all its products; `not_found` if there is none."""
    try:
        column, value = "id", ref if isinstance(ref, uuid.UUID) else uuid.UUID(ref)
    except ValueError:
        column, value = "slug", ref
    row = await db.fetchrow(
        f"SELECT {FRAGRANCE_COLUMNS} FROM fragrances f WHERE f.{column} = $1", value
    )
    if row is None:
        raise AppError("not_found", "no such fragrance")
    products = await db.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE fragrance_id = $1 "
        "ORDER BY kind, price_minor, id",
        row["id"],
    )
    [item] = await _fragrances(db, [row], currency)
    return FragranceDetail(item, [Product(**dict(p)) for p in products])
