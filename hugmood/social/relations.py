"""How two people stand towards each other: follows both ways and blocks, read set-based.

Only facts live here; what those facts allow (who sees what, who may hug whom) is decided in
`hugmood.social.privacy`.
"""

from __future__ import annotations

import uuid

import asyncpg
from msgspec import Struct

_BLOCKED = """EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = {me} AND blocked_id = {other})
                                      OR (blocker_id = {other} AND blocked_id = {me}))"""


class Relation(Struct, frozen=True):
    """How `other` stands towards `me`."""

    blocked: bool  # either one blocked the other
    friends: bool  # both follow each other
    follows_me: bool  # other follows me
    following: bool  # I follow other


async def relations(
    conn: asyncpg.Connection, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> list[Relation]:
    """How each `other` stands towards each `me`, for `(me, other)` pairs, in order: one query."""
    rows = await conn.fetch(
        f"""
        SELECT
          {_BLOCKED.format(me="p.me", other="p.other")} AS blocked,
          EXISTS (SELECT 1 FROM follows WHERE follower_id = p.me AND following_id = p.other)
            AS i_follow,
          EXISTS (SELECT 1 FROM follows WHERE follower_id = p.other AND following_id = p.me)
            AS follows_me
        FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS p(me, other, n)
        ORDER BY p.n
        """,
        [me for me, _ in pairs],
        [other for _, other in pairs],
    )
    return [
        Relation(
            blocked=row["blocked"],
            friends=row["i_follow"] and row["follows_me"],
            follows_me=row["follows_me"],
            following=row["i_follow"],
        )
        for row in rows
    ]


async def relation(conn: asyncpg.Connection, me: uuid.UUID, other: uuid.UUID) -> Relation:
    return (await relations(conn, [(me, other)]))[0]


async def followed(conn: asyncpg.Connection, viewer: uuid.UUID) -> list[tuple[uuid.UUID, Relation]]:
    """Everyone `viewer` follows, each with how `viewer` stands towards them: one query."""
    rows = await conn.fetch(
        f"""
        SELECT f.following_id AS owner,
               {_BLOCKED.format(me="f.following_id", other="$1")} AS blocked,
               EXISTS (SELECT 1 FROM follows back
                       WHERE back.follower_id = f.following_id AND back.following_id = $1)
                 AS mutual
        FROM follows f
        WHERE f.follower_id = $1
        """,
        viewer,
    )
    return [
        (
            row["owner"],
            Relation(
                blocked=row["blocked"],
                friends=row["mutual"],
                follows_me=True,
                following=row["mutual"],
            ),
        )
        for row in rows
    ]
