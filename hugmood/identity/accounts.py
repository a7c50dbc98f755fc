"""Accounts: registration, login, anonymous sessions and the owner's profile.

Rules: usernames and emails are unique case-insensitively; a login failure never says whether the
account exists; attempts are rate limited per client IP and failed logins per account.
"""

from __future__ import annotations

import secrets
import uuid
from functools import cache
from zoneinfo import available_timezones

import msgspec

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.ratelimit import RateLimiter
from hugmood.identity import sessions
from hugmood.identity.models import LoginIn, MePatch, RegisterIn, Session, User
from hugmood.identity.passwords import hash_password, verify_password
from hugmood.identity.users import USER_COLUMNS, fetch_user, insert_user, user_from_row

ANONYMOUS_PREFIX = "anon_"  # generated names of anonymous accounts; not for registration


async def register(ctx: Context, limiter: RateLimiter, data: RegisterIn, client_ip: str) -> Session:
    await limiter.hit("register", client_ip, ctx.settings.rate_register_ip)
    if data.username.lower().startswith(ANONYMOUS_PREFIX):
        raise AppError(
            "invalid", f"usernames starting with {ANONYMOUS_PREFIX!r} are reserved", "username"
        )
    password_hash = await hash_password(data.password)
    async with ctx.db.acquire() as conn, conn.transaction():
        user = await insert_user(
            conn,
            username=data.username,
            email=data.email,
            password_hash=password_hash,
            display_name=data.display_name,
        )
        return await sessions.start(ctx, conn, user)


async def register_anonymous(ctx: Context, limiter: RateLimiter, client_ip: str) -> Session:
    """A throwaway account with a generated name, no email and no password."""
    await limiter.hit("anonymous", client_ip, ctx.settings.rate_anonymous_ip)
    async with ctx.db.acquire() as conn, conn.transaction():
        user = await insert_user(
            conn, username=f"{ANONYMOUS_PREFIX}{secrets.token_hex(8)}", is_anonymous=True
        )
        return await sessions.start(ctx, conn, user)


async def login(ctx: Context, limiter: RateLimiter, data: LoginIn, client_ip: str) -> Session:
    await limiter.hit("login", client_ip, ctx.settings.rate_login_ip)
    login = data.login.strip()
    row = await ctx.db.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users "
        "WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1",
        login,
    )
    # One failure budget per account, however it is named (username or email); unknown names
    # get theirs too, so probing them costs the same as guessing a password.
    account = str(row["id"]) if row else login.lower()
    # Reserve the attempt before the slow password check, so simultaneous guesses cannot all
    # slip under the limit; a success gives the attempt back.
    await limiter.hit("failed login", account, ctx.settings.rate_login_account)
    if not await verify_password(row["password_hash"] if row else None, data.password):
        raise AppError("unauthorized", "wrong username/email or password")
    await limiter.refund("failed login", account, ctx.settings.rate_login_account)
    async with ctx.db.acquire() as conn, conn.transaction():
        return await sessions.start(ctx, conn, user_from_row(row))


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_time_zone(name: str) -> None:
    """IANA names only: the tz database's files also hold aliases like `localtime` whose
    meaning depends on the server."""
    if name not in _time_zones():
        raise AppError("invalid", f"unknown time zone {name!r}", "time_zone")


async def update_profile(ctx: Context, user_id: uuid.UUID, patch: MePatch) -> User:
    """Apply the fields present in `patch`; the owner's other devices get `user.updated`."""
    changes = {
        name: value
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not msgspec.UNSET
    }
    if "time_zone" in changes:
        _check_time_zone(changes["time_zone"])
    if not changes:
        return await fetch_user(ctx.db, user_id)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    row = await ctx.db.fetchrow(
        f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1 "
        f"RETURNING {USER_COLUMNS}",
        user_id,
        *changes.values(),
    )
    if row is None:
        raise AppError("not_found", "user not found")
    user = user_from_row(row)
    await ctx.bus.to_user(user_id, "user.updated", user)
    return user
