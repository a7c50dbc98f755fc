"""The social graph: follows, friends (mutual follows) and blocks, and what they let people see.

Rules: a block removes follows both ways, forbids new ones, and hides each from the other (lookups
answer `not_found`). `audience_allows` is the single place that decides whether an
everyone/friends/nobody setting admits a viewer. Every follow or block change moves the two
users' live connections between audience rooms at once (see `hugmood.events`), so presence and
moods stop or start flowing without a reconnect.
"""

from __future__ import annotations

import re
import uuid

import asyncpg
from msgspec import Struct

from hugmood.context import Context
from hugmood.errors import AppError
from hugmood.events import Tier
from hugmood.models import Audience, PageQuery, Profile, UserCard, UserPage
from hugmood.pagination import decode_cursor, encode_cursor

CARD_COLUMNS = "u.id, u.username, u.display_name, u.profile_image"
USERNAME = re.compile(r"[A-Za-z0-9_.]{1,30}")


class Relation(Struct, frozen=True):
    """How `other` stands towards `me`."""

    blocked: bool  # either one blocked the other
    friends: bool  # both follow each other
    follows_me: bool  # other follows me


async def relations(
    conn: asyncpg.Connection, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> list[Relation]:
    """How each `other` stands towards each `me`, for `(me, other)` pairs, in order: one query."""
    rows = await conn.fetch(
        """
        SELECT
          EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = p.me AND blocked_id = p.other)
                                          OR (blocker_id = p.other AND blocked_id = p.me))
            AS blocked,
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
        )
        for row in rows
    ]


async def relation(conn: asyncpg.Connection, me: uuid.UUID, other: uuid.UUID) -> Relation:
    return (await relations(conn, [(me, other)]))[0]


def audience_allows(audience: Audience, rel: Relation) -> bool:
    if rel.blocked or audience == "nobody":
        return False
    return audience == "everyone" or rel.friends


def tier_of(rel: Relation) -> Tier | None:
    """Which of my audience rooms `other` belongs in: followers only see what I share with
    everyone, friends also what I share with friends."""
    if rel.blocked or not rel.follows_me:
        return None
    return "friends" if rel.friends else "followers"


async def audience_tiers(
    conn: asyncpg.Connection, viewer: uuid.UUID
) -> list[tuple[uuid.UUID, Tier]]:
    """Everyone `viewer` follows (and is not blocked with), with viewer's tier in their audience."""
    rows = await conn.fetch(
        """
        SELECT f.following_id,
               EXISTS (SELECT 1 FROM follows back
                       WHERE back.follower_id = f.following_id AND back.following_id = $1) AS mutual
        FROM follows f
        WHERE f.follower_id = $1
          AND NOT EXISTS (SELECT 1 FROM blocks b
                          WHERE (b.blocker_id = $1 AND b.blocked_id = f.following_id)
                             OR (b.blocker_id = f.following_id AND b.blocked_id = $1))
        """,
        viewer,
    )
    return [(row[0], "friends" if row[1] else "followers") for row in rows]


async def friend_ids(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    return [owner for owner, tier in await audience_tiers(conn, user_id) if tier == "friends"]


async def _visible_user(conn: asyncpg.Connection, me: uuid.UUID, other: uuid.UUID) -> Relation:
    """The relation to `other`, or `not_found` if they do not exist or a block hides them."""
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", other):
        raise AppError("not_found", "no such user")
    rel = await relation(conn, me, other)
    if rel.blocked:
        raise AppError("not_found", "no such user")
    return rel


async def _sync_audiences(
    ctx: Context, conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID
) -> None:
    """Re-seat both users' live connections in each other's audience rooms."""
    b_to_a, a_to_b = await relations(conn, [(a, b), (b, a)])  # how b stands towards a, ...
    await ctx.bus.set_tier(viewer=b, owner=a, tier=tier_of(b_to_a))
    await ctx.bus.set_tier(viewer=a, owner=b, tier=tier_of(a_to_b))


async def _lock_pair(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID) -> None:
    """Serialize graph changes between two users (in id order, like inbox appends), so a follow
    cannot slip in between a concurrent block's check and its removal of follows."""
    await conn.execute(
        "SELECT 1 FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE", [a, b]
    )


async def follow(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> Profile:
    if me == target:
        raise AppError("invalid", "you cannot follow yourself", "id")
    async with ctx.db.acquire() as conn:
        async with conn.transaction():
            await _lock_pair(conn, me, target)
            await _visible_user(conn, me, target)
            await conn.execute(
                "INSERT INTO follows (follower_id, following_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                me,
                target,
            )
        await _sync_audiences(ctx, conn, me, target)
        return await _profile(conn, me, target)


async def unfollow(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> Profile:
    async with ctx.db.acquire() as conn:
        await _visible_user(conn, me, target)
        await conn.execute(
            "DELETE FROM follows WHERE follower_id = $1 AND following_id = $2", me, target
        )
        await _sync_audiences(ctx, conn, me, target)
        return await _profile(conn, me, target)


async def block(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> None:
    """Block `target`: follows both ways end, and neither sees the other from now on."""
    if me == target:
        raise AppError("invalid", "you cannot block yourself", "id")
    async with ctx.db.acquire() as conn:
        async with conn.transaction():
            await _lock_pair(conn, me, target)
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", target):
                raise AppError("not_found", "no such user")
            await conn.execute(
                "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                me,
                target,
            )
            await conn.execute(
                "DELETE FROM follows WHERE (follower_id = $1 AND following_id = $2) "
                "OR (follower_id = $2 AND following_id = $1)",
                me,
                target,
            )
        await _sync_audiences(ctx, conn, me, target)


async def unblock(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> None:
    async with ctx.db.acquire() as conn:
        deleted = await conn.execute(
            "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2", me, target
        )
        if deleted.endswith(" 0"):
            raise AppError("not_found", "you have not blocked this user")
        await _sync_audiences(ctx, conn, me, target)


async def _profile(conn: asyncpg.Connection, me: uuid.UUID, other: uuid.UUID) -> Profile:
    card = await conn.fetchrow(f"SELECT {CARD_COLUMNS} FROM users u WHERE u.id = $1", other)
    rel = await relation(conn, me, other)
    following = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND following_id = $2)",
        me,
        other,
    )
    return Profile(UserCard(**dict(card)), following, rel.follows_me, rel.friends)


async def lookup(ctx: Context, me: uuid.UUID, username: str) -> Profile:
    if not USERNAME.fullmatch(username):  # no such name can exist; keep junk out of SQL
        raise AppError("not_found", "no such user")
    async with ctx.db.acquire() as conn:
        other = await conn.fetchval(
            "SELECT id FROM users WHERE lower(username) = lower($1)", username
        )
        if other is None:
            raise AppError("not_found", "no such user")
        await _visible_user(conn, me, other)
        return await _profile(conn, me, other)


_LISTS = {
    # list name -> (join condition selecting the listed users u for owner $1, time column)
    "followers": ("JOIN follows f ON f.follower_id = u.id AND f.following_id = $1", "f.created_at"),
    "following": ("JOIN follows f ON f.following_id = u.id AND f.follower_id = $1", "f.created_at"),
    "friends": (
        "JOIN follows f ON f.following_id = u.id AND f.follower_id = $1 "
        "JOIN follows back ON back.follower_id = u.id AND back.following_id = $1",
        "greatest(f.created_at, back.created_at)",
    ),
}


async def list_users(
    ctx: Context, me: uuid.UUID, owner: uuid.UUID, which: str, query: PageQuery
) -> UserPage:
    """A user's followers / following / friends, newest first, without anyone the caller
    has blocked or is blocked by."""
    join, at = _LISTS[which]
    async with ctx.db.acquire() as conn:
        if owner != me:
            await _visible_user(conn, me, owner)
        rows = await conn.fetch(
            f"SELECT {CARD_COLUMNS}, {at} AS at FROM users u {join} "
            "WHERE NOT EXISTS (SELECT 1 FROM blocks b "
            "                  WHERE (b.blocker_id = $2 AND b.blocked_id = u.id)"
            "                     OR (b.blocker_id = u.id AND b.blocked_id = $2)) "
            f"AND ($3::timestamptz IS NULL OR ({at}, u.id) < ($3, $4)) "
            f"ORDER BY {at} DESC, u.id DESC LIMIT $5",
            owner,
            me,
            *decode_cursor(query.cursor),
            query.limit + 1,
        )
    items = [UserCard(r["id"], r["username"], r["display_name"], r["profile_image"]) for r in rows]
    more = len(rows) > query.limit
    last = rows[query.limit - 1] if more else None
    return UserPage(items[: query.limit], encode_cursor(last["at"], last["id"]) if last else None)
