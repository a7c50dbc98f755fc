"""`python -m workers`: the arq worker, logging JSON from its first line (the `arq` command
sets up its own plain-text logging before the worker's start-up hook could change it)."""

from __future__ import annotations

from arq import run_worker

from hugmood.core import logs
from workers.main import WorkerSettings, settings


def main() -> None:
    logs.configure(settings.log_level)
    run_worker(WorkerSettings)


if __name__ == "__main__":
    main()
