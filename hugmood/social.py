"""The social graph as the privacy rules see it: follows, friends (mutual follows) and blocks.

`audience_allows` is the single place that decides whether an everyone/friends/nobody setting
lets one user reach another; a block in either direction always wins.
"""

from __future__ import annotations

import uuid

import asyncpg
from msgspec import Struct

from hugmood.models import Audience


class Relation(Struct, frozen=True):
    """How `other` stands towards `me`."""

    blocked: bool  # either one blocked the other
    friends: bool  # both follow each other


async def relation(conn: asyncpg.Connection, me: uuid.UUID, other: uuid.UUID) -> Relation:
    row = await conn.fetchrow(
        """
        SELECT
          EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2)
                                          OR (blocker_id = $2 AND blocked_id = $1)) AS blocked,
          EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND following_id = $2)
          AND EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND following_id = $1) AS friends
        """,
        me,
        other,
    )
    return Relation(blocked=row["blocked"], friends=row["friends"])


def audience_allows(audience: Audience, rel: Relation) -> bool:
    if rel.blocked or audience == "nobody":
        return False
    return audience == "everyone" or rel.friends


async def friend_ids(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Mutual follows of `user_id` that neither side has blocked."""
    rows = await conn.fetch(
        """
        SELECT f.following_id FROM follows f
        JOIN follows back ON back.follower_id = f.following_id AND back.following_id = f.follower_id
        WHERE f.follower_id = $1
          AND NOT EXISTS (SELECT 1 FROM blocks b
                          WHERE (b.blocker_id = $1 AND b.blocked_id = f.following_id)
                             OR (b.blocker_id = f.following_id AND b.blocked_id = $1))
        """,
        user_id,
    )
    return [row[0] for row in rows]
