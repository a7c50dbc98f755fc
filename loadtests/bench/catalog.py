"""Catalog browsing over HTTP against one web process: a generated catalog of 10,000 fragrances
and 30,000 products, then `GET /catalog/fragrances` for typical searches with facets
(misspellings included), filtered lists with facets, and the unfiltered first page with facets
over the whole catalog. Per kind: latency one request at a time (p50/p99, measured from this
process over keep-alive HTTP), then requests/s with a few clients in parallel; and the
`EXPLAIN ANALYZE` of each kind's statements, kept in the results.

Each kind runs twice: `warm`, the same few queries again and again (their facet counts come
from the process's cache after the first), and `cold`, where every request carries a filter
never seen before (an extra `valence_min` below 0.01, which keeps nearly everything), so its
facets are counted in PostgreSQL every time.

The catalog is written directly (COPY), its search documents and vocabulary through the
application's own `hugmood.catalog.store.refresh`, as an admin write would leave them."""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from hugmood.catalog import store
from hugmood.catalog.demo import data as demo_data
from hugmood.catalog.models import FAMILIES, FragranceQuery
from hugmood.catalog.queries import Statements
from hugmood.catalog.search import RESOLVE, SIMILARITY, words

from .harness import Bench
from .measure import SERVER_CORE, CpuWindow, percentiles
from .report import row
from .servers import HOST

FRAGRANCES, PRODUCTS_PER = 10_000, 3
CLIENTS = 4  # parallel keep-alive connections in the throughput window
SEARCHES = [
    "vanilla",
    "woody calm evening",
    "sandlewood",
    "fresh citrus morning",
    "rose amber",
    "cozy winter night",
    "vanila",
    "green tea",
    "something woody and calm for the evening",
    "lavendar honey",
]
FILTERS = [
    {"family": "woody", "mood": "calm", "price_max": 3000, "sort": "price"},
    {"note": "vanilla", "in_stock": "true", "season": "winter"},
    {"valence_min": 0.6, "arousal_max": 0.4, "sort": "popularity"},
    {"family": "citrus,fresh", "time_of_day": "morning", "sort": "newest"},
    {"mood": "cozy,comforting", "price_min": 2000, "price_max": 4000},
]
KINDS = {
    "search": [{"q": q} for q in SEARCHES],
    "filtered": FILTERS,
    "browse": [{}],  # first page, facets over all 10,000
}
ADJECTIVES = (
    "Velvet Midnight Golden Silver Quiet Wild Soft Amber Misty Sunlit Hidden Lunar Salt Paper "
    "Warm Cold Smoked Green Copper Crystal Northern Southern Secret Gentle Bright Slow Rainy "
    "Stormy Sleepy Little Tender Bold Dusky Hollow Distant"
).split()
MOODS = (
    "calm cozy energizing uplifting romantic focused grounding playful comforting dreamy fresh "
    "confident serene nostalgic"
).split()


def generate(
    rng: random.Random, notes: dict[str, str], note_ids: dict[str, uuid.UUID]
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Rows of fragrances, note links and products, the same for a given seed."""
    slugs, names = list(notes), list(notes.values())
    fragrances, links, products = [], [], []
    for i in range(FRAGRANCES):
        fid = uuid.UUID(int=rng.getrandbits(128), version=4)
        picked = rng.sample(range(len(slugs)), rng.randint(3, 7))
        title = f"{rng.choice(ADJECTIVES)} {names[picked[0]]}"
        tags = rng.sample(MOODS, rng.randint(1, 3))
        family = rng.choice(FAMILIES)
        seasons = rng.sample(["spring", "summer", "autumn", "winter"], rng.randint(1, 2))
        times = rng.sample(["morning", "afternoon", "evening", "night"], rng.randint(1, 2))
        description = (
            f"A {tags[0]} {family} blend: {', '.join(names[p].lower() for p in picked[1:])}, "
            f"for {times[0]}s in {seasons[0]}."
        )
        fragrances.append(
            (
                fid,
                f"{title.lower().replace(' ', '-')}-{i}",
                f"{title} No. {i}",
                description,
                family,
                round(rng.random(), 2),
                round(rng.random(), 2),
                tags,
                rng.randint(1, 5),
                seasons,
                times,
                rng.randint(0, 5000),
            )
        )
        for position, p in enumerate(picked):
            layer = ("top", "heart", "base")[min(2, position * 3 // len(picked))]
            links.append((fid, note_ids[slugs[p]], layer, position))
        for kind, size in (("candle", "200 g"), ("room_spray", "100 ml"), ("oil", "10 ml")):
            products.append(
                (
                    fid,
                    kind,
                    size,
                    f"GEN-{i}-{kind}",
                    rng.randint(12, 60) * 100,
                    "USD",
                    rng.choice([0, 0, 3, 8, 20]),
                )
            )
    return fragrances, links, products


async def build_catalog(b: Bench) -> None:
    """Once per bench database: a repeated attempt measures the catalog already there."""
    async with b._db() as conn:
        if await conn.fetchval("SELECT count(*) FROM fragrances") >= FRAGRANCES:
            return
        notes = demo_data()["notes"]
        rows = await conn.fetch(
            "INSERT INTO fragrance_notes (slug, name) SELECT * FROM unnest($1::text[], $2::text[]) "
            "RETURNING id, slug",
            list(notes),
            list(notes.values()),
        )
        note_ids = {r["slug"]: r["id"] for r in rows}
        fragrances, links, products = generate(random.Random(15), notes, note_ids)
        await conn.copy_records_to_table(
            "fragrances",
            records=fragrances,
            columns=[
                "id",
                "slug",
                "name",
                "description",
                "family",
                "valence",
                "arousal",
                "mood_tags",
                "intensity",
                "seasons",
                "times_of_day",
                "popularity",
            ],
        )
        await conn.copy_records_to_table(
            "fragrance_note_links",
            records=links,
            columns=["fragrance_id", "note_id", "layer", "position"],
        )
        await conn.copy_records_to_table(
            "products",
            records=products,
            columns=["fragrance_id", "kind", "size", "sku", "price_minor", "currency", "stock"],
        )
        ids = [f[0] for f in fragrances]
        for start in range(0, len(ids), 1000):
            async with conn.transaction():
                await store.refresh(conn, ids[start : start + 1000])
        await conn.execute("VACUUM ANALYZE")


class HttpClient:
    """One keep-alive HTTP/1.1 connection: the least a client can cost per request."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=10)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, params: dict[str, Any]) -> float:
        t0 = time.perf_counter()
        self.conn.request("GET", "/catalog/fragrances?" + urlencode(params), headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200 or b'"facets":{' not in body:
            raise RuntimeError(f"catalog answered {response.status}: {body[:300]!r}")
        return elapsed


def measure(port: int, token: str, queries: list[dict], seconds: float, cold: bool) -> dict:
    """Latency one at a time for `seconds`, then `CLIENTS` in parallel for `seconds`."""
    client = HttpClient(port, token)
    serial = iter(range(10**9))

    def nth(i: int) -> dict[str, Any]:
        q = queries[i % len(queries)]
        return q | {"valence_min": f"{next(serial) * 1e-8:.8f}"} if cold else q

    for i in range(len(queries)):  # plans cached, pages in memory
        client.get(nth(i))
    latencies: list[float] = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        latencies.append(client.get(nth(len(latencies))))
    done = [0] * CLIENTS

    def load(slot: int) -> None:
        mine = HttpClient(port, token)
        while time.time() < stop_at:
            mine.get(nth(done[slot] + slot))
            done[slot] += 1

    stop_at = time.time() + seconds
    threads = [threading.Thread(target=load, args=(i,)) for i in range(CLIENTS)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": latencies, "rate": sum(done) / (time.time() - t0)}


async def explain(b: Bench, params: dict[str, Any]) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements one list request runs."""
    query = FragranceQuery(**{k: v for k, v in params.items()})
    plans = {}
    async with b._db() as conn:
        sql = await Statements.build(conn, query)
        for name, text, args in (
            ("page", sql.page_sql, sql.page_params),
            ("facets", sql.facets_sql, sql.facets_params),
        ):
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {text}", *args)
            plans[name] = "\n".join(r[0] for r in rows)
        if query.q:
            resolve = f"EXPLAIN (ANALYZE, BUFFERS) {RESOLVE}"
            rows = await conn.fetch(resolve, words(query.q), SIMILARITY, 3)
            plans["typo_terms"] = "\n".join(r[0] for r in rows)
    return plans


def typed(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters as FragranceQuery fields (what the server decodes them into)."""
    return {k: (v == "true" if k == "in_stock" else v) for k, v in params.items()}


def scenario_catalog(b: Bench) -> list[dict[str, Any]]:
    t0 = time.time()
    asyncio.run(build_catalog(b))
    built_secs = time.time() - t0
    server = b.server(SERVER_CORE)
    token = b.tokens(b.make_users(1))[0]
    rows = []
    for kind, queries in KINDS.items():
        example = queries[0]
        plans = asyncio.run(explain(b, typed(example)))
        for cold in (False, True):
            cpu = CpuWindow({"server": [server.pid], "generator": [os.getpid()]}, b.db_name)
            cpu.start()
            result = measure(server.port, token, queries, b.plan.duration, cold)
            window = {"cpu": cpu.stop()}
            rows.append(
                row(
                    "catalog",
                    f"GET /catalog/fragrances, {kind} with facets, {'cold' if cold else 'warm'} "
                    f"({len(queries)} queries, {FRAGRANCES:,} fragrances)",
                    result["rate"],
                    f"requests/s ({CLIENTS} clients)",
                    window,
                    percentiles(result["latencies"]),
                    queries=queries,
                    explained=example,
                    plans=plans if cold else None,
                    catalog_build_secs=round(built_secs, 1),
                    server_log=b.server_log(),
                )
            )
    b.finish()
    return rows
