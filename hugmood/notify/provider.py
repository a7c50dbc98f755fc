"""The contract every push provider implements, and how their answers are classified.

A provider sends one notification to tokens and returns the tokens to delete (the app was
uninstalled or the token is not one). Like sygnal's pushkins, it sorts every other answer into
one of: a configuration error (our key, topic or project is wrong: logged loudly once per
process and reason, counted every time, the token kept), a transient failure (429, 5xx, the
network: `TryAgain`, retried by the caller with backoff), or a permanent failure of that one
notification (logged, counted, not retried). Web push later is one more module.
"""

from __future__ import annotations

import logging
import random
from enum import Enum
from typing import Protocol

from hugmood.notify import metrics
from hugmood.notify.models import Notification

log = logging.getLogger("hugmood.push")

RETRY_MAX_SECS = 300  # no backoff beyond 5 minutes, whatever the attempt or Retry-After


class Verdict(Enum):
    SENT = "sent"
    UNREGISTERED = "unregistered"  # delete the token
    CONFIG = "config"  # our credentials or topic: keep the token, fix the deployment
    RETRY = "retry"  # 429, 5xx, network
    PERMANENT = "permanent"  # this notification will never be accepted


class TryAgain(Exception):
    """Some tokens met a transient failure: send to them again after `retry_after` seconds at
    the earliest (the provider's Retry-After, if it gave one)."""

    def __init__(
        self,
        tokens: list[str],
        retry_after: float | None,
        reason: str,
        rejected: list[str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.tokens = tokens
        self.retry_after = retry_after
        self.reason = reason
        self.rejected = rejected or []  # tokens of the same call to delete all the same


class Provider(Protocol):
    name: str  # its devices.platform: apns, fcm

    async def send(self, note: Notification, tokens: list[str]) -> list[str]:
        """Send `note` to each token; return the tokens to delete, raise `TryAgain` for those
        to retry (after the others' outcome is final)."""
        ...

    async def close(self) -> None: ...


_reported: set[tuple[str, str]] = set()


def record(provider: str, verdict: Verdict, reason: str) -> None:
    """Count an answer; log configuration errors once per process and reason, loudly, and
    permanent failures each time (they are rare and each is a bug somewhere)."""
    metrics.inc(f"hugmood_push_{verdict.value}_total", provider=provider)
    if verdict is Verdict.CONFIG and (provider, reason) not in _reported:
        _reported.add((provider, reason))
        log.error(
            "push provider configuration error: pushes fail until the deployment is fixed",
            extra={"provider": provider, "reason": reason},
        )
    elif verdict is Verdict.PERMANENT:
        log.warning("push refused", extra={"provider": provider, "reason": reason})


def backoff_secs(attempt: int, base_secs: float, retry_after: float | None) -> float:
    """Exponential backoff with +/-50 % jitter for `attempt` (1 = the first retry), never
    sooner than the provider's Retry-After, never over `RETRY_MAX_SECS`."""
    delay = base_secs * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
    return min(RETRY_MAX_SECS, max(delay, retry_after or 0.0))


def settle(
    tokens: list[str], outcomes: list[tuple[Verdict, str]], retry_after: float | None = None
) -> list[str]:
    """One call's result from each token's (verdict, reason): the tokens to delete, or
    `TryAgain` for those to retry (carrying the ones to delete all the same)."""
    rejected = [t for t, (v, _) in zip(tokens, outcomes, strict=True) if v is Verdict.UNREGISTERED]
    retry = [t for t, (v, _) in zip(tokens, outcomes, strict=True) if v is Verdict.RETRY]
    if retry:
        reasons = sorted({reason for verdict, reason in outcomes if verdict is Verdict.RETRY})
        raise TryAgain(retry, retry_after, ",".join(reasons), rejected)
    return rejected
