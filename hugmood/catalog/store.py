"""What a fragrance's writes keep in step with it, in their own transaction: its note slugs
and weighted search document, the search vocabulary, and the catalog's version.

The search document weighs the name A, notes and family B, mood tags, seasons and times of day
C and the description D, so that a word in a name outranks the same word among the notes, and
a note outranks a mention in a description.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

REFRESH = """
WITH n AS (
  SELECT f.id,
         coalesce(array_agg(n.slug ORDER BY n.slug) FILTER (WHERE n.id IS NOT NULL), '{}') AS slugs,
         coalesce(string_agg(n.name, ' '), '') AS names
  FROM fragrances f
  LEFT JOIN fragrance_note_links l ON l.fragrance_id = f.id
  LEFT JOIN fragrance_notes n ON n.id = l.note_id
  WHERE f.id = ANY($1::uuid[])
  GROUP BY f.id
), updated AS (
  UPDATE fragrances f SET
    note_slugs = n.slugs,
    search = setweight(to_tsvector('english', f.name), 'A')
          || setweight(to_tsvector('english', n.names || ' ' || f.family), 'B')
          || setweight(to_tsvector('english',
               array_to_string(f.mood_tags || f.seasons || f.times_of_day, ' ')), 'C')
          || setweight(to_tsvector('english', f.description), 'D')
  FROM n WHERE f.id = n.id
  RETURNING f.name, n.names, f.family, f.mood_tags
)
INSERT INTO catalog_search_terms (term)
SELECT DISTINCT w FROM updated u,
  regexp_split_to_table(lower(u.name || ' ' || u.names || ' ' || u.family || ' '
                              || array_to_string(u.mood_tags, ' ')), '[^[:alnum:]]+') AS w
WHERE length(w) >= 3
ON CONFLICT DO NOTHING
"""


async def refresh(conn: asyncpg.Connection, fragrance_ids: Sequence[uuid.UUID]) -> None:
    """Rewrite the note slugs and search documents of `fragrance_ids` from their rows."""
    if fragrance_ids:
        await conn.execute(REFRESH, list(fragrance_ids))


async def refresh_note(conn: asyncpg.Connection, note_id: uuid.UUID) -> None:
    """After a note's name changed: every fragrance that has it."""
    ids = await conn.fetch(
        "SELECT fragrance_id FROM fragrance_note_links WHERE note_id = $1", note_id
    )
    await refresh(conn, [r["fragrance_id"] for r in ids])


async def touch(conn: asyncpg.Connection) -> None:
    """A change that can alter facet counts: the catalog's version moves on with its commit."""
    await conn.execute("UPDATE catalog_state SET version = version + 1")


async def version(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return await conn.fetchval("SELECT version FROM catalog_state")
