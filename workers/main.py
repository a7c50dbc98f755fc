"""arq `WorkerSettings` (run with `arq workers.main.WorkerSettings`): what the worker runs and
when. Job families live in their own modules; each job is thin: it calls one domain function
with the worker's `Services`, whose event bus publishes through a write-only Socket.IO Redis
manager, reaching clients on every web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from hugmood.core import logs
from hugmood.core.keys import Keys
from hugmood.core.redis_client import create_client
from hugmood.core.settings import Settings
from hugmood.notify import metrics
from hugmood.notify.providers import close_providers, open_providers
from hugmood.services import Services
from realtime.transport.manager import RedisManager, SocketIOPublisher
from workers.group_hugs import (
    SWEEP_EVERY_SECS,
    advance_group_hug,
    relay_due_times_forever,
    sweep_group_hugs,
)
from workers.purge import purge_expired_tokens, purge_old_inbox_events
from workers.push import deliver_push, relay_forever

settings = Settings.from_env()


async def open_services(settings: Settings) -> Services:
    """The domain as a worker runs it: events go out through a write-only Socket.IO emitter."""
    redis = create_client(settings)
    publisher = SocketIOPublisher(RedisManager(settings, redis, write_only=True))
    return await Services.open(settings, redis, publisher)


async def startup(worker_ctx: dict[str, Any]) -> None:
    logs.configure(settings.log_level)
    worker_ctx["services"] = await open_services(settings)
    worker_ctx["providers"] = await open_providers(settings)
    worker_ctx["relay"] = asyncio.create_task(relay_forever(worker_ctx), name="outbox relay")
    worker_ctx["group_hug_relay"] = asyncio.create_task(
        relay_due_times_forever(worker_ctx), name="group hug relay"
    )


async def shutdown(worker_ctx: dict[str, Any]) -> None:
    for relay in (worker_ctx["relay"], worker_ctx["group_hug_relay"]):
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    await close_providers(worker_ctx["providers"])
    await worker_ctx["services"].close()
    if counts := metrics.snapshot():
        logging.getLogger("hugmood.workers").info("push counters", extra={"counters": counts})


_keys = Keys(settings.redis_prefix)


class WorkerSettings:
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    queue_name = _keys.arq_queue
    functions: list = [
        func(deliver_push, max_tries=settings.push_max_attempts),
        func(advance_group_hug, max_tries=1),  # a failed advance waits for the sweep
    ]
    max_jobs = settings.worker_max_jobs
    poll_delay = (
        0.1  # seconds between queue polls: bounds how late a due push starts (0.5 s default)
    )
    cron_jobs = [
        cron(purge_expired_tokens, name=_keys.arq_job("purge_expired_tokens"), minute={17}),
        cron(purge_old_inbox_events, name=_keys.arq_job("purge_old_inbox_events"), minute={47}),
        cron(
            sweep_group_hugs,
            name=_keys.arq_job("sweep_group_hugs"),
            second=set(range(0, 60, SWEEP_EVERY_SECS)),
            timeout=SWEEP_EVERY_SECS * 10,
        ),
    ]
    on_startup = startup
    on_shutdown = shutdown
