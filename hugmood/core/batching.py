"""Group commit: many callers' writes in one transaction, each caller answered on its own.

Why: a durable write pays for its round trips and its commit. One transaction per item caps a
process at a few hundred items a second; one transaction per batch pays those costs once for up
to `max_items` items.

How batches form, with no timer: one runner task per process takes everything queued (up to
`max_items`) and commits it. While that batch is in flight, new items queue up; the runner takes
them as the next batch as soon as it is done. At low load a batch is the one item that woke the
runner, so nothing waits for company; under load batches grow by themselves.

Guarantees: every caller gets its own answer (result or exception), whatever happens to the
batch: if the commit function raises, every caller it did not answer gets that error, and the
runner goes on with the next batch. A caller that gives up (its task is cancelled) before its item
is taken is left out of the batch. `close` commits what is queued, then stops; later submits
are refused.

Bounded under overload: at most `max_queued` items wait (beyond it `submit` answers `unavailable`
at once, queuing nothing), and no caller waits longer than `deadline_secs` for its answer: past
it the caller gets `unavailable` (caused by `outages.Stalled(waits_on)` when the user names the
dependency a batch waits on, so the outage is that dependency's). Its item, if still queued, is
dropped; if it is already in a batch in flight, that batch may still commit it, so a user's
commit function must make a retry of the same item safe (an idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from hugmood.core.errors import AppError
from hugmood.core.outages import Stalled, unavailable

T = TypeVar("T")
R = TypeVar("R")

# The batch's answers, one per item, in order: a result or the exception for that caller alone.
Answer = Callable[[list[R | Exception]], None]
# Writes the items, calls `answer` once they are durable, then may do post-commit work.
Commit = Callable[[list[T], Answer[R]], Awaitable[None]]

# A batch takes milliseconds; a database that has not finished one after this is stuck, and a
# shutting-down process should not wait on it any longer.
DRAIN_TIMEOUT_SECS = 10
# Defaults for a user that states no bounds of its own (each user in this code base does).
MAX_QUEUED = 10_000
DEADLINE_SECS = 5
log = logging.getLogger("hugmood.batching")


def _shutting_down() -> AppError:
    return AppError("internal", "server is shutting down")


def _overloaded() -> AppError:
    return unavailable("too busy")


def _too_slow() -> AppError:
    return unavailable("not answered in time")


class _Queued(Generic[T, R]):
    """An item and its caller's answer; `out` once it left the queue (taken or cleared)."""

    __slots__ = ("future", "item", "out")

    def __init__(self, item: T, future: asyncio.Future[R]) -> None:
        self.item = item
        self.future = future
        self.out = False


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        commit: Commit[T, R],
        max_items: int,
        *,
        max_queued: int = MAX_QUEUED,
        deadline_secs: float = DEADLINE_SECS,
        waits_on: str | None = None,
    ) -> None:
        self._commit = commit
        self._waits_on = waits_on
        self._max_items = max_items
        self._max_queued = max_queued
        self._deadline_secs = deadline_secs
        self._queue: deque[_Queued[T, R]] = deque()
        self._dropped = 0  # queued items whose caller is gone (timed out, cancelled)
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # commit calls made (a commit function may run more transactions)
        self.refused = 0  # submits refused because the queue was full
        self.timed_out = 0  # callers answered `unavailable` at their deadline

    @property
    def queued(self) -> int:
        """Items waiting for the next batch (not counting those whose caller is gone)."""
        return len(self._queue) - self._dropped

    @property
    def closing(self) -> bool:
        """True once `close` began: new items are refused."""
        return self._closing

    async def submit(self, item: T) -> R:
        """Queue `item` for the next batch and wait for its own answer: `unavailable` at once
        if `max_queued` items wait already, or once `deadline_secs` passed without one."""
        if self._closing:
            raise _shutting_down()
        if len(self._queue) >= self._max_queued and not self._compact():
            self.refused += 1
            raise _overloaded()
        entry = _Queued(item, asyncio.get_running_loop().create_future())
        self._queue.append(entry)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="group commit")
        self._wake.set()
        try:
            # On timeout (or cancellation) the future is cancelled: a queued item is then left
            # out of its batch, an item in flight is not answered any more.
            return await asyncio.wait_for(entry.future, self._deadline_secs)
        except TimeoutError:
            self.timed_out += 1
            # Counted as the outage of what the batch waits on, if the user said what that is.
            raise _too_slow() from (Stalled(self._waits_on) if self._waits_on else None)
        finally:
            if not entry.out and entry.future.done():
                self._dropped += 1

    def _compact(self) -> bool:
        """Forget the queued items whose caller is gone, if they are at least a quarter of the
        queue (so the copy costs O(1) per freed slot); True if that made room."""
        if self._dropped * 4 < len(self._queue):
            return False
        kept = deque(entry for entry in self._queue if not entry.future.done())
        for entry in self._queue:
            entry.out = True
        self._queue, self._dropped = kept, 0
        for entry in kept:
            entry.out = False
        return len(self._queue) < self._max_queued

    async def close(self) -> None:
        """Refuse new items, commit the queued ones, stop. Nobody is left waiting."""
        self._closing = True
        self._wake.set()
        runner = self._runner
        if runner is None:
            return
        done, _ = await asyncio.wait({runner}, timeout=DRAIN_TIMEOUT_SECS)
        if not done:
            log.error("group commit did not drain in time; failing its callers")
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = self._take()
                if batch:
                    await self._commit_batch(batch)
        finally:
            for entry in self._queue:
                entry.out = True
            self._fail([entry.future for entry in self._queue], _shutting_down())
            self._queue.clear()
            self._dropped = 0

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        while self._queue and len(batch) < self._max_items:
            entry = self._queue.popleft()
            entry.out = True
            if entry.future.done():  # a caller that is gone: its item is not written
                self._dropped -= 1
            else:
                batch.append((entry.item, entry.future))
        return batch

    async def _commit_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        futures = [future for _, future in batch]

        def answer(outcomes: list[R | Exception]) -> None:
            for future, outcome in zip(futures, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

        self.batches += 1
        try:
            await self._commit([item for item, _ in batch], answer)
        except AppError as exc:
            # Classified by the commit function (e.g. `unavailable`): each caller gets it, and
            # the transport that answers them counts and logs the outage once.
            self._fail(futures, exc)
        except Exception as exc:
            log.exception("group commit failed; its unanswered callers get the error")
            self._fail(futures, exc)
        except BaseException:
            self._fail(futures, _shutting_down())
            raise
        self._fail(futures, RuntimeError("the batch ended without answering this item"))

    @staticmethod
    def _fail(futures: list[asyncio.Future[R]], exc: Exception) -> None:
        for future in futures:
            if not future.done():
                future.set_exception(exc)
