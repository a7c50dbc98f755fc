"""Purge jobs: refresh tokens past expiry and inbox events past retention, hourly."""

from __future__ import annotations

import logging
from typing import Any

from hugmood.delivery import inbox
from hugmood.identity import sessions

log = logging.getLogger("hugmood.workers")


async def purge_expired_tokens(worker_ctx: dict[str, Any]) -> int:
    purged = await sessions.purge_expired(worker_ctx["services"].ctx)
    log.info("purged expired refresh tokens", extra={"count": purged})
    return purged


async def purge_old_inbox_events(worker_ctx: dict[str, Any]) -> int:
    ctx = worker_ctx["services"].ctx
    purged = await inbox.purge_older_than(ctx, ctx.settings.inbox_retention_secs)
    log.info("purged inbox events past retention", extra={"count": purged})
    return purged
