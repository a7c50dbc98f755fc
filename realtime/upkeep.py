"""What each web process does every second for its own connections: refresh their presence
(every third of the presence TTL), sweep presence that expired anywhere, and end connections
whose access token expired more than `TOKEN_GRACE_SECS` ago without `auth:refresh`. With each
presence refresh it also asks PostgreSQL which of its connections' sessions ended, so a
connection whose end message was lost (Redis down at logout) is ended within that interval.

Every process sweeps; the presence script makes sure each change is announced once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from hugmood.delivery import connections
from hugmood.presence import status
from realtime.server import RealtimeServer

log = logging.getLogger("hugmood.realtime")

TICK_SECS = 1  # how late an offline announcement or a token expiry may be acted on


async def keep_connections(server: RealtimeServer) -> None:
    ctx = server.services.ctx
    interval = status.heartbeat_secs(ctx)
    last_beat = 0.0
    while True:
        try:
            live = list(server.live.values())
            for ended in connections.expired(
                live, ctx.settings.token_grace_secs, datetime.now(UTC)
            ):
                await server.manager.end_connection(ended.sid, "token_expired")
            if time.monotonic() - last_beat >= interval:
                last_beat = time.monotonic()
                await status.heartbeat(ctx, [(c.user_id, c.sid) for c in server.live.values()])
                for gone, reason in await connections.ended(ctx, list(server.live.values())):
                    await server.manager.end_connection(gone.sid, reason)
            await status.sweep(ctx)
        except Exception:
            log.exception("connection upkeep failed; retrying")
        await asyncio.sleep(TICK_SECS)
