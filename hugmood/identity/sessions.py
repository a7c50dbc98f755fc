"""Sessions: a refresh-token family per login, rotated on every refresh.

Guarantees: a refresh token works once. Presenting one that was already rotated means two parties
hold it (a thief or a replay), so the whole family is revoked and every access token of that
session stops working (see `tokens.revoke_session`). Only a sha256 of each token is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.ratelimit import RateLimiter
from hugmood.identity import tokens
from hugmood.identity.models import Principal, Session, User
from hugmood.identity.users import fetch_user

REFRESH_TOKEN_BYTES = 32


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _issue(
    ctx: Context, conn: asyncpg.Connection, user: User, family_id: uuid.UUID
) -> Session:
    refresh_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    await conn.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        user.id,
        family_id,
        _digest(refresh_token),
        datetime.now(UTC) + timedelta(seconds=ctx.settings.refresh_token_ttl_secs),
    )
    access = tokens.issue_access_token(
        ctx.settings, user.id, family_id, user.role, user.is_anonymous
    )
    return Session(
        user=user,
        access_token=access,
        refresh_token=refresh_token,
        expires_in=ctx.settings.access_token_ttl_secs,
    )


async def start(ctx: Context, conn: asyncpg.Connection, user: User) -> Session:
    """A new session (family) for `user`, written on the caller's connection/transaction."""
    return await _issue(ctx, conn, user, uuid.uuid4())


async def rotate(ctx: Context, limiter: RateLimiter, refresh_token: str, client_ip: str) -> Session:
    """Trade a refresh token for a new pair; a reused token revokes its whole family."""
    await limiter.hit("refresh", client_ip, ctx.settings.rate_refresh_ip)
    reused_family: uuid.UUID | None = None
    async with ctx.db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens "
            "WHERE token_hash = $1 FOR UPDATE",
            _digest(refresh_token),
        )
        if row is None or row["revoked_at"] is not None:
            raise AppError("unauthorized", "refresh token is not valid")
        if row["used_at"] is not None:
            reused_family = row["family_id"]
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now() "
                "WHERE family_id = $1 AND revoked_at IS NULL",
                reused_family,
            )
        elif row["expires_at"] <= datetime.now(UTC):
            raise AppError("unauthorized", "refresh token expired")
        else:
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
                _digest(refresh_token),
            )
            user = await fetch_user(conn, row["user_id"])
            return await _issue(ctx, conn, user, row["family_id"])
    # Committed the family revocation above; now end its live access tokens and refuse.
    await tokens.revoke_session(ctx, reused_family)
    raise AppError("unauthorized", "refresh token was already used; the session is revoked")


async def end(ctx: Context, principal: Principal) -> None:
    """Log out: the session's refresh tokens and access tokens stop working everywhere."""
    await ctx.db.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        principal.session_id,
    )
    await tokens.revoke_session(ctx, principal.session_id)


async def purge_expired(ctx: Context) -> int:
    """Delete refresh tokens past expiry; returns how many. Run periodically by the worker."""
    result = await ctx.db.execute("DELETE FROM refresh_tokens WHERE expires_at < now()")
    return int(result.split()[-1])
