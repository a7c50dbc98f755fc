"""The group hug tables: one column list and one row mapping for every read, the participant
rows, and the reads other features need (a user's open group hugs, for seats and snapshots)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from hugmood.core.errors import AppError
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page
from hugmood.delivery.rooms import group_hug_room
from hugmood.group_hugs.models import GroupHug, GroupHugState, Participant, ParticipantStatus
from hugmood.identity.models import UserCard

_JOINED = (
    "(SELECT count(*) FROM group_hug_participants c "
    "WHERE c.group_hug_id = g.id AND c.status = 'JOINED')"
)
GROUP_COLUMNS = (
    "g.id, g.creator_id, g.name, g.description, g.message, g.status, g.scheduled_for, "
    "g.expires_at, g.min_participants, g.duration_s, g.design_id, g.starts_at, g.ends_at, "
    f"g.created_at, {_JOINED} AS joined, "
    "u.username AS host_username, u.display_name AS host_display_name, "
    "u.profile_image AS host_profile_image"
)
GROUP_FROM = "group_hugs g JOIN users u ON u.id = g.creator_id"


def group_from_row(row: asyncpg.Record) -> GroupHug:
    host = UserCard(
        row["creator_id"],
        row["host_username"],
        row["host_display_name"],
        row["host_profile_image"],
    )
    return GroupHug(
        id=row["id"],
        host=host,
        name=row["name"],
        description=row["description"],
        message=row["message"],
        status=row["status"],
        scheduled_for=row["scheduled_for"],
        expires_at=row["expires_at"],
        min_participants=row["min_participants"],
        duration_s=row["duration_s"],
        design_id=row["design_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_at=row["created_at"],
        participants=row["joined"],
    )


async def fetch(
    conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID, *, lock: bool = False
) -> GroupHug:
    """The group hug (`not_found` if none); `lock` takes its row for the transaction, which
    orders every change of one group hug."""
    if lock:
        await conn.execute("SELECT 1 FROM group_hugs WHERE id = $1 FOR UPDATE", group_id)
    row = await conn.fetchrow(f"SELECT {GROUP_COLUMNS} FROM {GROUP_FROM} WHERE g.id = $1", group_id)
    if row is None:
        raise AppError("not_found", "no such group hug", "group_hug_id")
    return group_from_row(row)


async def membership(
    conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID, user_id: uuid.UUID
) -> ParticipantStatus | None:
    return await conn.fetchval(
        "SELECT status FROM group_hug_participants WHERE group_hug_id = $1 AND user_id = $2",
        group_id,
        user_id,
    )


async def members(
    conn: asyncpg.Connection, group_id: uuid.UUID, statuses: tuple[ParticipantStatus, ...]
) -> list[uuid.UUID]:
    return [
        row["user_id"]
        for row in await conn.fetch(
            "SELECT user_id FROM group_hug_participants "
            "WHERE group_hug_id = $1 AND status = ANY($2::text[]) ORDER BY user_id",
            group_id,
            list(statuses),
        )
    ]


async def set_status(
    conn: asyncpg.Connection, group_id: uuid.UUID, user_id: uuid.UUID, status: ParticipantStatus
) -> None:
    await conn.execute(
        "UPDATE group_hug_participants SET status = $3, joined_at = now() "
        "WHERE group_hug_id = $1 AND user_id = $2",
        group_id,
        user_id,
        status,
    )


async def participants_page(
    conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[Participant]:
    """Participants newest first (by when they joined or were invited), keyset-paginated."""
    rows = await conn.fetch(
        "SELECT p.status, p.joined_at, u.id, u.username, u.display_name, u.profile_image "
        "FROM group_hug_participants p JOIN users u ON u.id = p.user_id "
        "WHERE p.group_hug_id = $1 "
        "AND ($2::timestamptz IS NULL OR (p.joined_at, p.user_id) < ($2, $3)) "
        "ORDER BY p.joined_at DESC, p.user_id DESC LIMIT $4",
        group_id,
        *decode_cursor(cursor),
        limit + 1,
    )
    return page(
        rows,
        limit,
        lambda r: Participant(
            UserCard(r["id"], r["username"], r["display_name"], r["profile_image"]),
            r["status"],
            r["joined_at"],
        ),
        lambda r: (r["joined_at"], r["id"]),
    )


async def rooms_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[str]:
    """The rooms of the group hugs the user joined that are not over: where a connection of
    theirs that opens now is seated."""
    rows = await conn.fetch(
        "SELECT p.group_hug_id FROM group_hug_participants p "
        "JOIN group_hugs g ON g.id = p.group_hug_id "
        "WHERE p.user_id = $1 AND p.status = 'JOINED' AND g.status IN ('PENDING', 'ACTIVE')",
        user_id,
    )
    return [group_hug_room(row["group_hug_id"]) for row in rows]


async def open_states(
    conn: asyncpg.Connection, user_id: uuid.UUID, now: datetime
) -> list[GroupHugState]:
    """The user's group hugs that are not over (invited, joined or left), for the snapshot."""
    rows = await conn.fetch(
        "SELECT g.id, g.name, g.status, p.status AS me, g.scheduled_for, g.starts_at, "
        f"g.ends_at, {_JOINED} AS joined "
        "FROM group_hug_participants p JOIN group_hugs g ON g.id = p.group_hug_id "
        "WHERE p.user_id = $1 AND g.status IN ('PENDING', 'ACTIVE') "
        "ORDER BY g.created_at DESC, g.id DESC LIMIT 100",
        user_id,
    )
    return [
        GroupHugState(
            id=r["id"],
            name=r["name"],
            status=r["status"],
            me=r["me"],
            participants=r["joined"],
            scheduled_for=r["scheduled_for"],
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            remaining_s=max(0.0, (r["ends_at"] - now).total_seconds()) if r["ends_at"] else None,
        )
        for r in rows
    ]
