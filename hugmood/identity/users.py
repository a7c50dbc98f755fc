"""The users table: one column list and one row-to-Struct mapping for every query that returns a
user, and the one way a user row is created (with its privacy settings)."""

from __future__ import annotations

import uuid

import asyncpg

from hugmood.core.errors import AppError
from hugmood.identity.models import User, UserCard

USER_COLUMNS = (
    "id, username, email, role, is_anonymous, display_name, bio, profile_image, time_zone, "
    "joined_at"
)


CARD_COLUMNS = "u.id, u.username, u.display_name, u.profile_image"  # `users u`


def user_from_row(row: asyncpg.Record) -> User:
    return User(**{key: row[key] for key in User.__struct_fields__})


# Which field a unique-index violation is about, by index name (see schema.sql).
_UNIQUE_FIELDS = {"users_username_key": "username", "users_email_key": "email"}


async def insert_user(conn: asyncpg.Connection, **values: object) -> User:
    """A new user with the default privacy settings, in the caller's transaction; a taken
    username or email is `conflict` on that field."""
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    try:
        row = await conn.fetchrow(
            f"INSERT INTO users ({columns}) VALUES ({params}) RETURNING {USER_COLUMNS}",
            *values.values(),
        )
    except asyncpg.UniqueViolationError as exc:
        field = _UNIQUE_FIELDS.get(exc.constraint_name or "", "username")
        raise AppError("conflict", f"this {field} is already taken", field) from None
    user = user_from_row(row)
    await conn.execute("INSERT INTO privacy_settings (user_id) VALUES ($1)", user.id)
    return user


async def fetch_user(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> User:
    row = await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise AppError("not_found", "user not found")
    return user_from_row(row)


async def user_exists(conn: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id)


async def time_zone(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> str:
    """The IANA time zone the user's days are counted in."""
    return await conn.fetchval("SELECT time_zone FROM users WHERE id = $1", user_id)


async def fetch_card(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> UserCard:
    row = await conn.fetchrow(f"SELECT {CARD_COLUMNS} FROM users u WHERE u.id = $1", user_id)
    if row is None:
        raise AppError("not_found", "no such user")
    return UserCard(**dict(row))


async def user_id_by_username(
    conn: asyncpg.Connection | asyncpg.Pool, username: str
) -> uuid.UUID | None:
    """Usernames are unique ignoring case."""
    return await conn.fetchval("SELECT id FROM users WHERE lower(username) = lower($1)", username)
