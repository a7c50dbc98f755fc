"""Telling a dependency that is down from a bug, and logging an outage once, not per failure.

A request that fails because PostgreSQL or Redis is unreachable, stalled or restarting is
answered `unavailable` (HTTP 503 with `Retry-After`; socket `{ok: false}`): the client retries
later, safely with the same idempotency key. Anything else that escapes is a bug (`internal`).
Each process logs "<dependency> unavailable" at the first such failure and "<dependency> back"
with how long and how many failures once a request succeeds again — one line per state change,
however many requests failed in between.
"""

from __future__ import annotations

import logging
import time

import asyncpg
import redis.exceptions

from hugmood.core.errors import AppError

log = logging.getLogger("hugmood.outages")

RETRY_AFTER_SECS = 1  # what a client is told to wait before retrying
# The longest a request may take before it is answered `unavailable`: past this the dependency
# it waits on is as good as down for a user holding a phone.
DEADLINE_SECS = 2

GENERIC = "a dependency"  # a timeout or socket error that does not say whose
_KINDS: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("redis", (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)),
    (
        "postgres",
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
        ),
    ),
    (GENERIC, (OSError, TimeoutError)),
)


def dependency_of(exc: BaseException) -> str | None:
    """Which dependency `exc` says is down, or None if it is not an outage."""
    for name, kinds in _KINDS:
        if isinstance(exc, kinds):
            return name
    return None


class Outages:
    """This process's view of its dependencies: down since when, and how many failures."""

    def __init__(self) -> None:
        self._down: dict[str, tuple[float, int]] = {}

    def failed(self, exc: BaseException) -> AppError | None:
        """The `unavailable` answer for an outage (logged once per outage), or None for
        anything that is not one."""
        if (dependency := dependency_of(exc)) is None:
            return None
        if dependency == GENERIC and self._down:
            dependency = next(iter(self._down))  # a timeout while something is already down
        since, failures = self._down.get(dependency, (time.monotonic(), 0))
        if failures == 0:
            log.warning(f"{dependency} unavailable", extra={"error": type(exc).__name__})
        self._down[dependency] = (since, failures + 1)
        return AppError(
            "unavailable", "the service is unavailable; retry shortly", retry_after=RETRY_AFTER_SECS
        )

    def succeeded(self) -> None:
        """A request got through: whatever was down is back."""
        if not self._down:
            return
        now = time.monotonic()
        for dependency, (since, failures) in self._down.items():
            log.warning(
                f"{dependency} back",
                extra={"down_secs": round(now - since, 1), "failed_requests": failures},
            )
        self._down.clear()
