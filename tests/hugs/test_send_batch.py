"""Group commit of hug sends (`hugmood.hugs.send.HugSender`), in process against the test
database: what batching must not change (each answer, gap-free inboxes, one hug per
client_id) and that it batches at all (the runner's transaction counter).

Batches are made deterministic without timing: a test holds a lock on a user that the first
batch writes to, so that batch waits inside its transaction while the sends under test queue up;
releasing the lock lets them commit together as the next batch.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hugmood.core.errors import AppError
from hugmood.hugs.models import Hug, HugSend
from hugmood.services import Services
from hugmood.social.privacy import FORBIDDEN_HUG
from tests.conftest import Recorder, open_services, until

# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
async def app(stack) -> AsyncIterator[tuple[Services, Recorder]]:
    """This process's services, with a hug budget no test here reaches."""
    recorder = Recorder()
    svc = await open_services(stack.settings(RATE_HUG_SEND="100000/60"), recorder)
    yield svc, recorder
    await svc.close()


async def people(db: asyncpg.Pool, *allows: str) -> list[uuid.UUID]:
    """One new user per `allow_hugs_from` value given."""
    ids = []
    for allow in allows:
        user_id = await db.fetchval(
            "INSERT INTO users (username, is_anonymous) VALUES ($1, true) RETURNING id",
            f"b{secrets.token_hex(8)}",
        )
        await db.execute(
            "INSERT INTO privacy_settings (user_id, allow_hugs_from) VALUES ($1, $2)",
            user_id,
            allow,
        )
        ids.append(user_id)
    return ids


def hug(to: uuid.UUID, **fields: Any) -> HugSend:
    return HugSend(**{"to": to, "type": "warm", "client_id": secrets.token_hex(8)} | fields)


async def one_batch(
    svc: Services, db: asyncpg.Pool, sends: list[tuple[uuid.UUID, HugSend]]
) -> list[tuple[Hug, bool] | BaseException]:
    """Send all of `sends` concurrently, committed as one batch; each caller's answer in order."""
    opener, gate = await people(db, "everyone", "everyone")
    before = svc.hug_sender.commits.batches
    queued = sum(data.to != sender for sender, data in sends)  # self-hugs never queue
    async with db.acquire() as lock, lock.transaction():
        await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", gate)
        first = asyncio.create_task(svc.hug_sender.send(opener, hug(gate)))
        await until(lambda: svc.hug_sender.commits.batches == before + 1)  # it waits for the lock
        tasks = [asyncio.create_task(svc.hug_sender.send(sender, data)) for sender, data in sends]
        await until(lambda: svc.hug_sender.commits.queued == queued)
    assert (await first)[1] is True
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert svc.hug_sender.commits.batches == before + 2, "the sends were not committed as one batch"
    return answers


async def hug_rows(db: asyncpg.Pool, users: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM hugs WHERE sender_id = ANY($1) OR recipient_id = ANY($1)", users
    )


async def inbox_of(db: asyncpg.Pool, user: uuid.UUID) -> list[tuple[int, str, str]]:
    """(seq, type, hug id) of the user's inbox, in seq order."""
    rows = await db.fetch(
        "SELECT seq, type, payload->>'id' FROM inbox_events WHERE user_id = $1 ORDER BY seq", user
    )
    return [tuple(row) for row in rows]


def refused(answer: Any, code: str, field: str) -> bool:
    return isinstance(answer, AppError) and (answer.code, answer.field) == (code, field)


# --- batching and its guarantees -----------------------------------------------------------


async def test_concurrent_sends_share_transactions_and_every_inbox_stays_gap_free(app, db) -> None:
    svc, recorder = app
    team = await people(db, *["everyone"] * 12)
    rng = random.Random(7)
    plan = [tuple(rng.sample(team, 2)) for _ in range(300)]  # (sender, recipient), overlapping
    before = svc.hug_sender.commits.batches

    answers = await asyncio.gather(*(svc.hug_sender.send(s, hug(r)) for s, r in plan))

    batches = svc.hug_sender.commits.batches - before
    assert batches < len(plan) // 4, f"{len(plan)} concurrent sends took {batches} transactions"
    assert all(created for _, created in answers)
    sent = {str(h.id): (h.sender_id, h.recipient_id) for h, _ in answers}
    assert [(h.sender_id, h.recipient_id) for h, _ in answers] == plan
    rows = await hug_rows(db, team)
    assert sorted(str(r["id"]) for r in rows) == sorted(sent)  # each hug exactly one row

    orders: dict[uuid.UUID, list[str]] = {}
    events: dict[str, list[tuple[uuid.UUID, str]]] = {hug_id: [] for hug_id in sent}
    for user in team:
        inbox = await inbox_of(db, user)
        assert [seq for seq, _, _ in inbox] == list(range(1, len(inbox) + 1))  # gap-free
        head = await db.fetchval("SELECT inbox_seq FROM users WHERE id = $1", user)
        assert head == len(inbox)
        orders[user] = [hug_id for _, _, hug_id in inbox]
        for _, kind, hug_id in inbox:
            events[hug_id].append((user, kind))
    for hug_id, (sender, recipient) in sent.items():  # each hug exactly its two events
        assert sorted(events[hug_id]) == sorted([(recipient, "hug.received"), (sender, "hug.sent")])
    # One order: any two users see the hugs they share in the same order.
    for a in team:
        for b in team:
            shared = set(orders[a]) & set(orders[b])
            assert [h for h in orders[a] if h in shared] == [h for h in orders[b] if h in shared]

    published = {(room, env.seq, event) for event, env, room in recorder.emitted}
    stored = {
        (f"user:{user}", seq, kind) for user in team for seq, kind, _ in await inbox_of(db, user)
    }
    assert len(recorder.emitted) == 2 * len(plan) and published == stored


async def test_a_mixed_batch_answers_each_caller_and_writes_only_the_admitted(app, db) -> None:
    svc, recorder = app
    me, other, retired = await people(db, "everyone", "everyone", "everyone")
    open_, closed, friends_only, friend, blocker, blocked = await people(
        db, "everyone", "nobody", "friends", "friends", "everyone", "everyone"
    )
    await db.execute(
        "INSERT INTO follows (follower_id, following_id) VALUES ($1, $2), ($2, $1), ($1, $3)",
        me,
        friend,
        friends_only,
    )
    await db.execute(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2), ($2, $3)",
        blocker,
        me,
        blocked,
    )
    designs = [
        await db.fetchval("INSERT INTO hug_designs (name) VALUES ('Rainbow') RETURNING id")
        for _ in range(2)
    ]
    mine, theirs = designs
    await db.execute(
        "INSERT INTO user_hug_inventory (user_id, hug_design_id) VALUES ($1, $2), ($3, $4)",
        me,
        mine,
        other,
        theirs,
    )
    # A hug sent before the batch; its recipient has since closed up. A retry still gets it.
    earlier, _ = await svc.hug_sender.send(me, hug(retired, client_id="earlier", message="first"))
    await db.execute(
        "UPDATE privacy_settings SET allow_hugs_from = 'nobody' WHERE user_id = $1", retired
    )

    sends = [
        hug(open_, client_id="plain"),
        hug(closed),
        hug(friends_only),
        hug(friend, client_id="friendly"),
        hug(blocker),
        hug(blocked),
        hug(uuid.uuid4()),
        hug(me),
        hug(open_, design_id=uuid.uuid4()),
        hug(open_, design_id=theirs),
        hug(open_, client_id="designed", design_id=mine, type="bear"),
        hug(retired, client_id="earlier", message="retried"),
        hug(open_, client_id="twin", message="one"),
        hug(friend, client_id="twin", message="two"),
        hug(closed, client_id="second chance"),
        hug(open_, client_id="second chance"),
    ]
    answers = await one_batch(svc, db, [(me, data) for data in sends])

    (
        plain,
        to_closed,
        to_friends_only,
        friendly,
        to_blocker,
        to_blocked,
        to_nobody,
        to_me,
        unknown_design,
        their_design,
        designed,
        retried,
        twin,
        twin_again,
        refused_first,
        second_chance,
    ) = answers
    for created in (plain, friendly, designed, twin, second_chance):
        assert isinstance(created, tuple) and created[1] is True, created
    assert (plain[0].recipient_id, friendly[0].recipient_id) == (open_, friend)
    assert (designed[0].design_id, designed[0].type) == (mine, "bear")
    assert second_chance[0].recipient_id == open_
    for denied in (to_closed, to_friends_only, refused_first):
        assert refused(denied, "forbidden", "to"), denied
        assert denied.message == FORBIDDEN_HUG
    for absent in (to_nobody, to_blocker, to_blocked):  # a block looks like absence
        assert refused(absent, "not_found", "to"), absent
        assert absent.message == "no such user"
    assert refused(to_me, "invalid", "to")
    assert refused(unknown_design, "not_found", "design_id")
    assert refused(their_design, "forbidden", "design_id")
    assert retried == (earlier, False)
    assert twin_again == (twin[0], False) and twin[0].message == "one"

    written = [plain, friendly, designed, twin, second_chance]
    mine_now = await db.fetch("SELECT id FROM hugs WHERE sender_id = $1", me)
    assert sorted(r["id"] for r in mine_now) == sorted([earlier.id] + [h.id for h, _ in written])
    assert [kind for _, kind, _ in await inbox_of(db, me)] == ["hug.sent"] * 6
    assert [h for _, _, h in await inbox_of(db, me)][1:] == [str(h.id) for h, _ in written]
    for nobody in (closed, friends_only, blocker, blocked):
        assert await inbox_of(db, nobody) == []
    assert [seq for seq, _, _ in await inbox_of(db, open_)] == [1, 2, 3, 4]
    assert len(await inbox_of(db, retired)) == 1
    rooms = [room for _, env, room in recorder.emitted]
    assert not {f"user:{u}" for u in (closed, friends_only, blocker, blocked)} & set(rooms)


async def test_two_sends_with_one_client_id_in_one_batch_make_one_hug(app, db) -> None:
    svc, recorder = app
    sender, recipient = await people(db, "everyone", "everyone")
    data = hug(recipient, message="hello")
    first, second = await one_batch(svc, db, [(sender, data), (sender, data)])
    assert first[1] is True and second == (first[0], False)
    assert [r["id"] for r in await hug_rows(db, [sender])] == [first[0].id]
    assert await inbox_of(db, recipient) == [(1, "hug.received", str(first[0].id))]
    assert await inbox_of(db, sender) == [(1, "hug.sent", str(first[0].id))]
    assert (
        sum(room in (f"user:{sender}", f"user:{recipient}") for *_, room in recorder.emitted) == 2
    )


async def test_two_processes_sending_one_client_id_make_one_hug(stack, app, db) -> None:
    """Both batches check before either commits; the second insert yields to the first."""
    svc, _ = app
    other = await open_services(stack.settings(), Recorder())
    try:
        sender, recipient = await people(db, "everyone", "everyone")
        data = hug(recipient)
        waiting = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        async with db.acquire() as lock, lock.transaction():
            await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", recipient)
            sends = [asyncio.create_task(c.hug_sender.send(sender, data)) for c in (svc, other)]
            async with asyncio.timeout(5):
                while True:  # one waits on the lock, the other on the first one's row
                    if await db.fetchval(waiting) == 2:
                        break
                    await asyncio.sleep(0.005)
        answers = await asyncio.gather(*sends)
    finally:
        await other.close()
    assert sorted(created for _, created in answers) == [False, True]
    assert answers[0][0].id == answers[1][0].id
    assert len(await hug_rows(db, [sender])) == 1
    assert [kind for _, kind, _ in await inbox_of(db, recipient)] == ["hug.received"]
    assert [kind for _, kind, _ in await inbox_of(db, sender)] == ["hug.sent"]


async def test_a_database_failure_mid_batch_fails_only_its_send(app, db) -> None:
    """The batch's transaction fails after its hugs were inserted (a trigger refuses one inbox
    event); nothing of it stays, and bisecting the batch isolates that send."""
    svc, recorder = app
    alice, bob, carol, recipient = await people(db, *["everyone"] * 4)
    poison = f"poison {secrets.token_hex(4)}"
    await db.execute(
        "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused by test'; END $$"
    )
    await db.execute(
        "CREATE TRIGGER refuse_event BEFORE INSERT ON inbox_events FOR EACH ROW "
        f"WHEN (NEW.payload->>'message' = '{poison}') EXECUTE FUNCTION refuse_event()"
    )
    try:
        good, bad, also_good = await one_batch(
            svc,
            db,
            [
                (alice, hug(recipient)),
                (bob, hug(recipient, message=poison)),
                (carol, hug(recipient)),
            ],
        )
    finally:
        await db.execute("DROP TRIGGER refuse_event ON inbox_events")
        await db.execute("DROP FUNCTION refuse_event()")
    assert isinstance(bad, asyncpg.RaiseError) and "refused by test" in str(bad)
    assert good[1] is True and also_good[1] is True
    rows = await hug_rows(db, [recipient])
    assert sorted(r["id"] for r in rows) == sorted([good[0].id, also_good[0].id])
    assert [(s, k) for s, k, _ in await inbox_of(db, recipient)] == [
        (1, "hug.received"),
        (2, "hug.received"),
    ]
    assert await inbox_of(db, bob) == []
    assert f"user:{bob}" not in {room for *_, room in recorder.emitted}


async def test_closing_the_services_commits_every_queued_send(stack, db) -> None:
    svc = await open_services(stack.settings(RATE_HUG_SEND="100000/60"), Recorder())
    opener, gate, *team = await people(db, *["everyone"] * 6)
    plan = [(team[i % 4], team[(i + 1) % 4]) for i in range(40)]
    async with db.acquire() as lock, lock.transaction():
        await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", gate)
        first = asyncio.create_task(svc.hug_sender.send(opener, hug(gate)))
        await until(lambda: svc.hug_sender.commits.batches == 1)
        tasks = [asyncio.create_task(svc.hug_sender.send(s, hug(r))) for s, r in plan]
        await until(lambda: svc.hug_sender.commits.queued == len(plan))
        closing = asyncio.create_task(svc.close())
        await until(lambda: svc.hug_sender.commits.closing)
    await closing
    assert (await first)[1] is True
    answers = await asyncio.gather(*tasks)
    assert all(created for _, created in answers)
    rows = await hug_rows(db, team)
    assert sorted(r["id"] for r in rows) == sorted(h.id for h, _ in answers)
    with pytest.raises(AppError):  # a send after close is refused, never left waiting
        await svc.hug_sender.commits.submit((team[0], hug(team[1])))
