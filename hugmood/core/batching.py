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
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from hugmood.core.errors import AppError

T = TypeVar("T")
R = TypeVar("R")

# The batch's answers, one per item, in order: a result or the exception for that caller alone.
Answer = Callable[[list[R | Exception]], None]
# Writes the items, calls `answer` once they are durable, then may do post-commit work.
Commit = Callable[[list[T], Answer[R]], Awaitable[None]]

# A batch takes milliseconds; a database that has not finished one after this is stuck, and a
# shutting-down process should not wait on it any longer.
DRAIN_TIMEOUT_SECS = 10

log = logging.getLogger("hugmood.batching")


def _shutting_down() -> AppError:
    return AppError("internal", "server is shutting down")


class GroupCommit(Generic[T, R]):
    def __init__(self, commit: Commit[T, R], max_items: int) -> None:
        self._commit = commit
        self._max_items = max_items
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # commit calls made: one transaction each (more on a fallback)

    @property
    def queued(self) -> int:
        """Items waiting for the next batch."""
        return len(self._queue)

    @property
    def closing(self) -> bool:
        """True once `close` began: new items are refused."""
        return self._closing

    async def submit(self, item: T) -> R:
        """Queue `item` for the next batch and wait for its own answer."""
        if self._closing:
            raise _shutting_down()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="group commit")
        self._wake.set()
        return await future

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
            self._fail([future for _, future in self._queue], _shutting_down())
            self._queue.clear()

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        while self._queue and len(batch) < self._max_items:
            item, future = self._queue.popleft()
            if not future.done():  # a cancelled caller's item is not written
                batch.append((item, future))
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
