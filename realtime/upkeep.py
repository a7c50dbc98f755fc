"""What each web process does for its own connections, in two loops so that presence never
waits on PostgreSQL:

- `keep_presence`, every third of the presence TTL: the heartbeat, Redis only. It
  (re-)registers every live connection with its own status, so entries lost while the process
  was frozen, or with Redis's data, are back within one heartbeat; what it found out of place
  (a user announced offline meanwhile, a connection that closed while it wrote) is put right in
  a task of its own (`status.heal`), one at a time, never holding up the next heartbeat.
- `keep_connections`, every second: sweep presence that expired anywhere; end connections whose
  access token expired more than `TOKEN_GRACE_SECS` ago without `auth:refresh`; and, every
  heartbeat interval, ask PostgreSQL which of its connections' sessions ended, so a connection
  whose end message was lost (Redis down at logout) is ended within that interval.

Every process sweeps; the presence script makes sure each change is announced once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from hugmood.core.context import Context
from hugmood.delivery import connections
from hugmood.presence import status
from realtime.server import RealtimeServer

log = logging.getLogger("hugmood.realtime")

TICK_SECS = 1  # how late an offline announcement or a token expiry may be acted on


async def keep_presence(server: RealtimeServer) -> None:
    ctx = server.services.ctx
    interval = status.heartbeat_secs(ctx)
    healing: asyncio.Task[None] | None = None
    try:
        while True:
            started = time.monotonic()
            try:
                live = [(c.user_id, c.sid, c.status) for c in list(server.live.values())]
                found = await status.heartbeat(ctx, live)
                if found and (healing is None or healing.done()):
                    # Else the next heartbeat finds what is still out of place.
                    healing = asyncio.create_task(
                        status.heal(ctx, found, server.live.__contains__), name="presence heal"
                    )
                ctx.outages.succeeded()
            except Exception as exc:
                _failed(ctx, exc, "presence heartbeat failed; retrying")
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        if healing is not None:
            healing.cancel()


async def keep_connections(server: RealtimeServer) -> None:
    ctx = server.services.ctx
    interval = status.heartbeat_secs(ctx)
    last_check = 0.0
    while True:
        try:
            live = list(server.live.values())
            for ended in connections.expired(
                live, ctx.settings.token_grace_secs, datetime.now(UTC)
            ):
                await server.manager.end_connection(ended.sid, "token_expired")
            if time.monotonic() - last_check >= interval:
                last_check = time.monotonic()
                for gone, reason in await connections.ended(ctx, list(server.live.values())):
                    await server.manager.end_connection(gone.sid, reason)
            await status.sweep(ctx)
            ctx.outages.succeeded()
        except Exception as exc:
            _failed(ctx, exc, "connection upkeep failed; retrying")
        await asyncio.sleep(TICK_SECS)


def _failed(ctx: Context, exc: Exception, what: str) -> None:
    """A loop's failure: a dependency that is down is the process's outage (one line when it
    starts, one when it ends, not one a second); a bug is logged with its traceback each time."""
    if ctx.outages.failed(exc) is None:
        log.exception(what)
