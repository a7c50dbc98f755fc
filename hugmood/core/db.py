"""The PostgreSQL pool: the only place that opens database connections.

`jsonb` columns round-trip through msgspec, so payloads stored in the inbox come back as the same
plain data they were written as.
"""

from __future__ import annotations

import asyncpg
import msgspec

from hugmood.core.settings import Settings


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: msgspec.json.encode(value).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL): one more round trip per pool use, for session state this code never leaves
    behind — no cursors, LISTEN or session-level SET, and the one session-level advisory lock
    (a graph change's turn, `social.audiences`) is released before its connection goes back,
    or the connection is closed (an open transaction is still rolled back by asyncpg)."""


async def create_pool(settings: Settings) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        init=_init_connection,
        reset=_keep_session,
        # Bounded waits: a saturated pool answers an error instead of hanging a request forever.
        command_timeout=30,
    )
