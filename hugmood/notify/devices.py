"""Push tokens. A token identifies one app install, so it belongs to at most one user: whoever
registered it last (a phone that changes hands, or a re-login as someone else, moves it).
Platforms are stored as their provider (`ios` -> `apns`, `android` -> `fcm`)."""

from __future__ import annotations

import uuid

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.pagination import decode_cursor, page
from hugmood.core.structs import Page, PageQuery
from hugmood.notify.models import Device, DeviceRegister

PROVIDER = {"ios": "apns", "android": "fcm"}
PLATFORM = {provider: platform for platform, provider in PROVIDER.items()}
# A user with more than this many devices loses the longest unseen: a stale token per
# reinstall would otherwise be pushed forever (until the provider calls it unregistered).
MAX_DEVICES_PER_USER = 20

_COLUMNS = "id, platform, token, app_version, locale, created_at, last_seen"


def _device(row: asyncpg.Record) -> Device:
    return Device(**{**dict(row), "platform": PLATFORM[row["platform"]]})


async def register(ctx: Context, user_id: uuid.UUID, data: DeviceRegister) -> Device:
    """Register (or refresh) a token for `user_id`, taking it from whoever had it."""
    async with ctx.db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""
            INSERT INTO devices (user_id, platform, token, app_version, locale)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (platform, token) DO UPDATE SET
              user_id = EXCLUDED.user_id, app_version = EXCLUDED.app_version,
              locale = EXCLUDED.locale, last_seen = now(),
              created_at = CASE WHEN devices.user_id = EXCLUDED.user_id
                                THEN devices.created_at ELSE now() END
            RETURNING {_COLUMNS}
            """,
            user_id,
            PROVIDER[data.platform],
            data.token,
            data.app_version,
            data.locale,
        )
        await conn.execute(
            "DELETE FROM devices WHERE id IN (SELECT id FROM devices WHERE user_id = $1 "
            "ORDER BY last_seen DESC, id DESC OFFSET $2)",
            user_id,
            MAX_DEVICES_PER_USER,
        )
    return _device(row)


async def unregister(ctx: Context, user_id: uuid.UUID, token: str) -> None:
    """Forget the caller's device with this token (on any platform); `not_found` if they have
    none, so another user's token is indistinguishable from an unknown one."""
    result = await ctx.db.execute(
        "DELETE FROM devices WHERE user_id = $1 AND token = $2", user_id, token
    )
    if result == "DELETE 0":
        raise AppError("not_found", "no such device", "token")


async def list_devices(ctx: Context, user_id: uuid.UUID, q: PageQuery) -> Page[Device]:
    at, last_id = decode_cursor(q.cursor)
    rows = await ctx.db.fetch(
        f"SELECT {_COLUMNS} FROM devices WHERE user_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        user_id,
        at,
        last_id,
        q.limit + 1,
    )
    return page(rows, q.limit, _device, lambda row: (row["created_at"], row["id"]))


async def forget_tokens(ctx: Context, provider: str, tokens: list[str]) -> int:
    """Delete tokens a provider said are no longer valid; returns how many were stored."""
    if not tokens:
        return 0
    result = await ctx.db.execute(
        "DELETE FROM devices WHERE platform = $1 AND token = ANY($2::text[])", provider, tokens
    )
    return int(result.split()[-1])
