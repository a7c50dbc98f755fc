"""Turning what people type into a text-search query that forgives typos.

A query is its words (letters and digits; case, punctuation and order do not matter). Each
word that is one of the catalog's own words (names, notes, families, mood tags:
`catalog_search_terms`) must match; a word that is not is matched by the closest of them by
trigram similarity, so "vanila" finds vanilla and "sandlewood" sandalwood, and must match as
itself or as one of them. A word with no such neighbour ("something", "for") cannot narrow the
catalog: it only ranks, and when no word narrows, any word may match. Within the matches, the
higher a word's weight in a fragrance's document, the higher the fragrance ranks.
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


async def tsquery_text(conn: asyncpg.Connection | asyncpg.Pool, q: str) -> tuple[str, str]:
    """The `to_tsquery('english', …)` texts for `q`: what a fragrance must match, and what
    ranks it (the former with the words that cannot narrow). Only words of letters and digits
    reach them, so nothing in them is tsquery syntax. Empty: nothing to find."""
    found = words(q)
    if not found:
        return "", ""
    rows = await conn.fetch(RESOLVE, found, SIMILARITY, CORRECTIONS_PER_WORD)
    required, optional = [], []
    for row in rows:
        if row["known"]:
            required.append(row["w"])
        elif row["near"]:
            required.append("(" + " | ".join(dict.fromkeys([row["w"], *row["near"]])) + ")")
        else:
            optional.append(row["w"])
    if not required:
        return " | ".join(optional), " | ".join(optional)
    must = " & ".join(required)
    return must, " | ".join([f"({must})", *optional])
