"""Fixed-window rate limits counted in Redis, so every process shares one budget per subject.

A fixed window lets a client burst up to twice the limit across a boundary; for abuse limits that
is fine and it costs one counter per subject and window, expiring with its window.

Every socket event and every hug send counts a hit, so hits are batched: the hits that arrive
while one batch is in Redis go together in the next (`RateLimiter.hits`, a `GroupCommit`), one
script call counting them all. Under load that is one round trip for hundreds of hits; alone, a
hit goes at once.

Redis down or stalled: a batch that fails on the connection (refused, lost, timed out) answers
every hit in it `unavailable` at once, and no hit waits longer than `HIT_DEADLINE_SECS`; at most
`HIT_QUEUE_MAX` hits wait, beyond that a hit is `unavailable` without queuing.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from hugmood.core.batching import Answer, GroupCommit
from hugmood.core.errors import AppError
from hugmood.core.keys import Keys
from hugmood.core.outages import NETWORK_DOWN, REDIS_DOWN, unavailable
from hugmood.core.settings import Rate

HIT_BATCH_MAX = 1000
# 20 batches: one script call of 1000 INCRs takes a few ms, so a full queue is well under a
# second of work at ~200 bytes a hit (4 MB); more only means answering later than the deadline.
HIT_QUEUE_MAX = 20_000
# Every socket event waits on its hit: past 2 s a user holding a phone sees a hang, and Redis is
# as good as down (its command timeout, 1.5 s, fires first when it stalls).
HIT_DEADLINE_SECS = 2
# Scripts run by EVALSHA (loaded on first use); bytes, so no client is needed to hash them.
# KEYS: counters; ARGV: their window lengths. Returns each counter after its increment.
_COUNT_HITS = AsyncScript(
    None,
    b"""
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
""",
)
# Gives back a hit only while its window's counter exists: a refund after the window ended must
# not create a counter that never expires.
_REFUND = AsyncScript(
    None, b"if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end"
)

Hit = tuple[str, int]  # (counter key, window seconds)


def _refuse(bucket: str, retry_after: int) -> AppError:
    return AppError(
        "rate_limited", f"too many {bucket} attempts, try again later", retry_after=retry_after
    )


class RateLimiter:
    """The process's rate limits; `close` counts the hits still queued, then stops."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        max_queued: int = HIT_QUEUE_MAX,
        deadline_secs: float = HIT_DEADLINE_SECS,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.hits: GroupCommit[Hit, int] = GroupCommit(
            self._count,
            HIT_BATCH_MAX,
            max_queued=max_queued,
            deadline_secs=deadline_secs,
            waits_on="redis",
        )

    def window(self, bucket: str, subject: str, rate: Rate) -> tuple[str, int]:
        """The counter of `subject` in `bucket` for the current window, and the seconds left."""
        now = int(time.time())
        window_start = now - now % rate.window_secs
        return self._keys.rate(bucket, subject, window_start), window_start + rate.window_secs - now

    async def hit(self, bucket: str, subject: str, rate: Rate) -> None:
        """Count one hit of `subject` in `bucket`; raise `rate_limited` once over the limit."""
        key, retry_after = self.window(bucket, subject, rate)
        if await self.hits.submit((key, rate.window_secs)) > rate.limit:
            raise _refuse(bucket, retry_after)

    async def refund(self, bucket: str, subject: str, rate: Rate) -> None:
        """Give back a hit that turned out not to count (a login that succeeded, a retried
        send)."""
        key, _ = self.window(bucket, subject, rate)
        await _REFUND(keys=[key], client=self._redis)

    async def close(self) -> None:
        await self.hits.close()

    async def _count(self, hits: list[Hit], answer: Answer[int]) -> None:
        """One batch: count every hit in one script call; Redis down fails them all
        `unavailable`."""
        try:
            counts = await _COUNT_HITS(
                keys=[key for key, _ in hits],
                args=[window for _, window in hits],
                client=self._redis,
            )
        except REDIS_DOWN + NETWORK_DOWN as exc:
            raise unavailable("rate limits unavailable") from exc
        answer([int(count) for count in counts])
