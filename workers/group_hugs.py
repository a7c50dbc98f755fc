"""Group hug jobs: `advance_group_hug` at each due time, a sweep every few seconds, and the
relay that turns due times written to the outbox into jobs.

Exactly once needs nothing from these: `transitions.advance` decides from the row and changes
it with a conditional UPDATE. The jobs make transitions punctual (arq runs a deferred job within
its poll delay); their ids are deterministic (`group_hug:<id>:<due ms>` under the deployment's
prefix), so a due time relayed twice is one job. The sweep makes them certain: a job lost with
a Redis that restarted without persistence only delays its transition until the next sweep.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis

from hugmood.group_hugs import transitions
from hugmood.outbox import store as outbox
from hugmood.services import Services

log = logging.getLogger("hugmood.workers")

SWEEP_EVERY_SECS = 2  # the longest a transition waits when its job was lost


async def advance_group_hug(worker_ctx: dict[str, Any], group_id: str) -> str:
    services: Services = worker_ctx["services"]
    outcome = await transitions.advance(services.ctx, uuid.UUID(group_id))
    if outcome != "nothing":
        log.info("group hug advanced", extra={"group_hug_id": group_id, "outcome": outcome})
    return outcome


async def sweep_group_hugs(worker_ctx: dict[str, Any]) -> int:
    services: Services = worker_ctx["services"]
    changed = await transitions.sweep(services.ctx)
    if changed:
        log.info("group hug sweep advanced some", extra={"count": changed})
    return changed


async def relay_due_times_forever(worker_ctx: dict[str, Any]) -> None:
    """Turn group hug due times from the outbox into deferred jobs until cancelled
    (`outbox.store.relay_forever`: outages waited out, the due times stay in the outbox)."""
    ctx = worker_ctx["services"].ctx
    pool: ArqRedis = worker_ctx["redis"]

    async def enqueue(batch: list[outbox.Intent]) -> None:
        for intent in batch:
            group_id, due = intent.payload
            due_at = datetime.fromisoformat(due)
            await pool.enqueue_job(
                "advance_group_hug",
                group_id,
                _job_id=ctx.keys.arq_job(f"group_hug:{group_id}:{int(due_at.timestamp() * 1000)}"),
                _queue_name=ctx.keys.arq_queue,
                _defer_until=due_at,
            )

    await outbox.relay_forever(ctx, {transitions.TOPIC: enqueue})
