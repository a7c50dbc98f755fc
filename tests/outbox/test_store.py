"""The outbox: an intent exists exactly when its transaction committed, is handed to its
topic's handler until one run succeeds, and never to two relays at once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from hugmood.outbox import store as outbox
from tests.conftest import Recorder, Stack, open_services


@pytest.fixture
async def ctx(stack: Stack) -> AsyncIterator:
    services = await open_services(stack.settings(), Recorder())
    yield services.ctx
    await services.close()


def topic() -> str:
    return f"test-{secrets.token_hex(4)}"  # the test database's outbox is shared


async def test_only_committed_intents_are_relayed_once_then_deleted(ctx, db) -> None:
    name = topic()
    async with db.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await outbox.add(conn, name, [{"n": 0}])
                raise RuntimeError("the fact's transaction fails")
        async with conn.transaction():
            await outbox.add(conn, name, [{"n": 1}, {"n": 2}])
    got: list[outbox.Intent] = []

    async def handler(intents: list[outbox.Intent]) -> None:
        got.extend(intents)

    assert await outbox.relay(ctx, {name: handler}) == 2
    assert [i.payload for i in got] == [{"n": 1}, {"n": 2}]
    assert await outbox.relay(ctx, {name: handler}) == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", name) == 0


async def test_a_failing_handler_leaves_its_intents_for_the_next_run(ctx, db) -> None:
    name = topic()
    async with db.acquire() as conn:
        await outbox.add(conn, name, ["x"])

    async def broken(intents: list[outbox.Intent]) -> None:
        raise ConnectionError("Redis went away")

    with pytest.raises(ConnectionError):
        await outbox.relay(ctx, {name: broken})
    seen: list[str] = []

    async def working(intents: list[outbox.Intent]) -> None:
        seen.extend(i.payload for i in intents)

    assert await outbox.relay(ctx, {name: working}) == 1 and seen == ["x"]


async def test_two_relays_never_take_the_same_intents(ctx, db) -> None:
    name = topic()
    async with db.acquire() as conn:
        await outbox.add(conn, name, list(range(10)))
    first_holds, release = asyncio.Event(), asyncio.Event()
    taken: list[list[int]] = []

    async def slow(intents: list[outbox.Intent]) -> None:
        taken.append([i.payload for i in intents])
        first_holds.set()
        await release.wait()

    async def quick(intents: list[outbox.Intent]) -> None:
        taken.append([i.payload for i in intents])

    first = asyncio.create_task(outbox.relay(ctx, {name: slow}, limit=6))
    await first_holds.wait()
    assert await outbox.relay(ctx, {name: quick}) == 4  # skips the six the first one holds
    release.set()
    assert await first == 6
    assert sorted(taken[0] + taken[1]) == list(range(10))


async def test_other_topics_are_left_alone(ctx, db) -> None:
    mine, theirs = topic(), topic()
    async with db.acquire() as conn:
        await outbox.add(conn, theirs, ["not mine"])

    async def handler(intents: list[outbox.Intent]) -> None:
        raise AssertionError("handed an intent of another topic")

    assert await outbox.relay(ctx, {mine: handler}) == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", theirs) == 1
