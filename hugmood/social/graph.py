"""Changing and reading the social graph: follow, unfollow, block, unblock, lookups and lists.

Rules: a block removes follows both ways, forbids new ones, and hides each from the other (lookups
answer `not_found`). Every follow or block change moves the two users' live connections between
audience rooms at once (the tier from `hugmood.social.privacy`, the rooms from
`hugmood.delivery.rooms`), so presence and moods stop or start flowing without a reconnect.
"""

from __future__ import annotations

import re
import uuid

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page, PageQuery
from hugmood.identity.models import UserCard
from hugmood.identity.users import CARD_COLUMNS, fetch_card, user_exists, user_id_by_username
from hugmood.social import audiences
from hugmood.social.models import Profile
from hugmood.social.relations import Relation, relation

USERNAME = re.compile(r"[A-Za-z0-9_.]{1,30}")


async def _visible_user(conn: asyncpg.Connection, me: uuid.UUID, other: uuid.UUID) -> Relation:
    """The relation to `other`, or `not_found` if they do not exist or a block hides them."""
    if not await user_exists(conn, other):
        raise AppError("not_found", "no such user")
    rel = await relation(conn, me, other)
    if rel.blocked:
        raise AppError("not_found", "no such user")
    return rel


async def follow(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> Profile:
    if me == target:
        raise AppError("invalid", "you cannot follow yourself", "id")

    async def add(conn: asyncpg.Connection) -> None:
        await _visible_user(conn, me, target)
        await conn.execute(
            "INSERT INTO follows (follower_id, following_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            me,
            target,
        )

    return await _profile(ctx.db, target, await audiences.change_pair(ctx, me, target, add))


async def unfollow(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> Profile:
    async def remove(conn: asyncpg.Connection) -> None:
        await _visible_user(conn, me, target)
        await conn.execute(
            "DELETE FROM follows WHERE follower_id = $1 AND following_id = $2", me, target
        )

    return await _profile(ctx.db, target, await audiences.change_pair(ctx, me, target, remove))


async def block(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> None:
    """Block `target`: follows both ways end, and neither sees the other from now on."""
    if me == target:
        raise AppError("invalid", "you cannot block yourself", "id")

    async def add(conn: asyncpg.Connection) -> None:
        if not await user_exists(conn, target):
            raise AppError("not_found", "no such user")
        await conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            me,
            target,
        )
        await conn.execute(
            "DELETE FROM follows WHERE (follower_id = $1 AND following_id = $2) "
            "OR (follower_id = $2 AND following_id = $1)",
            me,
            target,
        )

    await audiences.change_pair(ctx, me, target, add)


async def unblock(ctx: Context, me: uuid.UUID, target: uuid.UUID) -> None:
    async def remove(conn: asyncpg.Connection) -> None:
        deleted = await conn.execute(
            "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2", me, target
        )
        if deleted.endswith(" 0"):
            raise AppError("not_found", "you have not blocked this user")

    await audiences.change_pair(ctx, me, target, remove)


async def _profile(conn: asyncpg.Connection | Context, other: uuid.UUID, rel: Relation) -> Profile:
    """`other` as seen by the caller, who stands towards them as `rel`."""
    card = await fetch_card(conn.db if isinstance(conn, Context) else conn, other)
    return Profile(card, rel.following, rel.follows_me, rel.friends)


async def lookup(ctx: Context, me: uuid.UUID, username: str) -> Profile:
    if not USERNAME.fullmatch(username):  # no such name can exist; keep junk out of SQL
        raise AppError("not_found", "no such user")
    async with ctx.db.acquire() as conn:
        other = await user_id_by_username(conn, username)
        if other is None:
            raise AppError("not_found", "no such user")
        return await _profile(conn, other, await _visible_user(conn, me, other))


# list name -> (owner $1's follows f, time, listed user's id). Each orders by columns of the
# follow itself, so a page is a walk down `follows_following_created_idx`,
# `follows_follower_created_idx` or `follows_mutual_idx` from the cursor ($3, $4) that stops
# after $5 rows; a friendship's time is `mutual_since`, the later of its two follows.
_LISTS = {
    "followers": ("f.following_id = $1", "f.created_at", "f.follower_id"),
    "following": ("f.follower_id = $1", "f.created_at", "f.following_id"),
    "friends": (
        "f.follower_id = $1 AND f.mutual_since IS NOT NULL",
        "f.mutual_since",
        "f.following_id",
    ),
}
# The page query of each list: the page first (without anyone blocked either way by the caller
# $2: two primary-key probes of `blocks`), then the users' cards for just its rows. No cursor
# means from the top of the order, so one statement (one cached plan) serves every page with
# the cursor as an index bound.
LIST_SQL = {
    which: f"SELECT {CARD_COLUMNS}, p.at FROM ("
    f"SELECT {user} AS id, {at} AS at FROM follows f WHERE {owner} "
    f"AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 AND b.blocked_id = {user}) "
    f"AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = {user} AND b.blocked_id = $2) "
    f"AND ({at}, {user}) < (coalesce($3::timestamptz, 'infinity'), "
    "coalesce($4::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')) "
    f"ORDER BY {at} DESC, {user} DESC LIMIT $5"
    ") p JOIN users u ON u.id = p.id ORDER BY p.at DESC, p.id DESC"
    for which, (owner, at, user) in _LISTS.items()
}


async def list_users(
    ctx: Context, me: uuid.UUID, owner: uuid.UUID, which: str, query: PageQuery
) -> Page[UserCard]:
    """A user's followers / following / friends, newest first (equal times by user id,
    descending), without anyone the caller has blocked or is blocked by."""
    async with ctx.db.acquire() as conn:
        if owner != me:
            await _visible_user(conn, me, owner)
        rows = await conn.fetch(
            LIST_SQL[which], owner, me, *decode_cursor(query.cursor), query.limit + 1
        )
    return page(
        rows,
        query.limit,
        lambda r: UserCard(r["id"], r["username"], r["display_name"], r["profile_image"]),
        lambda r: (r["at"], r["id"]),
    )
