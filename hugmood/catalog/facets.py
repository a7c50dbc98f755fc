"""Facet counts, cached per process by the catalog's version.

Counting every family, note and mood tag of a broad filter reads each of its fragrances; the
same counts are asked for again and again (the first page of a popular search, the unfiltered
catalog). Entries are keyed by the catalog version (`catalog_state`, moved on by every change in
its own transaction), the statement and its parameters, so a cached count is exactly what the
statement returns at that version: a change's commit makes every older entry unreachable.
Bounded: the least recently used entries go first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import asyncpg
import msgspec

from hugmood.catalog import store
from hugmood.catalog.models import FacetCount, Facets

MAX_ENTRIES = 2048  # each a few kilobytes: a few megabytes per process at most
NOTE_FACETS = 50  # the most frequent notes only: a facet is a menu, not an index


class FacetCache:
    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self.size = size
        self.entries: OrderedDict[bytes, tuple[int, Facets]] = OrderedDict()

    async def counts(
        self, conn: asyncpg.Connection, sql: str, params: list[Any]
    ) -> tuple[int, Facets]:
        """How many fragrances the statement's filter keeps, and their facets."""
        key = msgspec.json.encode([await store.version(conn), sql, params])
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
            return found
        found = _facets(await conn.fetch(sql, *params))
        self.entries[key] = found
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return found


def _facets(rows: list[asyncpg.Record]) -> tuple[int, Facets]:
    groups: dict[str, list[FacetCount]] = {"family": [], "note": [], "mood": []}
    for row in sorted(rows, key=lambda r: (-r["n"], r["value"])):
        groups[row["facet"]].append(FacetCount(row["value"], row["n"]))
    total = sum(c.count for c in groups["family"])  # each fragrance has one family
    return total, Facets(groups["family"], groups["note"][:NOTE_FACETS], groups["mood"])


# The web process's one cache (like asyncpg's statement cache, it lives with the process).
CACHE = FacetCache()
