"""Push jobs and the outbox relay that makes them.

The relay runs beside the jobs in every worker: every `OUTBOX_POLL_SECS` it takes committed
push intents (`hugmood.outbox`), enqueues one arq job per (event, device), id
`push:<user>:<seq>:<device>` under the deployment's prefix, due `PUSH_GRACE_SECS` after the
event, and deletes the intents. arq refuses a job id it already holds, so an intent relayed
twice (a relay killed between enqueue and delete, two workers) is still one job; the job's
sent marker covers a re-run after its result expired. A transient provider failure is retried
with backoff (`arq.Retry`) until `PUSH_MAX_ATTEMPTS`, then given up with a log line.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq import Retry
from arq.connections import ArqRedis

from hugmood.core.keys import Keys
from hugmood.notify import dispatch, intents, metrics
from hugmood.notify.events import PUSH_TOPIC
from hugmood.notify.provider import TryAgain, backoff_secs
from hugmood.outbox import store as outbox
from hugmood.services import Services

log = logging.getLogger("hugmood.workers")

ENQUEUE_CONCURRENCY = 64  # arq enqueues in flight at once (each is a small Redis transaction)


async def deliver_push(worker_ctx: dict[str, Any], user_id: str, seq: int, device_id: str) -> str:
    services: Services = worker_ctx["services"]
    settings = services.ctx.settings
    try:
        return await dispatch.deliver(
            services.ctx, worker_ctx["providers"], user_id, seq, device_id
        )
    except TryAgain as again:
        attempt = worker_ctx["job_try"]
        if attempt >= settings.push_max_attempts:
            metrics.inc("hugmood_push_gave_up_total")
            log.warning(
                "push given up after its last attempt",
                extra={"attempts": attempt, "reason": again.reason},
            )
            return "gave_up"
        metrics.inc("hugmood_push_retried_total")
        delay = backoff_secs(attempt, settings.push_retry_base_secs, again.retry_after)
        raise Retry(defer=delay) from again


async def _enqueue(pool: ArqRedis, keys: Keys, jobs: list[intents.PushJob]) -> None:
    slots = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

    async def one(job: intents.PushJob) -> None:
        async with slots:
            await pool.enqueue_job(
                "deliver_push",
                job.user_id,
                job.seq,
                job.device_id,
                _job_id=keys.arq_job(job.job_id),
                _queue_name=keys.arq_queue,
                _defer_until=job.due,
            )

    await asyncio.gather(*(one(job) for job in jobs))


async def relay_forever(worker_ctx: dict[str, Any]) -> None:
    """Relay push intents into jobs until cancelled (`outbox.store.relay_forever`)."""
    ctx = worker_ctx["services"].ctx
    pool: ArqRedis = worker_ctx["redis"]

    async def push_intents(batch: list[outbox.Intent]) -> None:
        await _enqueue(pool, ctx.keys, await intents.jobs(ctx, batch))

    await outbox.relay_forever(ctx, {PUSH_TOPIC: push_intents})
