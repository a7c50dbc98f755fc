"""Hug sends under faults (`hugmood.hugs.send.HugSender`), in process against the test database:
a full queue and a missed deadline answer `unavailable`, a poisoned send is isolated by
bisection in O(log n) transactions, and a lost connection answers the whole batch `unavailable`
at once with nothing half-written. Batches are held on row locks, as in `test_send_batch`.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hugmood.core.errors import AppError
from hugmood.hugs.send import HugSender
from hugmood.services import Services
from tests.conftest import Recorder, open_services, until
from tests.hugs.test_send_batch import hug, hug_rows, inbox_of, one_batch, people


@pytest.fixture
async def svc(stack) -> AsyncIterator[Services]:
    svc = await open_services(stack.settings(RATE_HUG_SEND="100000/60"), Recorder())
    yield svc
    await svc.close()


def unavailable(answer: object, message: str) -> bool:
    return (
        isinstance(answer, AppError)
        and (answer.code, answer.retry_after) == ("unavailable", 1)
        and answer.message == message
    )


async def test_a_full_send_queue_refuses_at_once_and_queues_nothing(svc, db) -> None:
    sender = HugSender(svc.ctx, svc.limiter, max_queued=3)
    opener, gate, me, *friends = await people(db, *["everyone"] * 7)
    try:
        async with db.acquire() as lock, lock.transaction():
            await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", gate)
            first = asyncio.create_task(sender.send(opener, hug(gate)))
            await until(lambda: sender.commits.batches == 1)
            queued = [asyncio.create_task(sender.send(me, hug(f))) for f in friends[:3]]
            await until(lambda: sender.commits.queued == 3)
            async with asyncio.timeout(0.5):
                with pytest.raises(AppError) as refused:
                    await sender.send(me, hug(friends[3], client_id="refused"))
            assert unavailable(refused.value, "too busy; retry shortly")
            assert sender.commits.queued == 3
        answers = await asyncio.gather(first, *queued)
    finally:
        await sender.close()
    assert all(created for _, created in answers)
    rows = await hug_rows(db, [me])
    assert sorted(r["id"] for r in rows) == sorted(h.id for h, _ in answers[1:])
    assert await inbox_of(db, friends[3]) == []


async def test_a_send_past_its_deadline_is_unavailable_and_retry_safe(svc, db) -> None:
    sender = HugSender(svc.ctx, svc.limiter, deadline_secs=0.3)
    opener, gate, me, friend = await people(db, *["everyone"] * 4)
    in_flight = hug(gate, client_id="in flight")
    try:
        async with db.acquire() as lock, lock.transaction():
            await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", gate)
            first = asyncio.create_task(sender.send(opener, in_flight))
            await until(lambda: sender.commits.batches == 1)
            started = time.monotonic()
            late = await asyncio.gather(
                first, sender.send(me, hug(friend)), sender.send(me, hug(friend)),
                return_exceptions=True,
            )  # fmt: skip
            took = time.monotonic() - started
        assert all(unavailable(a, "not answered in time; retry shortly") for a in late), late
        assert took < 1
        # The batch in flight committed once the lock went; a retry with its client_id gets it.
        hug_, created = await sender.send(opener, in_flight)
        assert created is False and hug_.recipient_id == gate
        assert sender.commits.batches == 2  # the retry alone: the dropped sends were skipped
        await sender.send(me, hug(opener))
    finally:
        await sender.close()
    assert await inbox_of(db, friend) == []
    assert [r["recipient_id"] for r in await hug_rows(db, [me])] == [opener]


async def test_one_poisoned_send_is_isolated_in_log_n_transactions(svc, db) -> None:
    me, *recipients = await people(db, *["everyone"] * 9)
    poison = f"poison {secrets.token_hex(4)}"
    await db.execute(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'poisoned by test'; END $$"
    )
    await db.execute(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON hugs FOR EACH ROW "
        f"WHEN (NEW.message = '{poison}') EXECUTE FUNCTION refuse_poison()"
    )
    n, bad = 64, 37
    sends = [
        (me, hug(recipients[i % 8], message=poison if i == bad else f"hug {i}")) for i in range(n)
    ]
    before = svc.hug_sender.transactions
    try:
        answers = await one_batch(svc, db, sends)
    finally:
        await db.execute("DROP TRIGGER refuse_poison ON hugs")
        await db.execute("DROP FUNCTION refuse_poison()")
    transactions = svc.hug_sender.transactions - before - 1  # one_batch's opener took one
    assert transactions == 2 * int(math.log2(n)) + 1, transactions  # never n
    assert isinstance(answers[bad], asyncpg.RaiseError) and "poisoned by test" in str(answers[bad])
    good = [a for i, a in enumerate(answers) if i != bad]
    assert all(isinstance(a, tuple) and a[1] is True for a in good)
    rows = await hug_rows(db, [me])
    assert sorted(r["id"] for r in rows) == sorted(h.id for h, _ in good)
    assert poison not in {r["message"] for r in rows}
    mine = await inbox_of(db, me)  # in send order, gap-free, the poisoned one left out
    assert mine == [(i + 1, "hug.sent", str(h.id)) for i, (h, _) in enumerate(good)]


async def test_a_lost_connection_fails_the_whole_batch_unavailable_at_once(svc, db) -> None:
    opener, gate, held, *team = await people(db, *["everyone"] * 11)
    senders, recipients = team[:4], team[4:]
    sends = [(senders[i % 4], hug(held if i == 0 else recipients[i % 4])) for i in range(40)]
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> $1"
    )
    before = svc.hug_sender.commits.batches
    async with db.acquire() as hold, hold.transaction():
        await hold.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", held)
        async with db.acquire() as lock, lock.transaction():
            await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", gate)
            first = asyncio.create_task(svc.hug_sender.send(opener, hug(gate)))
            await until(lambda: svc.hug_sender.commits.batches == before + 1)
            tasks = [asyncio.create_task(svc.hug_sender.send(s, data)) for s, data in sends]
            await until(lambda: svc.hug_sender.commits.queued == len(sends))
        assert (await first)[1] is True
        # The 40 sends are one batch now, waiting on `held` inside its transaction.
        async with asyncio.timeout(5):
            while True:
                if (pid := await db.fetchval(waiting, hold.get_server_pid())) is not None:
                    break
                await asyncio.sleep(0.005)
        started = time.monotonic()
        assert await db.fetchval("SELECT pg_terminate_backend($1)", pid)
        answers = await asyncio.gather(*tasks, return_exceptions=True)
        took = time.monotonic() - started
    assert svc.hug_sender.commits.batches == before + 2
    assert all(unavailable(a, "database unavailable; retry shortly") for a in answers), answers
    assert took < 1
    assert await hug_rows(db, senders) == []  # nothing half-written
    for user in (held, *senders, *recipients):
        assert await inbox_of(db, user) == []
    # Retry-safe and the pool recovers: the same client_id now commits.
    hug_, created = await svc.hug_sender.send(*sends[1])
    assert created is True and hug_.client_id == sends[1][1].client_id
