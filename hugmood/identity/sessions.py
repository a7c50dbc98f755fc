"""Sessions: one per login, each a family of refresh tokens rotated on every refresh.

The `sessions` row (its id is the family id and the access token's `sid`) says whether the
session still works. Logout and refresh-token theft set its `revoked_at` in the same transaction
that revokes its refresh tokens; only after that commit is the revocation cached for
`tokens.authenticate` and every live connection of the session ended on every process.

Rotation with a reuse grace. A refresh token is exchanged once for a new pair. Phones fire
concurrent requests with the same token, so presenting a token rotated less than
`REFRESH_REUSE_GRACE_SECS` ago answers the same new pair again; presenting it later means two
parties hold it (a thief or a replay), and the whole session is revoked.

Only a sha256 of each refresh token is stored, so the server cannot look up a pair it handed out
earlier. Instead a successor is derived, not drawn: the token that replaces T is
HMAC-SHA256(key, T) with a key derived from JWT_SECRET, and the access token is signed again with
the `iat` of the rotation (T's `used_at`, its successor's `created_at`), which makes it
byte-identical. Without the key, T says nothing about its successor, so a token leaked after its
rotation is as useless as before. We chose this over keeping the new pair (encrypted) on the old
row, which stores usable credentials and needs a second key, and over a fresh pair per
presentation, which would leave several live successors in one family. (A replay after a
JWT_SECRET change finds no successor and is refused; a role changed within the grace is signed
into the replayed access token, the only case where its bytes differ.)

Concurrency: every rotation and revocation first locks the session row, so those of one session
run one at a time, always taking locks in the same order (session, then tokens). Two
presentations of one token at once: the second waits, then finds the token rotated within the
grace and answers the same pair; exactly one successor row exists (its hash is UNIQUE too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.ratelimit import RateLimiter
from hugmood.delivery.models import EndReason
from hugmood.identity import tokens
from hugmood.identity.models import Principal, Session, User
from hugmood.identity.users import fetch_user

REFRESH_TOKEN_BYTES = 32
# Domain separation: the successor key is derived from JWT_SECRET but never signs a JWT.
SUCCESSOR_KEY_LABEL = b"hugmood refresh-token successor v1"
NOT_VALID = "refresh token is not valid"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _successor(ctx: Context, token: str) -> str:
    """The refresh token that replaces `token` when it is rotated: always the same one."""
    key = hmac.new(ctx.settings.jwt_secret.encode(), SUCCESSOR_KEY_LABEL, hashlib.sha256)
    mac = hmac.new(key.digest(), token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


async def _issue(
    ctx: Context,
    conn: asyncpg.Connection,
    user: User,
    session_id: uuid.UUID,
    refresh_token: str,
    issued_at: datetime,
) -> Session:
    await conn.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        user.id,
        session_id,
        _digest(refresh_token),
        issued_at,
        issued_at + timedelta(seconds=ctx.settings.refresh_token_ttl_secs),
    )
    return _pair(ctx, user, session_id, refresh_token, issued_at, replayed=False)


def _pair(
    ctx: Context,
    user: User,
    session_id: uuid.UUID,
    refresh_token: str,
    issued_at: datetime,
    replayed: bool,
) -> Session:
    """The pair issued at `issued_at`: signing again with its `iat` gives the same bytes."""
    iat = int(issued_at.timestamp())
    access = tokens.issue_access_token(
        ctx.settings, user.id, session_id, user.role, user.is_anonymous, issued_at=iat
    )
    ttl = ctx.settings.access_token_ttl_secs
    return Session(
        user=user,
        access_token=access,
        refresh_token=refresh_token,
        expires_in=max(0, min(ttl, iat + ttl - int(time.time()))) if replayed else ttl,
    )


async def create(conn: asyncpg.Connection, user_id: uuid.UUID) -> uuid.UUID:
    """The row of a new, active session of `user_id`; its id is what access tokens name as `sid`.
    `start` is the way in for users; the benchmark mints its access tokens on this alone."""
    session_id = uuid.uuid4()
    await conn.execute("INSERT INTO sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
    return session_id


async def start(ctx: Context, conn: asyncpg.Connection, user: User) -> Session:
    """A new session for `user`, written on the caller's connection/transaction."""
    session_id = await create(conn, user.id)
    return await _issue(
        ctx, conn, user, session_id, secrets.token_urlsafe(REFRESH_TOKEN_BYTES), datetime.now(UTC)
    )


async def rotate(ctx: Context, limiter: RateLimiter, refresh_token: str, client_ip: str) -> Session:
    """Trade a refresh token for a new pair. Within the reuse grace the same pair comes back;
    a reuse after it revokes the whole session."""
    await limiter.hit("refresh", client_ip, ctx.settings.rate_refresh_ip)
    digest = _digest(refresh_token)
    async with ctx.db.acquire() as conn, conn.transaction():
        session_id = await conn.fetchval(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", digest
        )
        if session_id is None:
            raise AppError("unauthorized", NOT_VALID)
        session = await conn.fetchrow(
            "SELECT user_id, revoked_at FROM sessions WHERE id = $1 FOR UPDATE", session_id
        )
        # Read again under the session's lock: a concurrent rotation may have just used it.
        row = await conn.fetchrow(
            "SELECT expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
            digest,
        )
        if session is None or session["revoked_at"] is not None:
            raise AppError("unauthorized", NOT_VALID)
        if row is None or row["revoked_at"] is not None:  # purged meanwhile, or revoked
            raise AppError("unauthorized", NOT_VALID)
        now = datetime.now(UTC)
        successor = _successor(ctx, refresh_token)
        if row["used_at"] is None:
            if row["expires_at"] <= now:
                raise AppError("unauthorized", "refresh token expired")
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1", digest, now
            )
            user = await fetch_user(conn, session["user_id"])
            return await _issue(ctx, conn, user, session_id, successor, now)
        if now - row["used_at"] < timedelta(seconds=ctx.settings.refresh_reuse_grace_secs):
            # The successor was written with created_at = this token's used_at.
            issued_at = await conn.fetchval(
                "SELECT created_at FROM refresh_tokens "
                "WHERE token_hash = $1 AND family_id = $2 AND revoked_at IS NULL",
                _digest(successor),
                session_id,
            )
            if issued_at is None:  # JWT_SECRET changed since the rotation
                raise AppError("unauthorized", NOT_VALID)
            user = await fetch_user(conn, session["user_id"])
            return _pair(ctx, user, session_id, successor, issued_at, replayed=True)
        await _revoke(conn, session_id, "session_revoked")
    await _ended(ctx, session_id, "session_revoked")
    raise AppError("unauthorized", "refresh token was already used; the session is revoked")


async def end(ctx: Context, principal: Principal) -> None:
    """Log out: the session's refresh tokens, access tokens and live connections stop working
    everywhere."""
    async with ctx.db.acquire() as conn, conn.transaction():
        await _revoke(conn, principal.session_id, "logged_out")
    await _ended(ctx, principal.session_id, "logged_out")


async def _revoke(conn: asyncpg.Connection, session_id: uuid.UUID, reason: EndReason) -> None:
    """Revoke the session and its refresh tokens, in the caller's transaction. The session row
    is written first: it is the lock every write to the family takes first."""
    await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 "
        "WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason,
    )
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        session_id,
    )


async def _ended(ctx: Context, session_id: uuid.UUID, reason: EndReason) -> None:
    """After the revocation committed: cache it, then disconnect the session's connections."""
    await tokens.mark_revoked(ctx, session_id)
    await ctx.bus.end_session(session_id, reason)


# Refresh tokens per purge transaction: bounded locks and WAL however many expired at once.
PURGE_BATCH_ROWS = 5000


async def purge_expired(ctx: Context) -> int:
    """Delete refresh tokens past expiry, and the sessions they leave without any token (none
    of whose access tokens can still be valid), `PURGE_BATCH_ROWS` tokens per transaction
    until none are left; returns how many tokens. Run periodically by the worker."""
    total = 0
    while True:
        async with ctx.db.acquire() as conn, conn.transaction():
            purged = await conn.fetch(
                "DELETE FROM refresh_tokens WHERE ctid = ANY(ARRAY("
                "SELECT ctid FROM refresh_tokens WHERE expires_at < now() LIMIT $1)) "
                "RETURNING family_id",
                PURGE_BATCH_ROWS,
            )
            await conn.execute(
                "DELETE FROM sessions s WHERE s.id = ANY($1::uuid[]) "
                "AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = s.id)",
                list({row["family_id"] for row in purged}),
            )
        total += len(purged)
        if len(purged) < PURGE_BATCH_ROWS:
            return total


async def ended_among(ctx: Context, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, EndReason]:
    """Which of `session_ids` have ended (revoked, or gone with their user), and why: how a
    process finds live connections whose end message it missed (Redis was down)."""
    rows = await ctx.db.fetch(
        "SELECT ids.id, s.revoked_reason FROM unnest($1::uuid[]) AS ids(id) "
        "LEFT JOIN sessions s ON s.id = ids.id "
        "WHERE s.id IS NULL OR s.revoked_at IS NOT NULL",
        session_ids,
    )
    return {row["id"]: row["revoked_reason"] or "session_revoked" for row in rows}
