"""Reading users: one column list and one row-to-Struct mapping for every query that returns one."""

from __future__ import annotations

import uuid

import asyncpg

from hugmood.errors import AppError
from hugmood.models import User

USER_COLUMNS = (
    "id, username, email, role, is_anonymous, display_name, bio, profile_image, time_zone, "
    "joined_at"
)


def user_from_row(row: asyncpg.Record) -> User:
    return User(**{key: row[key] for key in User.__struct_fields__})


async def fetch_user(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> User:
    row = await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise AppError("not_found", "user not found")
    return user_from_row(row)
