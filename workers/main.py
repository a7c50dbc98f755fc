"""arq `WorkerSettings` (run with `arq workers.main.WorkerSettings`) and the job functions.

Each job is thin: it calls one domain function with the worker's `Context`, whose event bus
publishes through a write-only Socket.IO Redis manager, reaching clients on every web process.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from hugmood import inbox, logs, sessions
from hugmood.context import Context
from hugmood.keys import Keys
from hugmood.settings import Settings
from realtime.manager import RedisManager, SocketIOPublisher

log = logging.getLogger("hugmood.workers")
settings = Settings.from_env()


async def startup(worker_ctx: dict[str, Any]) -> None:
    logs.configure(settings.log_level)
    worker_ctx["app"] = await Context.open(
        settings, SocketIOPublisher(RedisManager(settings, write_only=True))
    )


async def shutdown(worker_ctx: dict[str, Any]) -> None:
    await worker_ctx["app"].close()


async def purge_expired_tokens(worker_ctx: dict[str, Any]) -> int:
    purged = await sessions.purge_expired(worker_ctx["app"])
    log.info("purged expired refresh tokens", extra={"count": purged})
    return purged


async def purge_old_inbox_events(worker_ctx: dict[str, Any]) -> int:
    purged = await inbox.purge_older_than(worker_ctx["app"], settings.inbox_retention_secs)
    log.info("purged inbox events past retention", extra={"count": purged})
    return purged


class WorkerSettings:
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    queue_name = Keys(settings.redis_prefix).arq_queue
    functions: list = []
    cron_jobs = [
        cron(purge_expired_tokens, minute={17}),
        cron(purge_old_inbox_events, minute={47}),
    ]
    on_startup = startup
    on_shutdown = shutdown
