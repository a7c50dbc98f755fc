"""The group commit runner (`hugmood.core.batching.GroupCommit`): batches form from what queued
while the previous one committed, each caller gets its own answer, close drains."""

from __future__ import annotations

import asyncio

import pytest

from hugmood.core import batching
from hugmood.core.batching import GroupCommit
from hugmood.core.errors import AppError
from tests.conftest import until


class Held:
    """A commit function that records its batches and waits while `gate` is closed."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.gate = asyncio.Event()
        self.batches: list[list[str]] = []
        self.fail_on = fail_on

    async def __call__(self, items: list[str], answer: batching.Answer[str]) -> None:
        self.batches.append(items)
        await self.gate.wait()
        if self.fail_on in items:
            raise RuntimeError("commit failed")
        answer([f"done {item}" for item in items])


async def test_queued_items_form_the_next_batch_and_a_failure_reaches_only_its_batch() -> None:
    commit = Held(fail_on="bad")
    batcher: GroupCommit[str, str] = GroupCommit(commit, max_items=3)
    first = asyncio.create_task(batcher.submit("first"))
    await until(lambda: batcher.batches == 1)
    rest = [asyncio.create_task(batcher.submit(item)) for item in ("a", "bad", "b", "c", "d")]
    await until(lambda: batcher.queued == 5)
    commit.gate.set()
    assert await first == "done first"
    answers = await asyncio.gather(*rest, return_exceptions=True)
    assert commit.batches == [["first"], ["a", "bad", "b"], ["c", "d"]]
    assert [str(a) for a in answers[:3]] == ["commit failed"] * 3
    assert answers[3:] == ["done c", "done d"]
    assert await batcher.submit("after") == "done after"  # the runner goes on
    await batcher.close()
    with pytest.raises(AppError):
        await batcher.submit("too late")


async def test_a_cancelled_caller_is_left_out_and_close_drains_the_queue() -> None:
    commit = Held()
    batcher: GroupCommit[str, str] = GroupCommit(commit, max_items=10)
    first = asyncio.create_task(batcher.submit("first"))
    await until(lambda: batcher.batches == 1)
    gone = asyncio.create_task(batcher.submit("gone"))
    kept = asyncio.create_task(batcher.submit("kept"))
    await until(lambda: batcher.queued == 2)
    gone.cancel()
    closing = asyncio.create_task(batcher.close())
    commit.gate.set()
    await closing
    assert (await first, await kept) == ("done first", "done kept")
    assert commit.batches == [["first"], ["kept"]]


async def test_close_fails_callers_of_a_stuck_batch(monkeypatch) -> None:
    monkeypatch.setattr(batching, "DRAIN_TIMEOUT_SECS", 0.1)
    commit = Held()  # its gate never opens
    batcher: GroupCommit[str, str] = GroupCommit(commit, max_items=10)
    stuck = asyncio.create_task(batcher.submit("stuck"))
    await until(lambda: batcher.batches == 1)
    queued = asyncio.create_task(batcher.submit("queued"))
    await until(lambda: batcher.queued == 1)
    await batcher.close()
    for task in (stuck, queued):
        with pytest.raises(AppError) as refused_:
            await task
        assert refused_.value.code == "internal"


async def test_a_full_queue_refuses_at_once_without_queuing() -> None:
    commit = Held()
    batcher: GroupCommit[str, str] = GroupCommit(commit, max_items=10, max_queued=2)
    first = asyncio.create_task(batcher.submit("first"))
    await until(lambda: batcher.batches == 1)
    queued = [asyncio.create_task(batcher.submit(item)) for item in ("a", "b")]
    await until(lambda: batcher.queued == 2)
    async with asyncio.timeout(0.5):
        with pytest.raises(AppError) as refused:
            await batcher.submit("one too many")
    assert (refused.value.code, refused.value.retry_after) == ("unavailable", 1)
    assert (batcher.queued, batcher.refused) == (2, 1)
    commit.gate.set()
    assert [await first, *await asyncio.gather(*queued)] == ["done first", "done a", "done b"]
    assert commit.batches == [["first"], ["a", "b"]]  # the refused item was never written
    await batcher.close()


async def test_past_its_deadline_a_caller_is_unavailable_and_its_queued_item_dropped() -> None:
    commit = Held()
    batcher: GroupCommit[str, str] = GroupCommit(commit, max_items=10, deadline_secs=0.2)
    in_flight = asyncio.create_task(batcher.submit("in flight"))
    await until(lambda: batcher.batches == 1)
    queued = asyncio.create_task(batcher.submit("queued"))
    for task in (in_flight, queued):
        with pytest.raises(AppError) as late:
            await task
        assert (late.value.code, late.value.message) == (
            "unavailable",
            "not answered in time; retry shortly",
        )
    assert batcher.timed_out == 2 and batcher.queued == 0
    commit.gate.set()  # the batch in flight still commits; the queued item is not written
    assert await batcher.submit("next") == "done next"
    assert commit.batches == [["in flight"], ["next"]]
    await batcher.close()


async def test_callers_gone_from_a_full_queue_make_room_again() -> None:
    commit = Held()  # stuck: the queue only fills
    batcher: GroupCommit[str, str] = GroupCommit(
        commit, max_items=10, max_queued=4, deadline_secs=0.1
    )
    stuck = asyncio.create_task(batcher.submit("stuck"))
    await until(lambda: batcher.batches == 1)
    gone = [asyncio.create_task(batcher.submit(f"gone {i}")) for i in range(4)]
    assert all(isinstance(e, AppError) for e in await asyncio.gather(*gone, return_exceptions=True))
    later = [asyncio.create_task(batcher.submit(f"later {i}")) for i in range(4)]
    await until(lambda: batcher.queued == 4)
    assert batcher.refused == 0
    commit.gate.set()
    with pytest.raises(AppError):
        await stuck
    await asyncio.gather(*later, return_exceptions=True)
    await batcher.close()
