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

# What each dependency's client raises when it is unreachable, lost or stalled: nothing is wrong
# with the request, and another attempt now would fail the same way.
REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,  # the connection is closed or unusable
    asyncpg.PostgresConnectionError,  # class 08, e.g. ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, terminated, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
)
NETWORK_DOWN: tuple[type[BaseException], ...] = (OSError, TimeoutError)  # says not whose
GENERIC = "a dependency"
_KINDS = (("redis", REDIS_DOWN), ("postgres", DATABASE_DOWN), (GENERIC, NETWORK_DOWN))


def unavailable(why: str = "the service is unavailable") -> AppError:
    """The answer for a request that a dependency being down (or too busy) kept from being
    done: `why`, and when to retry."""
    return AppError("unavailable", f"{why}; retry shortly", retry_after=RETRY_AFTER_SECS)


class Stalled(Exception):
    """What a wait that timed out on a known dependency raises (as the cause of its
    `unavailable`): a bare timeout does not say whose it was."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} did not answer in time")
        self.dependency = dependency


def dependency_of(exc: BaseException) -> str | None:
    """Which dependency `exc` says is down, or None if it is not an outage."""
    if isinstance(exc, Stalled):
        return exc.dependency
    for name, kinds in _KINDS:
        if isinstance(exc, kinds):
            return name
    return None


# A dependency is called back once something succeeds and none of its failures came for this
# long: a success alone proves little (the request may not have needed the dependency, or got
# through just before it went), and declaring it back too early would log an outage twice. A
# stalled dependency fails its waiting requests only at their deadline, so quiet must outlast it.
QUIET_SECS = DEADLINE_SECS + 1


class Outages:
    """This process's view of its dependencies: down since when, the last failure, and how many
    failures. One per process (`process_outages()`), shared by whatever notices an outage —
    requests, the upkeep loops, the pub/sub subscriber and publisher, the worker's poll — so an
    outage is two lines however many parts of the process notice it."""

    def __init__(self) -> None:
        self._down: dict[str, tuple[float, float, int]] = {}  # since, last failure, failures

    def failed(self, exc: BaseException) -> AppError | None:
        """The `unavailable` answer for an outage (logged once per outage), or None for
        anything that is not one. An `unavailable` AppError raised by a feature for a
        dependency error (its cause) is counted here too, and answered as it is."""
        answer = exc if isinstance(exc, AppError) and exc.code == "unavailable" else None
        cause = exc.__cause__ if answer is not None else exc
        dependency = dependency_of(cause) if cause is not None else None
        if dependency is None:
            return answer
        if dependency == GENERIC and self._down:
            dependency = next(iter(self._down))  # a timeout while something is already down
        now = time.monotonic()
        since, _, failures = self._down.get(dependency, (now, now, 0))
        if failures == 0:
            log.warning(f"{dependency} unavailable", extra={"error": type(cause).__name__})
        self._down[dependency] = (since, now, failures + 1)
        return answer or unavailable()

    def succeeded(self) -> None:
        """Something got through: whatever has not failed for `QUIET_SECS` is back."""
        if not self._down:
            return
        now = time.monotonic()
        for dependency, (since, last, failures) in list(self._down.items()):
            if now - last >= QUIET_SECS:
                del self._down[dependency]
                log.warning(  # down_secs: from the first failure seen to the last
                    f"{dependency} back",
                    extra={"down_secs": round(last - since, 1), "failed_requests": failures},
                )


_PROCESS = Outages()


def process_outages() -> Outages:
    """The process's one view of its dependencies."""
    return _PROCESS
