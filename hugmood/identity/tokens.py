"""Access tokens: short-lived HS256 JWTs that prove who is calling without a database read.

Claims: `sub` user id, `sid` session (refresh-token family) id, `role`, `anon`. Because a JWT
cannot be recalled, logging out or a detected refresh-token theft marks the session revoked in
Redis for the access token's lifetime, and `authenticate` checks that mark.
"""

from __future__ import annotations

import time
import uuid

import jwt

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.settings import Settings
from hugmood.identity.models import Principal

ALGORITHM = "HS256"
ISSUER = "hugmood"
LEEWAY_SECS = 5  # tolerated clock skew between processes


def issue_access_token(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, role: str, anonymous: bool
) -> str:
    now = int(time.time())
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
        )
    except jwt.ExpiredSignatureError:
        raise AppError("unauthorized", "access token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise AppError("unauthorized", "invalid access token") from None


async def authenticate(ctx: Context, token: object) -> Principal:
    """The caller behind `token`, or `unauthorized` (missing, malformed, expired or revoked)."""
    principal = _decode(ctx.settings, token)
    if await ctx.redis.exists(ctx.keys.revoked_session(str(principal.session_id))):
        raise AppError("unauthorized", "session has ended")
    return principal


async def revoke_session(ctx: Context, session_id: uuid.UUID) -> None:
    """Make every outstanding access token of the session fail from now on."""
    await ctx.redis.set(
        ctx.keys.revoked_session(str(session_id)),
        1,
        ex=ctx.settings.access_token_ttl_secs + LEEWAY_SECS,
    )
