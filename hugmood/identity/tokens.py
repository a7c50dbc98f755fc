"""Access tokens: short-lived HS256 JWTs that prove who is calling, and the check that their
session still stands.

Claims: `sub` user id, `sid` session (refresh-token family) id, `role`, `anon`. A JWT cannot be
recalled, so `authenticate` also asks whether the session is still active. PostgreSQL's
`sessions` row is the truth; Redis caches it (`Keys.session_state`), so an authenticated request
costs one Redis GET, and a cache lost to a restart or FLUSHALL costs one primary-key read per
session instead of bringing logged-out tokens back.

Why the cache cannot resurrect a revoked session: a session only ever goes from active to
revoked. Revocation commits to PostgreSQL first, then writes `revoked` with a plain SET; a reader
that found the row active writes its answer only if the key is absent (SET NX). A reader that
saw "active" read before the revocation committed, so either its write lands first and is
overwritten by the revocation's, or it finds the key taken and writes nothing. A session id
with no row (never created, or purged after all its tokens expired) is refused like a revoked
one.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import jwt

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.keys import SESSION_ACTIVE_TTL_SECS
from hugmood.core.settings import Settings
from hugmood.identity.models import Principal

ALGORITHM = "HS256"
ISSUER = "hugmood"
LEEWAY_SECS = 5  # tolerated clock skew between processes
REVOKED = b"revoked"  # the cached state of a revoked (or unknown) session


def issue_access_token(
    settings: Settings,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    role: str,
    anonymous: bool,
    issued_at: int | None = None,
) -> str:
    """A signed access token; the same arguments and `issued_at` give the same bytes."""
    now = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        "role": role,
        "anon": anonymous,
        "iat": now,
        "exp": now + settings.access_token_ttl_secs,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def _decode(settings: Settings, token: object) -> Principal:
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise AppError("unauthorized", "an access token is required")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            leeway=LEEWAY_SECS,
            options={"require": ["exp", "iat", "sub", "sid", "iss"]},
        )
        return Principal(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            role=str(claims.get("role", "user")),
            is_anonymous=bool(claims.get("anon", False)),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except jwt.ExpiredSignatureError:
        raise AppError("unauthorized", "access token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise AppError("unauthorized", "invalid access token") from None


async def authenticate(ctx: Context, token: object) -> Principal:
    """The caller behind `token`, or `unauthorized` (missing, malformed, expired, or its session
    revoked or unknown)."""
    principal = _decode(ctx.settings, token)
    key = ctx.keys.session_state(principal.session_id)
    state = await ctx.redis.get(key)
    if state is None:
        state = await _load_session_state(ctx, principal.session_id, key)
    # An active session caches its user: a token naming another user is not of this session.
    if state != str(principal.user_id).encode():
        raise AppError("unauthorized", "session has ended")
    return principal


async def _load_session_state(ctx: Context, session_id: uuid.UUID, key: str) -> bytes:
    row = await ctx.db.fetchrow(
        "SELECT user_id, revoked_at FROM sessions WHERE id = $1", session_id
    )
    if row is None or row["revoked_at"] is not None:
        await mark_revoked(ctx, session_id)
        return REVOKED
    state = str(row["user_id"]).encode()
    # NX: never overwrite a revocation that was committed and cached since the read above.
    await ctx.redis.set(key, state, ex=SESSION_ACTIVE_TTL_SECS, nx=True)
    return state


async def mark_revoked(ctx: Context, session_id: uuid.UUID) -> None:
    """Cache a revocation already committed to PostgreSQL: every outstanding access token of
    the session fails from now on. Kept for the access-token lifetime, after which none of them
    is valid anyway."""
    await ctx.redis.set(
        ctx.keys.session_state(session_id),
        REVOKED,
        ex=ctx.settings.access_token_ttl_secs + LEEWAY_SECS,
    )
