"""`python -m workers`: the arq worker, logging JSON from its first line (the `arq` command
sets up its own plain-text logging before the worker's start-up hook could change it), and
riding out Redis outages instead of exiting with a traceback."""

from __future__ import annotations

import asyncio

from arq.worker import Worker, get_kwargs

from hugmood.core import logs
from hugmood.core.outages import REDIS_DOWN, process_outages
from workers.main import WorkerSettings, settings

OUTAGE_POLL_SECS = 0.5  # how often a worker whose Redis is down tries again


class OutageTolerantWorker(Worker):
    """arq's worker, whose poll loop ends the process at the first Redis error: here a poll
    that fails because Redis is down is the process's outage (logged once: "redis
    unavailable", then "redis back" with how long) and is retried, and the worker goes on
    where it stopped once Redis answers again (cron runs missed meanwhile are not made up)."""

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            process_outages().failed(exc)
            await asyncio.sleep(OUTAGE_POLL_SECS)
        else:
            process_outages().succeeded()


def main() -> None:
    logs.configure(settings.log_level)
    OutageTolerantWorker(**get_kwargs(WorkerSettings)).run()


if __name__ == "__main__":
    main()
