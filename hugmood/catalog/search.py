"""Turning what people type into a text-search query that forgives typos.

A query is its words (letters and digits; case, punctuation and order do not matter), any of
which may match: the more of them a fragrance matches, and the higher their weight in its
document, the higher it ranks. A word that is not one of the catalog's own words (names, notes,
families, mood tags: `catalog_search_terms`) is also matched by the closest of them by trigram
similarity, so "vanila" finds vanilla and "sandlewood" sandalwood.
"""

from __future__ import annotations

import re

import asyncpg

from hugmood.catalog.models import MAX_QUERY_WORDS
from hugmood.core.errors import AppError

WORD = re.compile(r"[^\W_]+")
CORRECTIONS_PER_WORD = 3
# pg_trgm's similarity() above which a catalog word counts as what a misspelt word meant
# (0.3, its default: "sandlewood"/"sandalwood" is 0.47, "vanila"/"vanilla" 0.67).
SIMILARITY = 0.3

RESOLVE = """
SELECT w,
       EXISTS (SELECT 1 FROM catalog_search_terms WHERE term = w) AS known,
       ARRAY(SELECT term FROM catalog_search_terms
             WHERE term % w AND similarity(term, w) >= $2
             ORDER BY similarity(term, w) DESC, term LIMIT $3) AS near
FROM unnest($1::text[]) AS w
"""


def words(q: str) -> list[str]:
    """The distinct words of a query, in order; more than MAX_QUERY_WORDS is `invalid`."""
    found = list(dict.fromkeys(WORD.findall(q.lower())))
    if len(found) > MAX_QUERY_WORDS:
        raise AppError("invalid", f"a search has at most {MAX_QUERY_WORDS} words", "q")
    return found


async def tsquery_text(conn: asyncpg.Connection | asyncpg.Pool, q: str) -> str:
    """The `to_tsquery('english', …)` text for `q`: each word, or for a word the catalog does
    not know, the word or its nearest catalog words; any of them may match. Only words of
    letters and digits reach it, so nothing in it is tsquery syntax. Empty: nothing to find."""
    found = words(q)
    if not found:
        return ""
    rows = await conn.fetch(RESOLVE, found, SIMILARITY, CORRECTIONS_PER_WORD)
    alternatives = []
    for row in rows:
        options = [row["w"]] + ([] if row["known"] else list(row["near"]))
        alternatives.append(" | ".join(dict.fromkeys(options)))
    return " | ".join(f"({a})" for a in alternatives)
